/**
 * POST /backups/{backupId}/resume over the in-memory ports with the real launcher: exact answers
 * and refusals, the locks taken back for the execution (so the redrive's Await Redrive finds them
 * its own), and nothing changed by a refusal.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { runBackupLockStep } from '../../lambdas/core/orchestration/backup-lock.ts';
import type { SnapshotView } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import type { ExecutionDetail } from '../../lambdas/core/api/backup-launcher.ts';
import { memoryApi, VOLUME_A, type MemoryApi } from '../fakes/memory-api-ports.ts';
import {
  keptSnapshot,
  resumeLauncher,
  suspendedExecution,
  suspendInto,
  SUSPENDED_ID as ID,
  SUSPENDED_OWNER as OWNER,
} from '../support/suspended-backup.ts';
import { answerOf, proxyEvent, type Answer } from './api-events.ts';

let api: MemoryApi;
let snapshots: SnapshotView[];
let handler: ApiProxyHandler;
const resume = async (id = ID): Promise<Answer> =>
  answerOf(await handler(proxyEvent({ method: 'POST', path: `/backups/${id}/resume` })));

/** The suspended backup's execution with `patch` over it. */
function execution(patch: Partial<ExecutionDetail>): void {
  api.executions.executions.set(ID, suspendedExecution(patch));
}

/** What Suspend Run and Await Redrive leave: the lock released and parked, the snapshot released. */
function suspended(): void {
  suspendInto(api);
  snapshots.push(keptSnapshot());
}

beforeEach(() => {
  api = memoryApi();
  snapshots = [];
  handler = createApiHandler({ ...api.deps, backups: resumeLauncher(api, () => snapshots) }, () => undefined);
});

describe('POST /backups/{backupId}/resume', () => {
  it('redrives a suspended backup: 202, the lock taken back for its execution, Location to its status', async () => {
    suspended();
    const answer = await resume();
    expect(answer.status).toBe(202);
    expect(answer.body).toEqual({
      backupId: ID,
      status: 'RUNNING',
      resumedAt: '2026-11-20T12:00:00.000Z',
      volumeIds: [VOLUME_A],
    });
    expect(answer.headers.location).toBe(`/backups/${ID}`);
    expect(api.executions.redrives).toEqual([ID]);
    expect(api.executions.executions.get(ID)).toMatchObject({
      status: 'RUNNING',
      currentStep: 'Await Redrive',
    });
    // Held for the execution for the reservation's 15 minutes, no longer released.
    expect(api.locks.locks.get(VOLUME_A)).toEqual({
      volumeId: VOLUME_A,
      ownerId: OWNER,
      backupId: ID,
      acquiredAt: '2026-11-20T12:00:00.000Z',
      expiresAt: '2026-11-20T12:15:00.000Z',
    });

    // The redrive's Await Redrive (a new entry time) finds the lock its own and goes on.
    const backup = {
      backupId: ID,
      ownerId: OWNER,
      volumeIds: [VOLUME_A],
      serverId: VOLUME_A,
      trigger: 'manual',
      full: false,
      startedAt: '2026-11-18T12:00:00.000Z',
      lockTtlSeconds: 172_800,
    };
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const redriven = await runBackupLockStep(
      {
        locks: api.locks,
        clock: api.clock,
        findVolumes: () => Promise.reject(new Error('unused')),
        serverTags: () => Promise.reject(new Error('unused')),
      },
      {
        action: 'await-redrive',
        backup,
        enteredAt: '2026-11-20T12:00:01.000Z',
        resumeAt: 'Back Up Volumes',
        cause: 'S3 503 Slow Down after every retry',
      } as never,
      log,
    );
    expect(redriven).toEqual({ resumeAt: 'Back Up Volumes', expiresAt: '2026-11-22T12:00:00.000Z' });
  });

  it('is 404 for a backup that does not exist', async () => {
    const answer = await resume('bk-nope');
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({
      code: 'NotFound',
      message: 'backup bk-nope does not exist',
      details: { backupId: 'bk-nope' },
    });
  });

  it.each([
    {
      what: 'running',
      patch: { status: 'RUNNING', stoppedAt: undefined, error: undefined, failedStep: undefined } as const,
      message: `backup ${ID} is running: only a suspended backup can be resumed`,
    },
    {
      what: 'succeeded',
      patch: { status: 'SUCCEEDED', error: undefined, failedStep: undefined } as const,
      message: `backup ${ID} succeeded: there is nothing to resume`,
    },
    {
      what: 'cancelled',
      patch: { status: 'ABORTED', error: 'Cancelled', failedStep: 'Copy Range' } as const,
      message: `backup ${ID} was cancelled (ABORTED): its snapshots are deleted and it cannot be resumed; start a new backup`,
    },
    {
      what: 'timed out',
      patch: { status: 'TIMED_OUT', error: 'States.Timeout', failedStep: 'Copy Ranges' } as const,
      message: `backup ${ID} timed out: only a suspended backup can be resumed; start a new backup`,
    },
    {
      what: 'failed and cleaned up',
      patch: { error: 'ReplicaNotInSync', failedStep: 'Replica Not In Sync' } as const,
      message: `backup ${ID} failed at Replica Not In Sync (ReplicaNotInSync) and was cleaned up, not suspended: it cannot be resumed; start a new backup`,
    },
  ])('is 409 for a backup that is $what, and changes nothing', async ({ patch, message }) => {
    execution(patch);
    const answer = await resume();
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual({
      code: 'Conflict',
      message,
      details: { reason: 'NotSuspended', backupId: ID, status: patch.status ?? 'FAILED' },
    });
    expect(api.executions.redrives).toEqual([]);
    expect(api.locks.locks.size).toBe(0);
  });

  it('is 409 for a backup whose redrive is already pending', async () => {
    execution({ status: 'PENDING_REDRIVE', error: undefined, failedStep: undefined });
    const answer = await resume();
    expect(answer.status).toBe(409);
    expect(answer.body.message).toBe(`backup ${ID} is already being resumed (PENDING_REDRIVE)`);
    expect(api.executions.redrives).toEqual([]);
  });

  it('is 409 past the 14-day redrive window, counted from the stop', async () => {
    suspended();
    execution({ stoppedAt: '2026-11-06T12:00:00.000Z' });
    const late = await resume();
    expect(late.status).toBe(409);
    expect(late.body).toEqual({
      code: 'Conflict',
      message:
        `backup ${ID} was suspended at 2026-11-06T12:00:00.000Z: Step Functions resumes an execution for 14 days ` +
        'after it stopped, until 2026-11-20T12:00:00.000Z; start a new backup',
      details: {
        reason: 'RedriveWindowPassed',
        backupId: ID,
        stoppedAt: '2026-11-06T12:00:00.000Z',
        redriveDeadline: '2026-11-20T12:00:00.000Z',
      },
    });
    // One millisecond inside the window is still resumable.
    execution({ stoppedAt: '2026-11-06T12:00:00.001Z' });
    expect((await resume()).status).toBe(202);
  });

  it('is 409 when Step Functions reports the execution not redrivable, with its reason', async () => {
    suspended();
    execution({
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution history event limit exceeded',
    });
    const answer = await resume();
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual({
      code: 'Conflict',
      message: `backup ${ID} cannot be resumed: Step Functions does not redrive its execution (Execution history event limit exceeded); start a new backup`,
      details: {
        reason: 'RedriveWindowPassed',
        backupId: ID,
        redriveStatusReason: 'Execution history event limit exceeded',
      },
    });
    expect(api.executions.redrives).toEqual([]);
  });

  it('is 409 when a later backup of the volume deleted the snapshot the run kept', async () => {
    suspended();
    snapshots.length = 0;
    const answer = await resume();
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual({
      code: 'Conflict',
      message:
        `backup ${ID} cannot be resumed: the snapshot it kept of ${VOLUME_A} is gone (a later backup of the ` +
        'volume committed an image and deleted it); start a new backup',
      details: { reason: 'SnapshotsGone', backupId: ID, volumeIds: VOLUME_A },
    });
    expect(api.executions.redrives).toEqual([]);
    expect(api.locks.locks.get(VOLUME_A)?.released).toBe(true);
  });

  it('is 409 while another backup holds the volume: the backup stays suspended; after that backup it resumes', async () => {
    suspended();
    const other = {
      volumeId: VOLUME_A,
      ownerId: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-other',
      backupId: 'bk-other',
      acquiredAt: '2026-11-20T11:00:00.000Z',
      expiresAt: '2026-11-22T11:00:00.000Z',
    };
    api.locks.locks.set(VOLUME_A, other);
    const answer = await resume();
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual({
      code: 'Conflict',
      message:
        `volume ${VOLUME_A} is being backed up by bk-other (lock held until 2026-11-22T11:00:00.000Z): ` +
        `backup ${ID} stays suspended; resume it once bk-other has finished`,
      details: {
        reason: 'BackupAlreadyRunning',
        backupId: ID,
        volumeId: VOLUME_A,
        runningBackupId: 'bk-other',
      },
    });
    expect(api.locks.locks.get(VOLUME_A)).toEqual(other);
    expect(api.executions.redrives).toEqual([]);
    expect(api.executions.executions.get(ID)?.status).toBe('FAILED');

    // bk-other suspended in turn (its lock released): the resume may take it.
    api.locks.locks.set(VOLUME_A, { ...other, released: true });
    expect((await resume()).status).toBe(202);
    expect(api.locks.locks.get(VOLUME_A)?.ownerId).toBe(OWNER);
  });

  it('resumes a run whose earlier redrive met another backup’s lock (it failed again at Await Redrive)', async () => {
    suspended();
    execution({
      error: 'BackupAlreadyRunningError',
      cause: `volume ${VOLUME_A} is being backed up by bk-other (lock held until 2026-11-19T00:00:00.000Z); backup ${ID} was not started`,
    });
    expect((await resume()).status).toBe(202);
    expect(api.executions.redrives).toEqual([ID]);
  });

  it('gives the lock back when the redrive is refused and nothing runs', async () => {
    suspended();
    api.executions.redrive = () => Promise.reject(new Error('RedriveExecution failed'));
    const answer = await resume();
    expect(answer.status).toBe(500);
    expect(api.locks.locks.has(VOLUME_A)).toBe(false);
  });

  it('keeps the lock when the redrive failed because a concurrent resume already redrove the execution', async () => {
    suspended();
    const redrive = api.executions.redrive.bind(api.executions);
    api.executions.redrive = async (name) => {
      await redrive(name);
      throw new Error('timed out after the service redrove it');
    };
    expect((await resume()).status).toBe(500);
    expect(api.locks.locks.get(VOLUME_A)?.ownerId).toBe(OWNER);
  });
});
