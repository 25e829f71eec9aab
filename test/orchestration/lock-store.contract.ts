/** What every LockStore must do: run against the in-memory fake and DynamoDB on moto. */
import { describe, expect, it } from 'vitest';
import { lockItemsFor } from '../../lambdas/core/orchestration/backup-lock.ts';
import type { LockStore } from '../../lambdas/core/orchestration/orchestration-ports.ts';

const T0 = new Date('2026-03-01T00:00:00.000Z');
const HOUR = 3_600;

/** A clock the test moves; the store under test reads it for "now". */
export interface TestClock {
  now: Date;
}

const locksOf = (owner: string, backupId: string, volumeIds: string[], at: Date, ttlSeconds = HOUR) =>
  lockItemsFor({ volumeIds, ownerId: owner, backupId, ttlSeconds }, at);

export function lockStoreContract(
  name: string,
  makeStore: (clock: TestClock) => Promise<LockStore>,
  volumePrefix: string,
): void {
  describe(`LockStore contract: ${name}`, () => {
    const vol = (n: number) => `vol-${volumePrefix}${n}`;

    it('takes free locks, is re-entrant for its owner, and refuses another run naming the holder', async () => {
      const clock = { now: T0 };
      const store = await makeStore(clock);
      const mine = locksOf('arn:run-a', 'run-a', [vol(1)], T0);
      expect(await store.acquire(mine)).toEqual(mine);
      expect(await store.acquire(locksOf('arn:run-a', 'run-a', [vol(1)], T0))).toHaveLength(1);
      await expect(store.acquire(locksOf('arn:run-b', 'run-b', [vol(1)], T0))).rejects.toThrow(
        `volume ${vol(1)} is being backed up by run-a (lock held until 2026-03-01T01:00:00.000Z); backup run-b was not started`,
      );
    });

    it('lets another run take an expired lock', async () => {
      const clock = { now: T0 };
      const store = await makeStore(clock);
      await store.acquire(locksOf('arn:run-a', 'run-a', [vol(2)], T0, 60));
      clock.now = new Date(T0.getTime() + 61_000);
      const theirs = locksOf('arn:run-b', 'run-b', [vol(2)], clock.now);
      expect(await store.acquire(theirs)).toEqual(theirs);
      expect(await store.release([vol(2)], 'arn:run-a')).toEqual({ released: 0 });
      expect(await store.release([vol(2)], 'arn:run-b')).toEqual({ released: 1 });
    });

    it('takes a group all together or not at all', async () => {
      const clock = { now: T0 };
      const store = await makeStore(clock);
      await store.acquire(locksOf('arn:run-a', 'run-a', [vol(4)], T0));
      await expect(store.acquire(locksOf('arn:run-b', 'run-b', [vol(3), vol(4)], T0))).rejects.toThrow(
        'is being backed up by run-a',
      );
      // vol 3 was not taken by the refused group: a third run gets it.
      expect(await store.acquire(locksOf('arn:run-c', 'run-c', [vol(3)], T0))).toHaveLength(1);
    });

    it("releases only the owner's locks, and releasing again is a no-op", async () => {
      const clock = { now: T0 };
      const store = await makeStore(clock);
      await store.acquire(locksOf('arn:run-a', 'run-a', [vol(5), vol(6)], T0));
      expect(await store.release([vol(5), vol(6)], 'arn:run-b')).toEqual({ released: 0 });
      expect(await store.release([vol(5), vol(6)], 'arn:run-a')).toEqual({ released: 2 });
      expect(await store.release([vol(5), vol(6)], 'arn:run-a')).toEqual({ released: 0 });
      expect(await store.release([vol(7)], 'arn:run-a')).toEqual({ released: 0 });
    });

    it('a suspended run releases its locks to anyone, parks once per entry, and its redrive takes them back', async () => {
      const clock = { now: T0 };
      const store = await makeStore(clock);
      const group = [vol(8), vol(9)];
      await store.acquire(locksOf('arn:run-a', 'run-a', group, T0));
      expect(await store.suspend(group, 'arn:run-b')).toEqual({ released: 0 });
      expect(await store.suspend(group, 'arn:run-a')).toEqual({ released: 2 });
      expect((await store.read(group)).map((l) => [l?.ownerId, l?.released, l?.parkedAt])).toEqual([
        ['arn:run-a', true, undefined],
        ['arn:run-a', true, undefined],
      ]);
      // The entry parks; a Lambda retry of the same entry parks again; another instant does not.
      expect(await store.park(group, 'arn:run-a', '2026-03-01T00:00:05.000Z')).toBe(true);
      expect(await store.park(group, 'arn:run-a', '2026-03-01T00:00:05.000Z')).toBe(true);
      expect(await store.park(group, 'arn:run-a', '2026-03-02T00:00:00.000Z')).toBe(false);
      expect(await store.park(group, 'arn:run-b', '2026-03-01T00:00:05.000Z')).toBe(false);
      expect((await store.read([vol(8), vol(99)])).map((l) => l?.parkedAt)).toEqual([
        '2026-03-01T00:00:05.000Z',
        undefined,
      ]);
      // The lock has not expired, yet another run may take it; the redrive then is refused.
      const theirs = locksOf('arn:run-b', 'run-b', [vol(8)], T0);
      expect(await store.acquire(theirs)).toEqual(theirs);
      await expect(store.acquire(locksOf('arn:run-a', 'run-a', group, T0))).rejects.toThrow(
        `volume ${vol(8)} is being backed up by run-b`,
      );
      expect(await store.release([vol(8)], 'arn:run-b')).toEqual({ released: 1 });
      // Once it is free the redrive takes the group back, no longer released.
      expect(await store.acquire(locksOf('arn:run-a', 'run-a', group, T0))).toHaveLength(2);
      expect((await store.read(group)).map((l) => [l?.ownerId, l?.released ?? false])).toEqual([
        ['arn:run-a', false],
        ['arn:run-a', false],
      ]);
    });
  });
}
