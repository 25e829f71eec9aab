/**
 * What the restore handover tests share: the restore bucket in memory with multipart uploads as S3
 * keeps them, and a run of a job invocation after invocation on a manual clock, each invocation
 * with time for a fixed number of parts before its deadline comes within the handover margin.
 */
import { expect } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import {
  RESTORE_HANDOVER_MARGIN_MS,
  runRestoreJob,
  type RestoreDeps,
  type RestoreJob,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { ResumableUploads } from '../../lambdas/core/file-restore/restore-ports.ts';
import type { ManualClock } from '../support/manual-clock.ts';
import { MemoryRestoreObjects } from './memory-restore.ts';

/** The in-memory restore bucket with multipart uploads as S3 keeps them (parts by number, replaced when written again). */
export class MultipartMemoryObjects extends MemoryRestoreObjects {
  /** Every part written, as `<upload>:<part number>`, in order. */
  readonly partLog: string[] = [];
  readonly parts: ResumableUploads;
  private readonly uploads = new Map<string, { key: string; parts: Map<number, Buffer> }>();

  /** `onPart` runs before each part is stored; parts but the last have at least `partBytes`. */
  constructor(onPart: () => void, partBytes: number) {
    super();
    this.parts = {
      partBytes,
      start: (key) => {
        const uploadId = `upload-${this.uploads.size + 1}`;
        this.uploads.set(uploadId, { key, parts: new Map() });
        return Promise.resolve(uploadId);
      },
      putPart: (key, uploadId, partNumber, body) => {
        onPart();
        this.partLog.push(`${uploadId}:${partNumber}`);
        this.open(key, uploadId).parts.set(partNumber, Buffer.from(body));
        return Promise.resolve();
      },
      complete: (key, uploadId) => {
        const numbers = [...this.open(key, uploadId).parts.keys()].sort((a, b) => a - b);
        const bodies = numbers.map((n) => this.uploads.get(uploadId)!.parts.get(n)!);
        // S3 refuses parts below its minimum except the last.
        expect(bodies.slice(0, -1).every((b) => b.length >= partBytes)).toBe(true);
        expect(numbers).toEqual(numbers.map((_, i) => i + 1));
        this.objects.set(key, { body: Buffer.concat(bodies), contentType: 'multipart' });
        this.uploads.delete(uploadId);
        return Promise.resolve();
      },
      objectBytes: (key) => Promise.resolve(this.objects.get(key)?.body.length),
    };
  }

  private open(key: string, uploadId: string) {
    const upload = this.uploads.get(uploadId);
    // S3 answers NoSuchUpload (404) for an upload that was completed or aborted.
    if (upload?.key !== key) throw new NotFoundError(`no open upload ${uploadId} of ${key}`);
    return upload;
  }
}

/** Invocations of a restore on a manual clock, each with time for `partsPerInvocation` parts of `partMs`. */
export class Invocations {
  constructor(
    private readonly clock: ManualClock,
    private readonly partsPerInvocation: number,
    private readonly partMs: number,
  ) {}

  /** The deadline of an invocation that has time for partsPerInvocation parts before it hands over. */
  deadline(): number {
    return (
      this.clock.now().getTime() + RESTORE_HANDOVER_MARGIN_MS + this.partsPerInvocation * this.partMs - 1
    );
  }

  /**
   * Runs the job invocation after invocation until it ends; the job as each invocation left it.
   * `before` sees the job as each invocation finds it.
   */
  async runToEnd(
    deps: RestoreDeps,
    restoreId: string,
    before?: (job: RestoreJob) => void,
  ): Promise<RestoreJob[]> {
    const after: RestoreJob[] = [];
    for (let invocation = 0; invocation < 1_000; invocation += 1) {
      before?.(await deps.jobs.get(restoreId));
      const job = await runRestoreJob(deps, restoreId, this.deadline());
      after.push(job);
      if (job.status !== 'running') return after;
    }
    throw new Error('the restore never finished');
  }
}
