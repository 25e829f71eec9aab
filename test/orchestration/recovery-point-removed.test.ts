/**
 * A run whose recovery point was removed while it was committed (every image of it deleted
 * meanwhile) is not a backup: Commit Recovery Point fails with ConflictError, the run ends FAILED
 * at "Backup Failed" with a cause that says so, the outcome is `Backup Failed` (never `Backup
 * Succeeded`) and the BackupSucceeded metric of the RPO alarm is not counted.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConflictError } from '../../lambdas/core/errors.ts';
import { silentLog } from '../../lambdas/core/ports.ts';
import { commitUsableRecoveryPoint } from '../../lambdas/core/orchestration/usable-recovery-point.ts';
import { commitRecoveryPointInputSchema } from '../../lambdas/core/orchestration/step-state.ts';
import { normaliseBackupRequest } from '../../lambdas/core/orchestration/backup-request.ts';
import { createCommitRecoveryPointHandler } from '../../lambdas/handlers/commit-recovery-point.ts';
import { createPublishOutcomeHandler } from '../../lambdas/handlers/publish-outcome.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryRecoveryPointStore, recordsLiveness } from '../recovery-points/memory-recovery-point-store.ts';
import {
  ASL_PATH,
  FakeWorld,
  happyEngine,
  runBackup,
  SteppingClock,
  type AslDefinition,
} from '../statemachines/asl-harness.ts';

const VOLUME = 'vol-0a1b2c3d4e5f60718';
const CREATED = '2026-01-01T00:00:01.000Z';
const EXECUTION = {
  id: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-1',
  name: 'bk-1',
  startTime: '2026-01-01T00:00:00.000Z',
};
/** The run's backup as Acquire Lock normalises it (`$.backup`). */
const BACKUP = await normaliseBackupRequest({ volumeIds: [VOLUME] }, EXECUTION, () => Promise.resolve([]));
const COMMIT_INPUT = {
  backup: BACKUP,
  volumes: [{ volumeId: VOLUME, imageId: 'img-1', kind: 'full', createdAt: CREATED }],
};
/** The cause every report of the run carries. */
const CAUSE =
  `backup bk-1 of ${VOLUME} left no usable backup: every image of its recovery point rp-bk-1 (img-1) ` +
  'was deleted while the point was committed, so the point was removed';

/** Commit Recovery Point's deps, where a deletion of img-1 began before the commit wrote the point. */
async function pointDeletedMeanwhile() {
  const records = new MemoryImageRecordStore();
  await records.putImageRecord(fullImageRecord(VOLUME, 'img-1', CREATED));
  const points = new MemoryRecoveryPointStore();
  // The deletion looked for the image's point before the commit wrote it: only its mark is left.
  await points.detachImage({ volumeId: VOLUME, imageId: 'img-1' });
  const deps = {
    records,
    points,
    devices: { devicesOf: () => Promise.resolve(new Map<string, string>()) },
    liveness: recordsLiveness(records),
  };
  return { deps, points };
}

describe('a recovery point removed while it was committed', () => {
  it('fails Commit Recovery Point with ConflictError and a cause that says the backup is not usable', async () => {
    const { deps, points } = await pointDeletedMeanwhile();
    const input = commitRecoveryPointInputSchema.parse(COMMIT_INPUT);
    const error = await commitUsableRecoveryPoint(deps, input, silentLog).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({
      name: 'ConflictError',
      message: CAUSE,
      retryable: false,
      context: { backupId: 'bk-1', serverId: VOLUME, recoveryPointId: 'rp-bk-1' },
    });
    expect(points.points.size).toBe(0);
    // The Lambda hands the same error to Step Functions (its name is the ASL's error name).
    const again = await pointDeletedMeanwhile();
    await expect(createCommitRecoveryPointHandler(again.deps)(COMMIT_INPUT)).rejects.toMatchObject({
      name: 'ConflictError',
      message: CAUSE,
    });
  });

  it('answers a point that kept its images as before', async () => {
    const records = new MemoryImageRecordStore();
    await records.putImageRecord(fullImageRecord(VOLUME, 'img-1', CREATED));
    const deps = {
      records,
      points: new MemoryRecoveryPointStore(),
      devices: { devicesOf: () => Promise.resolve(new Map<string, string>()) },
      liveness: recordsLiveness(records),
    };
    const committed = await commitUsableRecoveryPoint(
      deps,
      commitRecoveryPointInputSchema.parse(COMMIT_INPUT),
      silentLog,
    );
    expect(committed).toMatchObject({ recoveryPointId: 'rp-bk-1', imageIds: ['img-1'] });
    expect(committed).not.toHaveProperty('removed');
  });

  it('the ASL sends that ConflictError to Clean Up, not to a redrive', () => {
    const asl = JSON.parse(readFileSync(ASL_PATH, 'utf8')) as AslDefinition;
    const catchers = asl.States['Commit Recovery Point']!['Catch'] as {
      ErrorEquals: string[];
      Next: string;
    }[];
    expect(catchers.find((c) => c.ErrorEquals.includes('ConflictError'))?.Next).toBe('Clean Up');
  });

  it('the run then ends FAILED at Backup Failed, announced as Backup Failed with that cause, locks released', async () => {
    const w = new FakeWorld(
      new SteppingClock(Date.parse('2026-01-01T00:00:00.000Z')),
      { syncAfterProbes: 0 },
      { completeAfterChecks: 1, failingCreations: [], limitExceededCalls: 0 },
    );
    w.addReplica(VOLUME);
    const request = {
      volumeIds: [VOLUME],
      syncWait: { intervalSeconds: 5, timeoutSeconds: 600 },
      snapshotWait: { intervalSeconds: 5, timeoutSeconds: 3600 },
    };
    // The state Commit Recovery Point is entered with, from a real run up to it (the harness's
    // commit double succeeds; what Step Functions does next with the error is what is run here).
    const upToCommit = await runBackup(w, happyEngine([]), request, 'bk-1');
    const commitState = upToCommit.stateInputs.find((s) => s.name === 'Commit Recovery Point')!.input as {
      backup: { ownerId: string; startedAt: string };
    };
    expect(commitState.backup.ownerId).toBe(BACKUP.ownerId);
    // The run still holds its lock when Commit Recovery Point fails.
    await w.locks.acquire([
      {
        volumeId: VOLUME,
        ownerId: BACKUP.ownerId,
        backupId: 'bk-1',
        acquiredAt: '2026-01-01T00:00:00.000Z',
        expiresAt: '2026-01-03T00:00:00.000Z',
      },
    ]);
    const before = w.events.length;
    const caught = {
      ...commitState,
      error: {
        Error: 'ConflictError',
        Cause: JSON.stringify({ errorType: 'ConflictError', errorMessage: CAUSE, trace: [] }),
      },
    };
    const outcome = await runBackup(w, happyEngine([]), request, 'bk-1', {
      fromState: 'Clean Up',
      input: caught,
    });
    expect(outcome).toMatchObject({ status: 'FAILED', error: 'BackupFailed', cause: CAUSE });
    expect(outcome.statesEntered).toEqual([
      'Clean Up',
      'Publish Failure',
      'Suspended?',
      'Which Failure?',
      'Backup Failed',
    ]);
    expect(w.events.slice(before)).toEqual([
      {
        detailType: 'Backup Failed',
        detail: {
          version: 1,
          status: 'FAILED',
          backupId: 'bk-1',
          serverId: VOLUME,
          volumeIds: [VOLUME],
          trigger: 'manual',
          startedAt: commitState.backup.startedAt,
          finishedAt: expect.any(String) as unknown,
          imageIds: [],
          error: 'ConflictError',
          cause: CAUSE,
        },
      },
    ]);
    expect(w.notifications.at(-1)!.subject).toBe(`rbp: backup FAILED for ${VOLUME}`);
    expect(w.notifications.at(-1)!.message.split('\n').at(-1)).toBe(`Error: ConflictError: ${CAUSE}`);
    expect(w.locks.locks.size).toBe(0);
  });

  it('Publish Failure counts no BackupSucceeded datapoint for it', async () => {
    const counted: string[] = [];
    const handler = createPublishOutcomeHandler({
      events: { publish: () => Promise.resolve() },
      notifier: { notify: () => Promise.resolve() },
      clock: { now: () => new Date('2026-01-01T00:05:00.000Z') },
      countSuccess: (serverId) => counted.push(serverId),
    });
    const output = await handler({
      status: 'FAILED',
      state: { backup: BACKUP, error: { Error: 'ConflictError', Cause: CAUSE } },
      execution: { id: BACKUP.ownerId, name: 'bk-1', startTime: BACKUP.startedAt },
    });
    expect(output).toEqual({ published: true, status: 'FAILED' });
    expect(counted).toEqual([]);
  });
});
