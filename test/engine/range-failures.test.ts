/**
 * A range copy's real error reaches the operator (core/backup/range-failures.ts). Step Functions
 * fails a Distributed Map with States.ExceedToleratedFailureThreshold, never with a child's error;
 * so Copy Range records its error in the work bucket and rethrows it unchanged, and Explain Copy
 * Failure throws the recorded error again: a permanent one under its own name (Clean Up), any
 * other as RangeCopyFailedError (the run is suspended, saying why).
 */
import { describe, expect, it } from 'vitest';
import { copyRangeStep } from '../../lambdas/core/backup/backup-steps.ts';
import {
  explainCopyFailure,
  rangeFailureOf,
  workAreaRangeFailures,
  type RangeFailure,
  type RangeFailureRecorder,
} from '../../lambdas/core/backup/range-failures.ts';
import type { RangeSummary } from '../../lambdas/core/backup/range-worker.ts';
import { putJsonOnce, rangeFailureKey, rangeSummaryKey } from '../../lambdas/core/backup/work-area.ts';
import {
  AccessDeniedError,
  CorruptObjectError,
  PermanentError,
  RetryableError,
  ThrottledError,
  ValidationError,
} from '../../lambdas/core/errors.ts';
import { EMPTY_IMAGE_STATS } from '../../lambdas/core/image/image-types.ts';
import { RangeCopyFailedError } from '../../lambdas/core/orchestration/orchestration-errors.ts';
import type { BackupPlan, ExplainCopyFailureInput } from '../../lambdas/core/orchestration/step-state.ts';
import { explainCopyFailureInputSchema } from '../../lambdas/core/orchestration/step-state.ts';
import type { StepLog } from '../../lambdas/core/ports.ts';
import { silentLog } from '../../lambdas/core/ports.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';

const BACKUP = 'bk-7';
const VOLUME = 'vol-0c';
const range = {
  volumeId: VOLUME,
  imageId: 'img-bk-7-vol-0c',
  snapshotId: 'snap-0c',
  firstBlock: 2048,
  endBlock: 4096,
};
const job = { backupId: BACKUP, readRequestsPerSecond: 10 };
const plan: BackupPlan = {
  volumeId: VOLUME,
  imageId: 'img-bk-7-vol-0c',
  snapshotId: 'snap-0c',
  kind: 'full',
  createdAt: '2026-12-04T20:00:00.000Z',
  workItems: { bucket: 'work-bucket', key: `work/${BACKUP}/${VOLUME}/items.json` },
  rangeCount: 3,
  maxConcurrency: 2,
  job,
};
const MAP_RUN_FAILED = {
  Error: 'States.ExceedToleratedFailureThreshold',
  Cause: 'The specified tolerated failure threshold was exceeded',
};
const input: ExplainCopyFailureInput = { action: 'explain-failure', plan, error: MAP_RUN_FAILED };
const summary = (firstBlock: number, endBlock: number): RangeSummary => ({
  firstBlock,
  endBlock,
  mode: 'full',
  volumeSizeBytes: 3 * 2048 * 512 * 1024,
  firstSegment: firstBlock / 2048,
  segments: ['ab'.repeat(32)],
  stats: { ...EMPTY_IMAGE_STATS },
  requests: { list: 1, read: 0, retries: 0, integrityFailures: 0 },
});

async function recordAll(work: MemoryObjectStore, failures: RangeFailure[]): Promise<void> {
  for (const failure of failures) await workAreaRangeFailures(work).record(BACKUP, VOLUME, failure);
}

async function explained(work: MemoryObjectStore): Promise<Error> {
  const error = await explainCopyFailure(work, input).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('explainCopyFailure did not throw');
  return error;
}

describe('Copy Range records why it failed', () => {
  it('writes the failure record of the range and rethrows the original error, the same object', async () => {
    const work = new MemoryObjectStore();
    const denied = new AccessDeniedError('GetSnapshotBlock failed: AccessDeniedException: no');
    const recorded: [string, string, RangeFailure][] = [];
    const failures: RangeFailureRecorder = {
      record: (backupId, volumeId, failure) => {
        recorded.push([backupId, volumeId, failure]);
        return Promise.resolve();
      },
    };
    const thrown = await copyRangeStep(
      {
        work,
        failures,
        worker: () => {
          throw denied;
        },
      },
      { range, job },
      silentLog,
    ).catch((e: unknown) => e);
    expect(thrown).toBe(denied);
    expect(recorded).toEqual([
      [
        BACKUP,
        VOLUME,
        {
          firstBlock: 2048,
          endBlock: 4096,
          errorName: 'AccessDeniedError',
          message: 'GetSnapshotBlock failed: AccessDeniedException: no',
          permanent: true,
        },
      ],
    ]);
  });

  it('each attempt replaces the range record in the work bucket: the last error counts', async () => {
    const work = new MemoryObjectStore();
    const failures = workAreaRangeFailures(work);
    for (const error of [new ThrottledError('slow down'), new ValidationError('bad block')]) {
      await copyRangeStep(
        {
          work,
          failures,
          worker: () => {
            throw error;
          },
        },
        { range, job },
        silentLog,
      ).catch(() => undefined);
    }
    expect(work.keys(`work/${BACKUP}/`)).toEqual([
      `work/${BACKUP}/${VOLUME}/range-failures/000000002048.json`,
    ]);
    const stored: unknown = JSON.parse(
      new TextDecoder().decode(await work.get(rangeFailureKey(BACKUP, VOLUME, 2048))),
    );
    expect(stored).toEqual({
      firstBlock: 2048,
      endBlock: 4096,
      errorName: 'ValidationError',
      message: 'bad block',
      permanent: true,
    });
  });

  it('a recorder that fails is logged, and the original error is still thrown', async () => {
    const work = new MemoryObjectStore();
    const original = new RetryableError('GetSnapshotBlock failed: InternalServerException');
    const warnings: [string, unknown][] = [];
    const log: StepLog = {
      info: () => undefined,
      warn: (message, fields) => warnings.push([message, fields]),
    };
    const thrown = await copyRangeStep(
      {
        work,
        failures: { record: () => Promise.reject(new AccessDeniedError('PutObject failed: AccessDenied')) },
        worker: () => {
          throw original;
        },
      },
      { range, job },
      log,
    ).catch((e: unknown) => e);
    expect(thrown).toBe(original);
    expect(warnings).toEqual([
      [
        'range failure not recorded',
        { firstBlock: 2048, errorName: 'RetryableError', recordError: 'PutObject failed: AccessDenied' },
      ],
    ]);
  });

  it('a crash is recorded as not permanent (a fixed deployment may resume it)', () => {
    expect(rangeFailureOf(range, new TypeError('x is undefined'))).toEqual({
      firstBlock: 2048,
      endBlock: 4096,
      errorName: 'TypeError',
      message: 'x is undefined',
      permanent: false,
    });
    expect(rangeFailureOf(range, 'a string').errorName).toBe('Error');
  });
});

describe('Explain Copy Failure', () => {
  const throttled: RangeFailure = {
    firstBlock: 0,
    endBlock: 2048,
    errorName: 'ThrottledError',
    message: 'GetSnapshotBlock throttled',
    permanent: false,
  };
  const denied: RangeFailure = {
    firstBlock: 4096,
    endBlock: 5000,
    errorName: 'AccessDeniedError',
    message: 'AccessDenied on kms:GenerateDataKey',
    permanent: true,
  };

  it('a permanent record wins over a retryable one: thrown under its own class, naming the range', async () => {
    const work = new MemoryObjectStore();
    await recordAll(work, [throttled, denied]);
    const error = await explained(work);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error.name).toBe('AccessDeniedError');
    expect(error.message).toBe(
      'range 4096-5000 of vol-0c: AccessDenied on kms:GenerateDataKey (2 of 3 ranges failed)',
    );
  });

  it('only retryable records: RangeCopyFailedError with the first range message', async () => {
    const work = new MemoryObjectStore();
    await recordAll(work, [throttled, { ...throttled, firstBlock: 2048, endBlock: 4096, message: 'later' }]);
    const error = await explained(work);
    expect(error).toBeInstanceOf(RangeCopyFailedError);
    expect(error.name).toBe('RangeCopyFailedError');
    expect(error.message).toBe(
      'range 0-2048 of vol-0c: ThrottledError: GetSnapshotBlock throttled (2 of 3 ranges failed)',
    );
  });

  it('ignores ranges whose summary exists: they succeeded on a later attempt', async () => {
    const work = new MemoryObjectStore();
    await recordAll(work, [throttled, denied]);
    await putJsonOnce(work, rangeSummaryKey(BACKUP, VOLUME, 4096), summary(4096, 5000));
    const error = await explained(work);
    expect(error).toBeInstanceOf(RangeCopyFailedError);
    expect(error.message).toBe(
      'range 0-2048 of vol-0c: ThrottledError: GetSnapshotBlock throttled (1 of 3 ranges failed)',
    );
  });

  it('a permanent error of a class Back Up Volumes does not name is thrown as PermanentError, its name in the message', async () => {
    const work = new MemoryObjectStore();
    await recordAll(work, [
      { ...denied, errorName: new CorruptObjectError('x').name, message: 'chunk ab… corrupt at rest' },
    ]);
    const error = await explained(work);
    expect(error.constructor).toBe(PermanentError);
    expect(error.name).toBe('PermanentError');
    expect(error.message).toBe(
      'range 4096-5000 of vol-0c: CorruptObjectError: chunk ab… corrupt at rest (1 of 3 ranges failed)',
    );
  });

  it('no record (a timeout or crash): RangeCopyFailedError naming the failed Map Run', async () => {
    const work = new MemoryObjectStore();
    // Every failure record belongs to a range that was copied after all.
    await recordAll(work, [throttled]);
    await putJsonOnce(work, rangeSummaryKey(BACKUP, VOLUME, 0), summary(0, 2048));
    const error = await explained(work);
    expect(error).toBeInstanceOf(RangeCopyFailedError);
    expect(error.message).toBe(
      'the copy of vol-0c failed without a recorded range error (a Copy Range timed out or crashed): ' +
        'States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded',
    );
  });

  it("reads only this backup's and this volume's records", async () => {
    const work = new MemoryObjectStore();
    await workAreaRangeFailures(work).record('bk-other', VOLUME, denied);
    await workAreaRangeFailures(work).record(BACKUP, 'vol-other', denied);
    const error = await explained(work);
    expect(error.message).toMatch(/^the copy of vol-0c failed without a recorded range error/);
  });

  it('its input is the schema the ASL fills (action, plan, the caught error)', () => {
    expect(explainCopyFailureInputSchema.parse(input)).toEqual(input);
    expect(explainCopyFailureInputSchema.safeParse({ ...input, action: 'copy' }).success).toBe(false);
  });
});
