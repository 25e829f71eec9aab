import { describe, expect, it } from 'vitest';
import {
  FakeWorld,
  FIRST_RUN_ENTERED_AT,
  happyEngine,
  runBackup,
  SKIPPED_RUN_STATES,
  SteppingClock,
  type RunOutcome,
  type EngineDoubles,
  type SnapshotScript,
} from './asl-harness.ts';
import { CollectionInProgressError } from '../../lambdas/core/errors.ts';
import { resumeBackup } from '../../lambdas/core/api/backup-resume.ts';
import {
  COLLECTION_WAIT_ATTEMPTS,
  COLLECTION_WAIT_INTERVAL_SECONDS,
} from '../../lambdas/core/lifecycle/commit-gate.ts';

/** A rejected promise with an error named as the handler's error would be (the ASL's Retry/Catch match the name). */
function rejectNamed(name: string, message: string): Promise<never> {
  return Promise.reject(Object.assign(new Error(message), { name }));
}

type EngineStep = 'plan' | 'copyRange' | 'commit' | 'catalog';

interface NamedFailure {
  readonly name: string;
  readonly message: string;
}

/** S3 throttling that outlasted every retry of the copy. */
const SLOW_DOWN: NamedFailure = { name: 'ThrottledError', message: 'S3 503 Slow Down after every retry' };

/** The engine with one step failing every time, its error named `name`. */
function failingStep(engine: EngineDoubles, step: EngineStep, failure: NamedFailure): EngineDoubles {
  return { ...engine, [step]: () => rejectNamed(failure.name, failure.message) };
}

/** The engine with one step failing as `failingStep` does until `end()`, then answering as usual. */
function outageOf(
  engine: EngineDoubles,
  step: EngineStep,
  failure: NamedFailure,
): { readonly engine: EngineDoubles; end(): void } {
  let outage = true;
  return {
    engine: {
      ...engine,
      [step]: (payload: Record<string, unknown>) =>
        outage ? rejectNamed(failure.name, failure.message) : engine[step](payload),
    },
    end: () => {
      outage = false;
    },
  };
}

/** The run's last Await Redrive and its input, where a redrive starts. */
function lastAwaitRedrive(outcome: RunOutcome): RunOutcome['stateInputs'][number] | undefined {
  return outcome.stateInputs.filter((s) => s.name === 'Await Redrive').at(-1);
}

/** The first states a redrive that resumes at Back Up Volumes enters. */
const RESUMED_AT_BACK_UP_VOLUMES = ['Await Redrive', 'Reclaim Snapshots', 'Resume Where?', 'Back Up Volumes'];

/** Redrives the failed run bk-1 from its last Await Redrive (at `enteredAt` when given). */
function redrive(
  w: FakeWorld,
  engine: EngineDoubles,
  failed: RunOutcome,
  enteredAt?: string,
): Promise<RunOutcome> {
  return runBackup(w, engine, input, 'bk-1', {
    fromState: 'Await Redrive',
    input: lastAwaitRedrive(failed)!.input,
    ...(enteredAt === undefined ? {} : { enteredAt }),
  });
}

const START = Date.parse('2026-01-01T00:00:00.000Z');
const VOLUME = 'vol-0a1b2c3d4e5f60718';
const quickSnapshots: SnapshotScript = {
  completeAfterChecks: 1,
  failingCreations: [],
  limitExceededCalls: 0,
};
const input = {
  volumeIds: [VOLUME],
  syncWait: { intervalSeconds: 5, timeoutSeconds: 600 },
  snapshotWait: { intervalSeconds: 5, timeoutSeconds: 3600 },
};

function world(syncAfterProbes: number | 'never', snapshots: SnapshotScript = quickSnapshots): FakeWorld {
  const w = new FakeWorld(new SteppingClock(START), { syncAfterProbes }, snapshots);
  w.addReplica(VOLUME);
  return w;
}

describe('backup state machine: paths (aws-local-stepfunctions, real orchestration handlers)', () => {
  it('happy path: lock, checkpoint, wait for sync, snapshot, wait, plan, copy, commit, rotate, release, publish', async () => {
    const w = world(2);
    w.addSnapshot({
      snapshotId: 'snap-old-base',
      volumeId: VOLUME,
      state: 'completed',
      startTime: '2025-12-31T00:00:00.000Z',
      tags: { 'rbp:managed': 'true', 'rbp:volume-id': VOLUME, 'rbp:role': 'base', 'rbp:backup-id': 'bk-0' },
    });
    const engineLog: string[] = [];
    const outcome = await runBackup(w, happyEngine(engineLog), input);
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.statesEntered).toEqual([
      'Acquire Lock',
      'Lock Taken?',
      'Start Run',
      'Request Checkpoint',
      'Probe Replica',
      'Replica In Sync?',
      'Wait For Replica',
      'Probe Replica',
      'Replica In Sync?',
      'Wait For Replica',
      'Probe Replica',
      'Replica In Sync?',
      'Create Snapshots',
      'Release Checkpoint',
      'Check Snapshots',
      'Snapshots Completed?',
      'Wait For Snapshots',
      'Check Snapshots',
      'Snapshots Completed?',
      'Back Up Volumes',
      'Plan Backup',
      'Image Committed?',
      'Copy Ranges',
      'Copy Range',
      'Copy Range',
      'Renew Lock',
      'Commit Image',
      'Build Catalog',
      'All Images Committed',
      'Commit Recovery Point',
      'Rotate Base Snapshots',
      'Release Lock',
      'Publish Success',
      'Backup Succeeded',
    ]);
    expect(engineLog.sort()).toEqual([
      'catalog img-1',
      'commit img-1',
      'copy 0',
      'copy 2048',
      'plan snap-0001',
    ]);
    expect(w.events.map((e) => e.detailType)).toEqual([
      'Checkpoint Requested',
      'Checkpoint Released',
      'Backup Succeeded',
    ]);
    expect(w.events[0]!.detail).toMatchObject({
      checkpointId: 'bk-1-r1',
      volumeIds: [VOLUME],
      serverId: VOLUME,
    });
    expect(w.events[1]!.detail).toMatchObject({ checkpointId: 'bk-1-r1', snapshotIds: ['snap-0001'] });
    expect(w.events[2]!.detail).toMatchObject({ status: 'SUCCEEDED', backupId: 'bk-1', imageIds: ['img-1'] });
    expect(w.locks.locks.size).toBe(0);
    expect([...w.snapshots.keys()]).toEqual(['snap-0001']);
    expect(w.snapshots.get('snap-0001')!.tags['rbp:role']).toBe('base');
    expect(w.calls).toEqual([`CreateSnapshot ${VOLUME}`, 'DeleteSnapshot snap-old-base']);
    expect(w.notifications.map((n) => n.subject)).toEqual([`rbp: backup succeeded for ${VOLUME}`]);
    expect(w.notifications[0]!.message.split('\n').at(-1)).toBe('Images: img-1.');
  });

  it('replica never reaches the checkpoint: times out, releases the lock, takes no snapshot, fails as ReplicaNotInSync', async () => {
    const w = world('never');
    const outcome = await runBackup(w, happyEngine([]), {
      ...input,
      syncWait: { intervalSeconds: 5, timeoutSeconds: 60 },
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('ReplicaNotInSync');
    expect(outcome.cause).toBe(
      'replica not in sync at checkpoint bk-1-r1 by 2026-01-01T00:01:45.000Z: vol-0a1b2c3d4e5f60718: replica reports checkpoint (none), waiting for bk-1-r1',
    );
    expect(outcome.statesEntered.slice(-5)).toEqual([
      'Clean Up',
      'Publish Failure',
      'Suspended?',
      'Which Failure?',
      'Replica Not In Sync',
    ]);
    expect(outcome.statesEntered.filter((s) => s === 'Probe Replica').length).toBe(4);
    expect(outcome.statesEntered).not.toContain('Create Snapshots');
    expect(w.locks.locks.size).toBe(0);
    expect(w.snapshots.size).toBe(0);
    expect(w.events.map((e) => e.detailType)).toEqual(['Checkpoint Requested', 'Backup Failed']);
    expect(w.events[1]!.detail).toMatchObject({
      status: 'FAILED',
      error: 'ReplicaSyncTimeoutError',
      imageIds: [],
    });
  });

  it('a second backup of a locked volume is refused with the holder named, and the holder keeps its lock', async () => {
    const w = world(0);
    await w.locks.acquire([
      {
        volumeId: VOLUME,
        ownerId: 'arn:other',
        backupId: 'bk-other',
        acquiredAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-02T00:00:00.000Z',
      },
    ]);
    const outcome = await runBackup(w, happyEngine([]), input, 'bk-2');
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'BackupAlreadyRunning',
      cause: `volume ${VOLUME} is being backed up by bk-other (lock held until 2026-01-02T00:00:00.000Z); backup bk-2 was not started`,
    });
    expect(outcome.statesEntered).toEqual([
      'Acquire Lock',
      'Clean Up',
      'Publish Failure',
      'Suspended?',
      'Which Failure?',
      'Backup Already Running',
    ]);
    expect(w.locks.locks.get(VOLUME)?.ownerId).toBe('arn:other');
    expect(w.events).toEqual([
      {
        detailType: 'Backup Failed',
        detail: expect.objectContaining({
          backupId: 'bk-2',
          serverId: VOLUME,
          volumeIds: [VOLUME],
          error: 'BackupAlreadyRunningError',
        }) as unknown,
      },
    ]);
  });

  it('a scheduled run that finds the previous backup still running is skipped: execution succeeds, Backup Skipped, no SNS', async () => {
    const w = world(0);
    const holder = 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-0200';
    await w.locks.acquire([
      {
        volumeId: VOLUME,
        ownerId: holder,
        backupId: 'bk-0200',
        acquiredAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2099-01-01T00:00:00.000Z',
      },
    ]);
    const outcome = await runBackup(
      w,
      happyEngine([]),
      { ...input, trigger: 'schedule:srv-1/hourly' },
      'bk-0300',
    );
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.statesEntered).toEqual(SKIPPED_RUN_STATES);
    expect(w.locks.locks.get(VOLUME)?.ownerId).toBe(holder);
    expect(w.events.map((e) => e.detailType)).toEqual(['Backup Skipped']);
    expect(w.events[0]!.detail).toMatchObject({
      status: 'SKIPPED',
      backupId: 'bk-0300',
      trigger: 'schedule:srv-1/hourly',
      cause: `volume ${VOLUME} is being backed up by bk-0200 (lock held until 2099-01-01T00:00:00.000Z); backup bk-0300 was not started`,
    });
    expect(w.notifications).toEqual([]);
  });

  it('a snapshot that ends in error starts a new round with a new checkpoint and still succeeds', async () => {
    const w = world(0, { completeAfterChecks: 0, failingCreations: [1], limitExceededCalls: 0 });
    const outcome = await runBackup(w, happyEngine([]), input);
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.statesEntered).toContain('Discard Failed Round');
    expect(
      w.events.filter((e) => e.detailType === 'Checkpoint Requested').map((e) => e.detail['checkpointId']),
    ).toEqual(['bk-1-r1', 'bk-1-r2']);
    expect(w.calls).toEqual([
      `CreateSnapshot ${VOLUME}`,
      'DeleteSnapshot snap-0001',
      `CreateSnapshot ${VOLUME}`,
    ]);
    expect([...w.snapshots.keys()]).toEqual(['snap-0002']);
  });

  it('snapshots that keep failing end as SnapshotFailed after maxSnapshotRounds, with nothing left behind', async () => {
    const w = world(0, { completeAfterChecks: 0, failingCreations: [1, 2], limitExceededCalls: 0 });
    const outcome = await runBackup(w, happyEngine([]), { ...input, maxSnapshotRounds: 2 });
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'SnapshotFailed',
      cause: 'snapshots failed in round 2 of 2: snap-0002 (vol-0a1b2c3d4e5f60718): error',
    });
    expect(w.snapshots.size).toBe(0);
    expect(w.locks.locks.size).toBe(0);
  });

  it('ConcurrentSnapshotLimitExceeded is retried in place by the state machine', async () => {
    const w = world(0, { completeAfterChecks: 0, failingCreations: [], limitExceededCalls: 2 });
    const outcome = await runBackup(w, happyEngine([]), input);
    expect(outcome.status).toBe('SUCCEEDED');
    expect(w.calls.filter((c) => c.startsWith('CreateSnapshot'))).toHaveLength(3);
    expect(outcome.statesEntered.filter((s) => s === 'Create Snapshots')).toHaveLength(1);
  });

  it('a snapshot still pending at its deadline fails the run as SnapshotFailed and deletes the snapshot', async () => {
    const w = world(0, { completeAfterChecks: 1_000, failingCreations: [], limitExceededCalls: 0 });
    const outcome = await runBackup(w, happyEngine([]), {
      ...input,
      snapshotWait: { intervalSeconds: 5, timeoutSeconds: 60 },
    });
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'SnapshotFailed' });
    expect(outcome.cause).toMatch(
      /^snapshots still pending at .*: snap-0001 \(vol-0a1b2c3d4e5f60718\): pending$/,
    );
    expect(w.snapshots.size).toBe(0);
    expect(w.locks.locks.size).toBe(0);
  });

  it('a transient Lambda service error is retried; a bad request ends as BackupFailed with the validation message', async () => {
    const w = world(0);
    const engine = happyEngine([]);
    let failures = 0;
    const flaky = {
      ...engine,
      plan: (payload: Record<string, unknown>) => {
        if (failures < 2) {
          failures += 1;
          return rejectNamed('Lambda.TooManyRequestsException', 'Rate exceeded');
        }
        return engine.plan(payload);
      },
    };
    expect((await runBackup(w, flaky, input)).status).toBe('SUCCEEDED');
    expect(failures).toBe(2);

    const bad = await runBackup(world(0), engine, { volumeIds: ['disk-1'] }, 'bk-bad');
    expect(bad).toMatchObject({
      status: 'FAILED',
      error: 'BackupFailed',
      cause: 'invalid backup request: volumeIds.0: must look like vol-0123456789abcdef0',
    });
  });

  it('a copy range that keeps failing suspends the run: lock released at once, snapshot kept, failure published', async () => {
    const w = world(0);
    const engine = happyEngine([]);
    const broken = failingStep(engine, 'copyRange', SLOW_DOWN);
    const outcome = await runBackup(w, broken, input);
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'BackupSuspendedError',
      cause:
        'S3 503 Slow Down after every retry (backup bk-1 suspended: locks of vol-0a1b2c3d4e5f60718 released, ' +
        'snapshots kept; within 14 days, rbp backup resume bk-1 resumes it at Back Up Volumes)',
    });
    expect(outcome.statesEntered.slice(-6)).toEqual([
      'Copy Range',
      'Back Up Volumes Failed',
      'Suspend Run',
      'Publish Failure',
      'Suspended?',
      'Await Redrive',
    ]);
    expect(w.locks.locks.get(VOLUME)).toMatchObject({
      ownerId: `arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-1`,
      released: true,
      parkedAt: FIRST_RUN_ENTERED_AT,
    });
    expect([...w.snapshots.values()].map((s) => s.tags['rbp:role'])).toEqual(['released']);
    expect(w.events.map((e) => e.detailType)).toEqual([
      'Checkpoint Requested',
      'Checkpoint Released',
      'Backup Failed',
    ]);
    expect(w.events[2]!.detail).toMatchObject({
      status: 'FAILED',
      error: 'ThrottledError',
      cause: 'S3 503 Slow Down after every retry',
      resumeAt: 'Back Up Volumes',
    });
    expect(w.notifications[0]!.message.split('\n').at(-1)).toBe(
      'Backup bk-1 is suspended: the volumes are free for the next backup and its snapshots are kept. ' +
        'Resume it within 14 days with: rbp backup resume bk-1 ' +
        '(it goes on at Back Up Volumes; ranges already copied are not read again).',
    );
    expect(w.events[2]!.detail['resumeCommand']).toBe('rbp backup resume bk-1');

    // The next scheduled backup is not refused: it takes the released lock, commits, and deletes
    // the suspended run's snapshot when its own becomes the base.
    const next = await runBackup(w, engine, input, 'bk-2');
    expect(next.status).toBe('SUCCEEDED');
    expect(w.locks.locks.size).toBe(0);
    expect([...w.snapshots.keys()]).toEqual(['snap-0002']);
    expect(w.calls).toContain('DeleteSnapshot snap-0001');
  });

  it('redriving the suspended run takes the lock back and resumes at Back Up Volumes: image committed once, base kept, lock released', async () => {
    const w = world(0);
    const log: string[] = [];
    const flaky = outageOf(happyEngine(log), 'copyRange', SLOW_DOWN);
    const failed = await runBackup(w, flaky.engine, input);
    expect(failed.error).toBe('BackupSuspendedError');
    expect(lastAwaitRedrive(failed)).toBeDefined();

    flaky.end();
    const redriven = await redrive(w, flaky.engine, failed);
    expect(redriven.status).toBe('SUCCEEDED');
    // Nothing before the failed state runs again: no second checkpoint or snapshot; the volume's
    // plan is made again (deterministic: the same items) and its copy resumes.
    expect(redriven.statesEntered.slice(0, 7)).toEqual([
      ...RESUMED_AT_BACK_UP_VOLUMES,
      'Plan Backup',
      'Image Committed?',
      'Copy Ranges',
    ]);
    expect(redriven.statesEntered).not.toContain('Create Snapshots');
    expect(log.filter((line) => line.startsWith('plan'))).toHaveLength(2);
    expect(log.filter((line) => line === 'commit img-1')).toHaveLength(1);
    expect(log.filter((line) => line.startsWith('copy')).sort()).toEqual(['copy 0', 'copy 2048']);
    expect(w.locks.locks.size).toBe(0);
    expect([...w.snapshots.values()].map((s) => s.tags['rbp:role'])).toEqual(['base']);
    expect(w.events.map((e) => e.detailType).slice(-2)).toEqual(['Backup Failed', 'Backup Succeeded']);
  });

  it('a commit that meets a collection waits for it, past the 5 retries of other errors, and the run succeeds unsuspended', async () => {
    const w = world(0);
    const log: string[] = [];
    const engine = happyEngine(log);
    // Ten refusals, one a minute: ten minutes of waiting, where the RetryableError retrier (5
    // retries, at most 155 s) would have given up and suspended the run.
    const REFUSALS = 10;
    const refusals: string[] = [];
    const waiting = {
      ...engine,
      commit: (payload: Record<string, unknown>) => {
        if (refusals.length < REFUSALS) {
          const error = new CollectionInProgressError('img-1', 'gc-7', '2026-01-01T03:00:00.000Z');
          refusals.push(error.message);
          return Promise.reject(error);
        }
        return engine.commit(payload);
      },
    };
    const outcome = await runBackup(w, waiting, input);
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.statesEntered.at(-1)).toBe('Backup Succeeded');
    expect(outcome.statesEntered).not.toContain('Await Redrive');
    expect(outcome.statesEntered).not.toContain('Suspend Run');
    expect(outcome.statesEntered.filter((s) => s === 'Commit Image')).toHaveLength(1);
    expect(refusals).toHaveLength(REFUSALS);
    expect(refusals[0]).toBe(
      'image img-1 waits for garbage collection gc-7 (started at 2026-01-01T03:00:00.000Z) to finish before it commits',
    );
    expect(REFUSALS * COLLECTION_WAIT_INTERVAL_SECONDS).toBe(600);
    expect(log.filter((line) => line === 'commit img-1')).toHaveLength(1);
    expect(w.events.map((e) => e.detailType)).toEqual([
      'Checkpoint Requested',
      'Checkpoint Released',
      'Backup Succeeded',
    ]);
    expect(w.locks.locks.size).toBe(0);
  });

  it('a collection that outlasts the wait bound suspends the run for a redrive, like any retryable failure', async () => {
    const w = world(0);
    let refusals = 0;
    const engine = happyEngine([]);
    const endless = {
      ...engine,
      commit: () => {
        refusals += 1;
        return Promise.reject(new CollectionInProgressError('img-1', 'gc-7', '2026-01-01T03:00:00.000Z'));
      },
    };
    const outcome = await runBackup(w, endless, input);
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'BackupSuspendedError' });
    // The first call and COLLECTION_WAIT_ATTEMPTS retries, one every interval: two hours.
    expect(refusals).toBe(1 + COLLECTION_WAIT_ATTEMPTS);
    expect(w.locks.locks.get(VOLUME)?.released).toBe(true);
    expect(w.events.map((e) => e.detailType).at(-1)).toBe('Backup Failed');
  });

  it('a retryable commit failure suspends the run; the redrive resumes at Back Up Volumes and commits once', async () => {
    const w = world(0);
    const log: string[] = [];
    const flaky = outageOf(happyEngine(log), 'commit', {
      name: 'RetryableError',
      message: 'DynamoDB throttled the image record',
    });
    const failed = await runBackup(w, flaky.engine, input);
    expect(failed).toMatchObject({ status: 'FAILED', error: 'BackupSuspendedError' });
    expect(failed.cause).toMatch(/rbp backup resume bk-1 resumes it at Back Up Volumes\)$/);
    expect(w.locks.locks.get(VOLUME)?.released).toBe(true);
    flaky.end();
    const redriven = await redrive(w, flaky.engine, failed);
    expect(redriven.status).toBe('SUCCEEDED');
    expect(redriven.statesEntered.slice(0, 4)).toEqual(RESUMED_AT_BACK_UP_VOLUMES);
    // The engine double keeps no range summaries, so its ranges run again; the real Copy Range
    // skips a range whose summary exists (test/recovery-points/engine-resume.test.ts).
    expect(log.filter((line) => line.startsWith('copy'))).toHaveLength(4);
    expect(log.filter((line) => line === 'commit img-1')).toHaveLength(1);
    expect(w.locks.locks.size).toBe(0);
  });

  it('a redrive while another backup holds the lock fails again at Await Redrive; after that backup it ends cleanly, its snapshot gone', async () => {
    const w = world(0);
    const engine = happyEngine([]);
    const broken = failingStep(engine, 'copyRange', SLOW_DOWN);
    const failed = await runBackup(w, broken, input);
    // Another run takes the released lock and is still running.
    await w.locks.acquire([
      {
        volumeId: VOLUME,
        ownerId: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-other',
        backupId: 'bk-other',
        acquiredAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2099-01-01T00:00:00.000Z',
      },
    ]);
    const refused = await redrive(w, engine, failed);
    expect(refused).toMatchObject({
      status: 'FAILED',
      error: 'BackupAlreadyRunningError',
      cause: `volume ${VOLUME} is being backed up by bk-other (lock held until 2099-01-01T00:00:00.000Z); backup bk-1 was not started`,
    });
    expect(w.locks.locks.get(VOLUME)?.backupId).toBe('bk-other');
    expect([...w.snapshots.values()].map((s) => s.tags['rbp:role'])).toEqual(['released']);

    // That run commits (its rotation deletes the released snapshot) and releases the lock.
    await w.locks.release([VOLUME], 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-other');
    w.snapshots.clear();
    const ended = await redrive(w, engine, failed, '2026-01-03T00:00:00.000Z');
    expect(ended).toMatchObject({
      status: 'FAILED',
      error: 'BackupFailed',
      cause: `snapshot snap-0001 of ${VOLUME} is gone: backup bk-1 cannot resume; start a new backup`,
    });
    expect(ended.statesEntered.slice(0, 4)).toEqual([
      'Await Redrive',
      'Reclaim Snapshots',
      'Clean Up',
      'Publish Failure',
    ]);
    expect(w.locks.locks.size).toBe(0);
  });

  it('rbp backup resume: refused while another backup holds the lock (nothing redriven); then the locks are taken back for the execution, whose redrive commits once', async () => {
    const w = world(0);
    const log: string[] = [];
    const flaky = outageOf(happyEngine(log), 'copyRange', SLOW_DOWN);
    const failed = await runBackup(w, flaky.engine, input);
    expect(failed.error).toBe('BackupSuspendedError');
    flaky.end();
    const owner = 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-1';
    const redriven: RunOutcome[] = [];
    const deps = {
      executions: {
        describe: (name: string) =>
          Promise.resolve({
            name,
            status: 'FAILED' as const,
            startedAt: '2026-01-01T00:00:00.000Z',
            stoppedAt: w.clock.now().toISOString(),
            input: JSON.stringify(input),
            error: failed.error!,
          }),
        failedStep: () => Promise.resolve('Await Redrive'),
        executionIdOf: () => owner,
        redrive: async () => {
          redriven.push(await redrive(w, flaky.engine, failed));
          return { redrivenAt: w.clock.now().toISOString() };
        },
      },
      locks: w.locks,
      snapshots: w,
      clock: w.clock,
    };
    const other = {
      volumeId: VOLUME,
      ownerId: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-other',
      backupId: 'bk-other',
      acquiredAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2099-01-01T00:00:00.000Z',
    };
    await w.locks.acquire([other]);
    await expect(resumeBackup(deps, 'bk-1')).rejects.toThrow(
      `volume ${VOLUME} is being backed up by bk-other (lock held until 2099-01-01T00:00:00.000Z): ` +
        'backup bk-1 stays suspended; resume it once bk-other has finished',
    );
    expect(redriven).toEqual([]);
    expect(w.locks.locks.get(VOLUME)).toEqual(other);

    // bk-other suspends in turn (its lock released): the resume takes the lock for bk-1's
    // execution, and the redrive's Await Redrive finds it its own.
    await w.locks.suspend([VOLUME], other.ownerId);
    const resumed = await resumeBackup(deps, 'bk-1');
    expect(resumed).toMatchObject({ backupId: 'bk-1', status: 'RUNNING', volumeIds: [VOLUME] });
    expect(redriven).toHaveLength(1);
    expect(redriven[0]!.status).toBe('SUCCEEDED');
    expect(redriven[0]!.statesEntered.slice(0, 4)).toEqual(RESUMED_AT_BACK_UP_VOLUMES);
    expect(log.filter((line) => line === 'commit img-1')).toHaveLength(1);
    expect(w.locks.locks.size).toBe(0);
    expect([...w.snapshots.values()].map((s) => s.tags['rbp:role'])).toEqual(['base']);
  });

  it.each([
    {
      title: 'a permanent commit error is caught: cleanup deletes the unused snapshot and releases the lock',
      step: 'commit' as const,
      cause: 'manifest names a segment that is not stored',
    },
    {
      // The failure is the Map's (Back Up Volumes): Clean Up does not see which images committed and
      // deletes the run's snapshots; the next backup of the volume then reads it in full
      // (docs/recovery-points.md, "What a partial failure leaves").
      title:
        'a permanent catalog failure after the commit fails the run and releases the lock; the image stays, its snapshot goes',
      step: 'catalog' as const,
      cause: 'image img-1 has no record',
    },
  ])('$title', async ({ step, cause }) => {
    const w = world(0);
    const outcome = await runBackup(
      w,
      failingStep(happyEngine([]), step, { name: 'NotFoundError', message: cause }),
      input,
    );
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'BackupFailed',
      cause,
    });
    expect([...w.snapshots.values()]).toEqual([]);
    expect(w.locks.locks.size).toBe(0);
  });

  it('when Clean Up itself fails, the named Fail still reports the original cause', async () => {
    const w = world('never');
    w.locks.release = () => Promise.reject(new Error('DynamoDB is down'));
    const outcome = await runBackup(w, happyEngine([]), {
      ...input,
      syncWait: { intervalSeconds: 5, timeoutSeconds: 30 },
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('ReplicaNotInSync');
    expect(outcome.cause).toMatch(/^replica not in sync at checkpoint bk-1-r1 by /);
    expect(outcome.statesEntered.slice(-6)).toEqual([
      'Clean Up',
      'Keep Raw Cause',
      'Publish Failure',
      'Suspended?',
      'Which Failure?',
      'Replica Not In Sync',
    ]);
  });
});
