/**
 * The ports of the backup orchestration: what the state machine's steps need from AWS. The
 * adapters are in lambdas/aws (DynamoDbBackupLockStore, Ec2ReplicaSnapshots, DrsReplication,
 * EventBridgePublisher, SnsNotifier); the fakes in test/.
 */
import type { BackupLock } from './backup-lock.ts';
import type { DrsSourceServerView, ReplicaVolumeTags } from './replica-probe.ts';
import type { SnapshotView } from './replica-snapshots.ts';

/** The per-volume backup locks (backup-lock.ts is the model both the adapter and the fake follow). */
export interface LockStore {
  /**
   * Takes every lock of the request atomically (each with `mayTakeLock`), or none. Returns the
   * locks as written. Throws BackupAlreadyRunningError naming a holder when any lock is held.
   */
  acquire(locks: readonly BackupLock[]): Promise<readonly BackupLock[]>;
  /** Deletes each lock that `ownerId` holds; locks held by others are left alone. Idempotent. */
  release(volumeIds: readonly string[], ownerId: string): Promise<{ released: number }>;
  /**
   * Marks each lock that `ownerId` holds as released (a suspended run): anyone may take it, the
   * owner's redrive too. Locks held by others are left alone. Idempotent.
   */
  suspend(volumeIds: readonly string[], ownerId: string): Promise<{ released: number }>;
  /** The locks as stored now (a strongly consistent read), `undefined` where a volume has none. */
  read(volumeIds: readonly string[]): Promise<(BackupLock | undefined)[]>;
  /**
   * Records `parkedAt` on `ownerId`'s released locks, all or none; false when one of them is no
   * longer `ownerId`'s released lock or was parked at another instant.
   */
  park(volumeIds: readonly string[], ownerId: string, parkedAt: string): Promise<boolean>;
}

/** The EC2 snapshot operations of the backup (Ec2ReplicaSnapshots implements them). */
export interface SnapshotPort {
  createSnapshot(volumeId: string, tags: Record<string, string>, description: string): Promise<SnapshotView>;
  describeSnapshots(snapshotIds: readonly string[]): Promise<SnapshotView[]>;
  snapshotsOfBackup(backupId: string): Promise<SnapshotView[]>;
  managedSnapshotsOfVolume(volumeId: string): Promise<SnapshotView[]>;
  tagSnapshot(snapshotId: string, tags: Record<string, string>): Promise<void>;
  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'absent'>;
}

/** What the replica probe looks at: the volumes' tags and, for DRS probes, the source server. */
export interface ReplicaStatePort {
  readonly volumeTags: (volumeIds: readonly string[]) => Promise<ReplicaVolumeTags[]>;
  readonly drsSourceServer: (sourceServerId: string) => Promise<DrsSourceServerView | undefined>;
}

/** EventBridge (source `rbp.backup`): checkpoint requests and releases, backup outcomes. */
export interface EventPublisher {
  publish(detailType: string, detail: object): Promise<void>;
}

/** The SNS topic of backup outcomes. */
export interface Notifier {
  notify(subject: string, message: string): Promise<void>;
}
