/** An in-memory LockStore with the semantics the DynamoDB adapter enforces with conditions. */
import {
  alreadyRunningError,
  mayTakeLock,
  type BackupLock,
} from '../../lambdas/core/orchestration/backup-lock.ts';
import type { LockStore } from '../../lambdas/core/orchestration/orchestration-ports.ts';

export class InMemoryLockStore implements LockStore {
  readonly locks = new Map<string, BackupLock>();

  constructor(private readonly now: () => Date) {}

  acquire(locks: readonly BackupLock[]): Promise<readonly BackupLock[]> {
    const at = this.now();
    for (const lock of locks) {
      const existing = this.locks.get(lock.volumeId);
      if (!mayTakeLock(existing, lock.ownerId, at) && existing !== undefined) {
        return Promise.reject(alreadyRunningError(existing, lock.backupId));
      }
    }
    for (const lock of locks) this.locks.set(lock.volumeId, lock);
    return Promise.resolve(locks);
  }

  release(volumeIds: readonly string[], ownerId: string): Promise<{ released: number }> {
    let released = 0;
    for (const volumeId of volumeIds) {
      if (this.locks.get(volumeId)?.ownerId === ownerId) {
        this.locks.delete(volumeId);
        released += 1;
      }
    }
    return Promise.resolve({ released });
  }

  suspend(volumeIds: readonly string[], ownerId: string): Promise<{ released: number }> {
    let released = 0;
    for (const volumeId of volumeIds) {
      const lock = this.locks.get(volumeId);
      if (lock?.ownerId === ownerId) {
        this.locks.set(volumeId, { ...lock, released: true });
        released += 1;
      }
    }
    return Promise.resolve({ released });
  }

  read(volumeIds: readonly string[]): Promise<(BackupLock | undefined)[]> {
    return Promise.resolve(volumeIds.map((id) => this.locks.get(id)));
  }

  park(volumeIds: readonly string[], ownerId: string, parkedAt: string): Promise<boolean> {
    const parkable = volumeIds.every((id) => {
      const lock = this.locks.get(id);
      return (
        lock?.ownerId === ownerId &&
        lock.released === true &&
        (lock.parkedAt === undefined || lock.parkedAt === parkedAt)
      );
    });
    if (!parkable) return Promise.resolve(false);
    for (const id of volumeIds) this.locks.set(id, { ...this.locks.get(id)!, parkedAt });
    return Promise.resolve(true);
  }
}
