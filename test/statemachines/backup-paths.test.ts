import { describe, expect, it } from 'vitest';
import { FakeWorld, happyEngine, runBackup, SteppingClock, type SnapshotScript } from './asl-harness.ts';

/** A rejected promise with an error named as the handler's error would be (the ASL's Retry/Catch match the name). */
function rejectNamed(name: string, message: string): Promise<never> {
  return Promise.reject(Object.assign(new Error(message), { name }));
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
      'Plan Backup',
      'Copy Ranges',
      'Copy Range',
      'Copy Range',
      'Renew Lock',
      'Commit Image',
      'Build Catalog',
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
    expect(outcome.statesEntered.slice(-4)).toEqual([
      'Clean Up',
      'Publish Failure',
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

  it('a copy range that keeps failing leaves the run redrivable: Map fails uncaught, lock and snapshot stay', async () => {
    const w = world(0);
    const engine = happyEngine([]);
    const broken = {
      ...engine,
      copyRange: () => {
        return rejectNamed('ThrottledError', 'S3 503 Slow Down after every retry');
      },
    };
    const outcome = await runBackup(w, broken, input);
    expect(outcome.status).toBe('FAILED');
    expect(outcome.statesEntered.at(-1)).toBe('Copy Range');
    expect(outcome.statesEntered).not.toContain('Clean Up');
    expect(w.locks.locks.get(VOLUME)?.ownerId).toMatch(/:execution:rbp-backup:bk-1$/);
    expect([...w.snapshots.values()].map((s) => s.tags['rbp:role'])).toEqual(['pending']);
  });

  it('redriving that run from the failed Copy Ranges finishes it: image committed once, base kept, lock released', async () => {
    const w = world(0);
    const log: string[] = [];
    const engine = happyEngine(log);
    let outage = true;
    const flaky = {
      ...engine,
      copyRange: (payload: Record<string, unknown>) => {
        if (!outage) return engine.copyRange(payload);
        return rejectNamed('ThrottledError', 'S3 503 Slow Down after every retry');
      },
    };
    const failed = await runBackup(w, flaky, input);
    expect(failed.status).toBe('FAILED');
    const copyInput = failed.stateInputs.filter((s) => s.name === 'Copy Ranges').at(-1);
    expect(copyInput).toBeDefined();

    outage = false;
    const redriven = await runBackup(w, flaky, input, 'bk-1', {
      fromState: 'Copy Ranges',
      input: copyInput!.input,
    });
    expect(redriven.status).toBe('SUCCEEDED');
    // Nothing before the failed state runs again: no second lock, checkpoint or snapshot.
    expect(redriven.statesEntered[0]).toBe('Copy Ranges');
    expect(redriven.statesEntered).not.toContain('Create Snapshots');
    expect(log.filter((line) => line.startsWith('plan'))).toHaveLength(1);
    expect(log.filter((line) => line === 'commit img-1')).toHaveLength(1);
    expect(log.filter((line) => line.startsWith('copy')).sort()).toEqual(['copy 0', 'copy 2048']);
    expect(w.locks.locks.size).toBe(0);
    expect([...w.snapshots.values()].map((s) => s.tags['rbp:role'])).toEqual(['base']);
    expect(w.events.map((e) => e.detailType)).toContain('Backup Succeeded');
  });

  it('a permanent commit error is caught: cleanup deletes the unused snapshot and releases the lock', async () => {
    const w = world(0);
    const engine = happyEngine([]);
    const outcome = await runBackup(
      w,
      {
        ...engine,
        commit: () => {
          return rejectNamed('NotFoundError', 'manifest names a segment that is not stored');
        },
      },
      input,
    );
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'BackupFailed',
      cause: 'manifest names a segment that is not stored',
    });
    expect(w.snapshots.size).toBe(0);
    expect(w.locks.locks.size).toBe(0);
  });

  it('a permanent catalog failure after the commit keeps the new snapshot as the base and releases the lock', async () => {
    const w = world(0);
    const engine = happyEngine([]);
    const outcome = await runBackup(
      w,
      {
        ...engine,
        catalog: () => {
          return rejectNamed('NotFoundError', 'image img-1 has no record');
        },
      },
      input,
    );
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'BackupFailed',
      cause: 'image img-1 has no record',
    });
    expect([...w.snapshots.values()].map((s) => [s.snapshotId, s.tags['rbp:role']])).toEqual([
      ['snap-0001', 'base'],
    ]);
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
    expect(outcome.statesEntered.slice(-5)).toEqual([
      'Clean Up',
      'Keep Raw Cause',
      'Publish Failure',
      'Which Failure?',
      'Replica Not In Sync',
    ]);
  });
});
