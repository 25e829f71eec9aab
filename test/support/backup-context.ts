/**
 * A backup context as the state machine carries it after the lock (`$.backup`), for tests of the
 * engine's steps: a manual replica backup with the tag probe and short waits; each test names the
 * ids, volumes and start time it reasons about.
 */
import type { BackupContext } from '../../lambdas/core/orchestration/backup-request.ts';

export type BackupContextIds = Pick<
  BackupContext,
  'backupId' | 'ownerId' | 'serverId' | 'volumeIds' | 'startedAt'
>;

export function testBackupContext(ids: BackupContextIds): BackupContext {
  return {
    ...ids,
    full: false,
    source: 'replica',
    trigger: 'manual',
    probe: { kind: 'tags' },
    syncWait: { intervalSeconds: 1, timeoutSeconds: 60 },
    snapshotWait: { intervalSeconds: 1, timeoutSeconds: 60 },
    lockTtlSeconds: 3600,
    maxSnapshotRounds: 3,
  };
}
