/**
 * A backup of VOLUME_A suspended at Await Redrive on the in-memory API ports, as the resume tests
 * (API and CLI) start from: its execution, the lock Suspend Run released and parked, the snapshot it
 * kept, and the real launcher that resumes it.
 */
import { StateMachineBackupLauncher, type ExecutionDetail } from '../../lambdas/core/api/backup-launcher.ts';
import type { SnapshotView } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import { VOLUME_A, type MemoryApi } from '../fakes/memory-api-ports.ts';

export const SUSPENDED_ID = 'bk-20261118t120000000z-0a1b2c3d4e5f6071';
export const SUSPENDED_OWNER = `arn:aws:states:us-east-1:123456789012:execution:rbp-backup:${SUSPENDED_ID}`;
/** The suspended execution as DescribeExecution (and its history) would show it, with `patch` over it. */
export function suspendedExecution(patch: Partial<ExecutionDetail> = {}): ExecutionDetail {
  return {
    name: SUSPENDED_ID,
    status: 'FAILED',
    startedAt: '2026-11-18T12:00:00.000Z',
    // Two days before the memory API's clock (2026-11-20T12:00:00.000Z): within the redrive window.
    stoppedAt: '2026-11-18T12:30:00.000Z',
    input: JSON.stringify({ volumeIds: [VOLUME_A], full: false, trigger: 'manual' }),
    error: 'BackupSuspendedError',
    cause: 'S3 503 Slow Down after every retry (backup … suspended)',
    failedStep: 'Await Redrive',
    ...patch,
  };
}

/** Puts the suspended execution and the lock Suspend Run released and parked into `api`. */
export function suspendInto(api: MemoryApi): void {
  api.executions.executions.set(SUSPENDED_ID, suspendedExecution());
  api.locks.locks.set(VOLUME_A, {
    volumeId: VOLUME_A,
    ownerId: SUSPENDED_OWNER,
    backupId: SUSPENDED_ID,
    acquiredAt: '2026-11-18T12:00:00.000Z',
    expiresAt: '2026-11-20T12:00:00.000Z',
    released: true,
    parkedAt: '2026-11-18T12:29:59.000Z',
  });
}

/** The snapshot of VOLUME_A the suspended backup kept (released by Suspend Run). */
export function keptSnapshot(): SnapshotView {
  return {
    snapshotId: 'snap-0a0a0a0a0a0a0a0a0',
    volumeId: VOLUME_A,
    state: 'completed',
    tags: { 'rbp:managed': 'true', 'rbp:backup-id': SUSPENDED_ID, 'rbp:role': 'released' },
  };
}

/**
 * The real launcher over `api`'s ports; a backup's snapshots are those of `snapshots()` (read at each
 * call, so a test can change them) tagged with its id. A resume deletes no snapshot and reads no
 * image record: either rejects.
 */
export function resumeLauncher(
  api: MemoryApi,
  snapshots: () => readonly SnapshotView[],
): StateMachineBackupLauncher {
  return new StateMachineBackupLauncher({
    executions: api.executions,
    locks: api.locks,
    volumes: api.world,
    clock: api.clock,
    cancellation: {
      snapshots: {
        snapshotsOfBackup: (backupId) =>
          Promise.resolve(snapshots().filter((s) => s.tags['rbp:backup-id'] === backupId)),
        deleteSnapshot: () => Promise.reject(new Error('a resume deletes no snapshot')),
      },
      records: { getImageRecord: () => Promise.reject(new Error('a resume reads no image record')) },
    },
  });
}
