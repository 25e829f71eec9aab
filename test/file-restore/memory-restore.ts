/** In-memory fakes of the restore ports: an object store that keeps what was uploaded, a job store. */
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import type {
  RestoreDeps,
  RestoreJob,
  RestoreJobStatus,
  RestoreJobStore,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import {
  RESTORE_URL_MAX_SECONDS,
  type RestoreObjectStore,
  type UploadOptions,
} from '../../lambdas/core/file-restore/restore-ports.ts';

export class MemoryRestoreObjects implements RestoreObjectStore {
  readonly objects = new Map<string, { body: Buffer; contentType: string }>();
  /** Largest piece handed to upload (what a streaming upload has to hold at once). */
  largestPiece = 0;

  async upload(
    key: string,
    body: AsyncIterable<Uint8Array>,
    options: UploadOptions,
  ): Promise<{ bytes: number }> {
    const pieces: Buffer[] = [];
    for await (const piece of body) {
      this.largestPiece = Math.max(this.largestPiece, piece.length);
      pieces.push(Buffer.from(piece));
    }
    const data = Buffer.concat(pieces);
    this.objects.set(key, { body: data, contentType: options.contentType });
    return { bytes: data.length };
  }

  presignDownload(key: string, expiresInSeconds: number, fileName: string): Promise<string> {
    if (expiresInSeconds > RESTORE_URL_MAX_SECONDS || expiresInSeconds < 1) {
      return Promise.reject(
        new ValidationError(`presigned URLs expire within ${RESTORE_URL_MAX_SECONDS} seconds`),
      );
    }
    return Promise.resolve(
      `memory://${key}?expires=${expiresInSeconds}&name=${encodeURIComponent(fileName)}`,
    );
  }
}

export class MemoryRestoreJobs implements RestoreJobStore {
  readonly jobs = new Map<string, RestoreJob>();
  readonly transitions: string[] = [];

  create(job: RestoreJob): Promise<void> {
    if (this.jobs.has(job.restoreId))
      return Promise.reject(new ConflictError(`restore ${job.restoreId} already exists`));
    this.jobs.set(job.restoreId, structuredClone(job));
    return Promise.resolve();
  }

  get(restoreId: string): Promise<RestoreJob> {
    const job = this.jobs.get(restoreId);
    return job === undefined
      ? Promise.reject(new NotFoundError(`no restore ${restoreId}`))
      : Promise.resolve(structuredClone(job));
  }

  update(job: RestoreJob, from: readonly RestoreJobStatus[]): Promise<void> {
    const current = this.jobs.get(job.restoreId);
    if (current === undefined || !from.includes(current.status)) {
      return Promise.reject(new ConflictError(`restore ${job.restoreId} is not ${from.join(' or ')}`));
    }
    this.transitions.push(`${current.status}->${job.status}`);
    this.jobs.set(job.restoreId, structuredClone(job));
    return Promise.resolve();
  }
}

/** The restore ports in memory over `catalog`, every image read through `reader`, at 2026-02-01T10:00Z. */
export function memoryRestoreDeps(
  catalog: CatalogStore,
  reader: ByteRangeReader,
): RestoreDeps & { readonly jobs: MemoryRestoreJobs; readonly objects: MemoryRestoreObjects } {
  return {
    jobs: new MemoryRestoreJobs(),
    objects: new MemoryRestoreObjects(),
    catalog,
    openImage: () => Promise.resolve(reader),
    clock: { now: () => new Date('2026-02-01T10:00:00.000Z') },
  };
}
