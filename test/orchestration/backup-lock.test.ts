import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  alreadyRunningError,
  lockItemsFor,
  mayTakeLock,
  redriveDecision,
  ttlEpochSeconds,
  type BackupLock,
} from '../../lambdas/core/orchestration/backup-lock.ts';
import { BackupAlreadyRunningError } from '../../lambdas/core/orchestration/orchestration-errors.ts';
import { InMemoryLockStore } from './in-memory-lock-store.ts';

const now = new Date('2026-03-01T12:00:00.000Z');
const held: BackupLock = {
  volumeId: 'vol-a',
  ownerId: 'arn:exec:one',
  backupId: 'one',
  acquiredAt: '2026-03-01T11:00:00.000Z',
  expiresAt: '2026-03-01T13:00:00.000Z',
};

describe('mayTakeLock', () => {
  it('allows a free volume, the holder itself, and anyone once the lock expired', () => {
    expect(mayTakeLock(undefined, 'arn:exec:two', now)).toBe(true);
    expect(mayTakeLock(held, 'arn:exec:one', now)).toBe(true);
    expect(mayTakeLock(held, 'arn:exec:two', now)).toBe(false);
    expect(mayTakeLock(held, 'arn:exec:two', new Date('2026-03-01T13:00:00.000Z'))).toBe(true);
  });

  it('property: another owner may take the lock exactly from its expiry on', () => {
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), (offsetMs) => {
        const at = new Date(Date.parse(held.expiresAt) + offsetMs);
        expect(mayTakeLock(held, 'arn:exec:two', at)).toBe(offsetMs >= 0);
      }),
    );
  });
});

describe('lockItemsFor', () => {
  it('writes one lock per volume, sorted, expiring after the TTL', () => {
    const locks = lockItemsFor(
      { volumeIds: ['vol-b', 'vol-a'], ownerId: 'arn:x', backupId: 'x', ttlSeconds: 90 },
      now,
    );
    expect(locks).toEqual([
      {
        volumeId: 'vol-a',
        ownerId: 'arn:x',
        backupId: 'x',
        acquiredAt: '2026-03-01T12:00:00.000Z',
        expiresAt: '2026-03-01T12:01:30.000Z',
      },
      {
        volumeId: 'vol-b',
        ownerId: 'arn:x',
        backupId: 'x',
        acquiredAt: '2026-03-01T12:00:00.000Z',
        expiresAt: '2026-03-01T12:01:30.000Z',
      },
    ]);
    expect(ttlEpochSeconds(locks[0]!)).toBe(Date.parse('2026-03-01T12:01:30.000Z') / 1000);
  });
});

describe('alreadyRunningError', () => {
  it('names the volume, the holder and the time the lock ends', () => {
    const error = alreadyRunningError(held, 'two');
    expect(error).toBeInstanceOf(BackupAlreadyRunningError);
    expect(error.name).toBe('BackupAlreadyRunningError');
    expect(error.message).toBe(
      'volume vol-a is being backed up by one (lock held until 2026-03-01T13:00:00.000Z); backup two was not started',
    );
  });
});

describe('lock store model (in-memory fake following mayTakeLock)', () => {
  it('gives a group of volumes to one run at a time, all or nothing', async () => {
    const store = new InMemoryLockStore(() => now);
    await store.acquire(
      lockItemsFor({ volumeIds: ['vol-a'], ownerId: 'arn:one', backupId: 'one', ttlSeconds: 60 }, now),
    );
    await expect(
      store.acquire(
        lockItemsFor(
          { volumeIds: ['vol-b', 'vol-a'], ownerId: 'arn:two', backupId: 'two', ttlSeconds: 60 },
          now,
        ),
      ),
    ).rejects.toThrow('volume vol-a is being backed up by one');
    expect(store.locks.has('vol-b')).toBe(false);
    expect(await store.release(['vol-a'], 'arn:two')).toEqual({ released: 0 });
    expect(await store.release(['vol-a'], 'arn:one')).toEqual({ released: 1 });
    expect(await store.release(['vol-a'], 'arn:one')).toEqual({ released: 0 });
  });

  it('property: of any interleaving of acquires, at most one owner holds a volume at a time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            owner: fc.constantFrom('a', 'b', 'c'),
            release: fc.boolean(),
            advance: fc.nat({ max: 120 }),
          }),
          {
            maxLength: 30,
          },
        ),
        async (steps) => {
          let clock = now.getTime();
          const store = new InMemoryLockStore(() => new Date(clock));
          for (const step of steps) {
            clock += step.advance * 1000;
            const at = new Date(clock);
            const before = store.locks.get('vol-a');
            try {
              await store.acquire(
                lockItemsFor(
                  { volumeIds: ['vol-a'], ownerId: step.owner, backupId: step.owner, ttlSeconds: 60 },
                  at,
                ),
              );
              expect(mayTakeLock(before, step.owner, at)).toBe(true);
              expect(store.locks.get('vol-a')?.ownerId).toBe(step.owner);
            } catch (error) {
              expect(error).toBeInstanceOf(BackupAlreadyRunningError);
              expect(mayTakeLock(before, step.owner, at)).toBe(false);
              expect(store.locks.get('vol-a')).toEqual(before);
            }
            if (step.release) await store.release(['vol-a'], step.owner);
          }
        },
      ),
    );
  });
});

describe('redriveDecision', () => {
  const released: BackupLock = { ...held, released: true };
  it("parks the run's own entry and a Lambda retry of it; resumes a redrive, whoever holds the lock", () => {
    expect(redriveDecision([released], held.ownerId, 'T1')).toBe('park');
    expect(redriveDecision([{ ...released, parkedAt: 'T1' }], held.ownerId, 'T1')).toBe('park');
    expect(redriveDecision([{ ...released, parkedAt: 'T1' }], held.ownerId, 'T2')).toBe('resume');
    expect(redriveDecision([undefined], held.ownerId, 'T2')).toBe('resume');
    expect(redriveDecision([{ ...released, ownerId: 'arn:exec:two' }], held.ownerId, 'T1')).toBe('resume');
    expect(redriveDecision([held], held.ownerId, 'T1')).toBe('resume');
    expect(redriveDecision([released, undefined], held.ownerId, 'T1')).toBe('resume');
    expect(redriveDecision([], held.ownerId, 'T1')).toBe('resume');
  });

  it('a released lock may be taken by anyone before it expires', () => {
    expect(mayTakeLock(released, 'arn:exec:two', now)).toBe(true);
    expect(mayTakeLock(held, 'arn:exec:two', now)).toBe(false);
  });
});
