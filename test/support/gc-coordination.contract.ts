/**
 * One contract for the GcCoordination port (lambdas/core/lifecycle/gc-fence.ts): the collection
 * fence that keeps a sweep from deleting what a committing backup references, and the backups'
 * leases. Run against the in-memory fake and the DynamoDB adapter on moto
 * (test/lifecycle/lifecycle-ports.contract.test.ts); each `make` gives a store never used before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  INITIAL_FENCE,
  type BackupLease,
  type GcCoordination,
  type GcFence,
} from '../../lambdas/core/lifecycle/gc-fence.ts';

const COLLECTING_1: GcFence = {
  epoch: 1,
  phase: 'collecting',
  runId: 'gc-1',
  startedAt: '2026-05-01T02:00:00.000Z',
};
const RELEASED_1: GcFence = {
  epoch: 1,
  phase: 'idle',
  releasedAt: '2026-05-01T03:00:00.000Z',
  lockedGeneration: 4,
};

function lease(backupId: string, epoch: number, phase: GcFence['phase'] = 'idle'): BackupLease {
  return { backupId, startedAt: `2026-05-0${epoch + 1}T01:00:00.000Z`, epoch, phase };
}

function byBackupId(leases: BackupLease[]): BackupLease[] {
  return [...leases].sort((a, b) => (a.backupId < b.backupId ? -1 : 1));
}

/** The fence a swap compares: epoch, phase and holding run. */
function sameFence(a: GcFence, b: GcFence): boolean {
  return a.epoch === b.epoch && a.phase === b.phase && a.runId === b.runId;
}

export function gcCoordinationContract(
  name: string,
  make: () => Promise<GcCoordination>,
  propertyRuns: number,
): void {
  describe(`gc coordination contract: ${name}`, () => {
    it('starts idle at epoch 0 with no leases', async () => {
      const store = await make();
      expect(await store.getFence()).toEqual(INITIAL_FENCE);
      expect(await store.listLeases()).toEqual([]);
    });

    it('swaps the fence only from the fence it holds (epoch, phase and run), keeping every field of the new one', async () => {
      const store = await make();
      expect(await store.swapFence(INITIAL_FENCE, COLLECTING_1)).toBe(true);
      expect(await store.getFence()).toEqual(COLLECTING_1);
      expect(await store.swapFence(INITIAL_FENCE, { ...COLLECTING_1, runId: 'gc-2' })).toBe(false);
      expect(await store.swapFence({ ...COLLECTING_1, runId: 'gc-2' }, RELEASED_1)).toBe(false);
      expect(await store.getFence()).toEqual(COLLECTING_1);
      expect(await store.swapFence(COLLECTING_1, RELEASED_1)).toBe(true);
      expect(await store.getFence()).toEqual(RELEASED_1);
      const next: GcFence = { epoch: 2, phase: 'collecting', runId: 'gc-2' };
      expect(await store.swapFence({ epoch: 1, phase: 'idle' }, next)).toBe(true);
      expect(await store.getFence()).toEqual(next);
    });

    it('keeps one lease per backup (a second put replaces it); deleting is idempotent', async () => {
      const store = await make();
      await store.putLease(lease('bk-2', 0));
      await store.putLease(lease('bk-1', 0));
      await store.putLease(lease('bk-2', 1, 'collecting'));
      expect(byBackupId(await store.listLeases())).toEqual([
        lease('bk-1', 0),
        lease('bk-2', 1, 'collecting'),
      ]);
      await store.deleteLease('bk-1');
      await store.deleteLease('bk-1');
      await store.deleteLease('bk-never');
      expect(await store.listLeases()).toEqual([lease('bk-2', 1, 'collecting')]);
    });

    it('after any sequence of swaps, exactly those from the held fence succeeded', async () => {
      const fences: GcFence[] = [
        INITIAL_FENCE,
        COLLECTING_1,
        RELEASED_1,
        { epoch: 2, phase: 'collecting', runId: 'gc-2' },
        { epoch: 2, phase: 'collecting', runId: 'gc-3' },
      ];
      const swap = fc.record({ from: fc.constantFrom(...fences), to: fc.constantFrom(...fences) });
      await fc.assert(
        fc.asyncProperty(fc.array(swap, { maxLength: 6 }), async (swaps) => {
          const store = await make();
          let held = INITIAL_FENCE;
          for (const { from, to } of swaps) {
            const expected = sameFence(from, held);
            expect(await store.swapFence(from, to)).toBe(expected);
            if (expected) held = to;
          }
          expect(await store.getFence()).toEqual(held);
        }),
        { numRuns: propertyRuns },
      );
    });
  });
}
