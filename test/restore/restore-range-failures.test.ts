/**
 * A failed Restore Ranges reports the range's real error. Step Functions fails a Distributed Map
 * with States.ExceedToleratedFailureThreshold, never a child's error; so Restore Range records its
 * error in the work bucket and rethrows it, and Fail Restore gives the job that error as its reason.
 */
import { describe, expect, it } from 'vitest';
import { AccessDeniedError, ThrottledError } from '../../lambdas/core/errors.ts';
import type { StepLog } from '../../lambdas/core/ports.ts';
import {
  failVolumeRestore,
  restoreRangeFailureKey,
  restoreRangeRecordKey,
  restoreRangeStep,
  type RestoreRangeDeps,
} from '../../lambdas/core/restore/volume-restore-steps.ts';
import type {
  VolumeRestoreJob,
  VolumeRestoreJobStore,
  VolumeRestoreStatus,
} from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { putJsonOnce } from '../../lambdas/core/backup/work-area.ts';
import { FixedClock } from '../fakes/memory-api-ports.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';

const RESTORE = 'rs-42';
const job = {
  restoreId: RESTORE,
  snapshotId: 'snap-00000000000000042',
  snapshotStartedAt: '2026-12-04T20:00:00.000Z',
  writeRequestsPerSecond: 100,
};
const range = (index: number) => ({ index, firstSegment: index * 4, segmentCount: 4, work: 'ab'.repeat(32) });
const MAP_RUN_FAILED = {
  Error: 'States.ExceedToleratedFailureThreshold',
  Cause: 'The specified tolerated failure threshold was exceeded',
};

/** A job store with one running job; `updated` is the job Fail Restore wrote. */
function jobsWith(getError?: Error): {
  jobs: VolumeRestoreJobStore;
  updated: () => VolumeRestoreJob | undefined;
} {
  let updated: VolumeRestoreJob | undefined;
  const running = { restoreId: RESTORE, status: 'running' } as unknown as VolumeRestoreJob;
  return {
    jobs: {
      create: () => Promise.resolve(),
      get: () => (getError === undefined ? Promise.resolve(running) : Promise.reject(getError)),
      update: (next: VolumeRestoreJob, _from: readonly VolumeRestoreStatus[]) => {
        updated = next;
        return Promise.resolve();
      },
    },
    updated: () => updated,
  };
}

/** Restore Range deps whose job lookup fails with `error` (the first thing an attempt does). */
function failingDeps(work: MemoryObjectStore, error: Error, log?: StepLog): RestoreRangeDeps {
  return {
    jobs: jobsWith(error).jobs,
    work,
    writePacer: { acquire: () => Promise.resolve() },
    ...(log === undefined ? {} : { log }),
  } as unknown as RestoreRangeDeps;
}

async function failedAttempt(deps: RestoreRangeDeps, index: number): Promise<unknown> {
  return restoreRangeStep(deps, { range: range(index), job }).then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('Restore Range records why it failed', () => {
  it('writes the range record (the last attempt replacing the earlier) and rethrows the same error', async () => {
    const work = new MemoryObjectStore();
    const throttled = new ThrottledError('PutSnapshotBlock throttled');
    expect(await failedAttempt(failingDeps(work, throttled), 3)).toBe(throttled);
    const denied = new AccessDeniedError('PutSnapshotBlock failed: AccessDeniedException: no');
    expect(await failedAttempt(failingDeps(work, denied), 3)).toBe(denied);
    expect(work.keys(`volume-restores/${RESTORE}/`)).toEqual([restoreRangeFailureKey(RESTORE, 3)]);
    expect(JSON.parse(new TextDecoder().decode(await work.get(restoreRangeFailureKey(RESTORE, 3))))).toEqual({
      index: 3,
      errorName: 'AccessDeniedError',
      message: 'PutSnapshotBlock failed: AccessDeniedException: no',
      permanent: true,
    });
  });

  it('a record that cannot be written is logged; the original error is still thrown', async () => {
    const work = new MemoryObjectStore();
    const noReplace = {
      get: work.get.bind(work),
      list: work.list.bind(work),
      putIfAbsent: work.putIfAbsent.bind(work),
    };
    const warnings: [string, unknown][] = [];
    const original = new ThrottledError('slow down');
    const deps = failingDeps(noReplace as unknown as MemoryObjectStore, original, {
      info: () => undefined,
      warn: (message, fields) => warnings.push([message, fields]),
    });
    expect(await failedAttempt(deps, 0)).toBe(original);
    expect(warnings).toEqual([
      [
        'restore range failure not recorded',
        {
          index: 0,
          errorName: 'ThrottledError',
          recordError: 'the work store cannot overwrite a failure record',
        },
      ],
    ]);
  });
});

describe('Fail Restore after a failed Map Run', () => {
  it("gives the job the ranges' error: a permanent one first, finished ranges ignored", async () => {
    const work = new MemoryObjectStore();
    await failedAttempt(failingDeps(work, new ThrottledError('PutSnapshotBlock throttled')), 1);
    await failedAttempt(failingDeps(work, new AccessDeniedError('kms:Decrypt refused')), 2);
    await failedAttempt(failingDeps(work, new AccessDeniedError('finished later')), 0);
    // Range 0 finished on a later attempt: its record exists.
    await putJsonOnce(work, restoreRangeRecordKey(RESTORE, 0), { done: true });
    const { jobs, updated } = jobsWith();
    const out = await failVolumeRestore(
      { jobs, clock: new FixedClock(new Date('2026-12-04T21:00:00.000Z')), work },
      RESTORE,
      MAP_RUN_FAILED,
    );
    const reason = 'range 2 of restore rs-42: AccessDeniedError: kms:Decrypt refused (2 ranges failed)';
    expect(out).toEqual({ restoreId: RESTORE, status: 'failed', reason });
    expect(updated()?.failure).toEqual({ reason, errorName: 'AccessDeniedError' });
  });

  it('only retryable records: the first range error', async () => {
    const work = new MemoryObjectStore();
    await failedAttempt(failingDeps(work, new ThrottledError('PutSnapshotBlock throttled')), 4);
    const { jobs, updated } = jobsWith();
    await failVolumeRestore(
      { jobs, clock: new FixedClock(new Date('2026-12-04T21:00:00.000Z')), work },
      RESTORE,
      MAP_RUN_FAILED,
    );
    expect(updated()?.failure).toEqual({
      reason: 'range 4 of restore rs-42: ThrottledError: PutSnapshotBlock throttled (1 ranges failed)',
      errorName: 'ThrottledError',
    });
  });

  it('no record: the Map Run error as before', async () => {
    const { jobs, updated } = jobsWith();
    await failVolumeRestore(
      { jobs, clock: new FixedClock(new Date('2026-12-04T21:00:00.000Z')), work: new MemoryObjectStore() },
      RESTORE,
      MAP_RUN_FAILED,
    );
    expect(updated()?.failure).toEqual({
      reason:
        'States.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded',
      errorName: 'States.ExceedToleratedFailureThreshold',
    });
  });
});
