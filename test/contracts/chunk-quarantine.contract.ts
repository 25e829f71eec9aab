/**
 * The contract of the ChunkQuarantine port (lambdas/core/lifecycle/chunk-quarantine.ts): `add`
 * creates an entry only when the chunk has none (the first entry's volumes stay); `dropVolume`
 * takes one volume out and never creates an entry; `clear` removes it; `list` answers every entry
 * in name order. Run against MemoryChunkQuarantine (test/fakes) and DynamoDbChunkQuarantine on moto
 * (test/lifecycle/lifecycle-ports.contract.test.ts); each `make` gives a store never used before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChunkQuarantine, QuarantineEntry } from '../../lambdas/core/lifecycle/chunk-quarantine.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

function entry(name: string, volumeIds: string[], reason = 'chunk holds data named 00…'): QuarantineEntry {
  return { name, volumeIds, reason, runId: 'scrub-1', foundAt: '2026-12-04T05:00:00.000Z' };
}

export function chunkQuarantineContract(
  name: string,
  make: () => Promise<ChunkQuarantine>,
  propertyRuns: number,
): void {
  describe(`chunk quarantine contract: ${name}`, () => {
    it('adds an entry once; a second add leaves the first as it is', async () => {
      const store = await make();
      expect(await store.list()).toEqual([]);
      expect(await store.add(entry(B, ['vol-2', 'vol-1']))).toBe(true);
      expect(await store.add(entry(A, ['vol-1']))).toBe(true);
      expect(await store.add(entry(B, ['vol-3'], 'missing'))).toBe(false);
      expect(await store.list()).toEqual([entry(A, ['vol-1']), entry(B, ['vol-1', 'vol-2'])]);
    });

    it('drops one volume at a time, down to none; never creates an entry; clear removes it', async () => {
      const store = await make();
      await store.add(entry(A, ['vol-1', 'vol-2']));
      await store.dropVolume(A, 'vol-1');
      await store.dropVolume(A, 'vol-9');
      expect(await store.list()).toEqual([entry(A, ['vol-2'])]);
      await store.dropVolume(A, 'vol-2');
      expect(await store.list()).toEqual([entry(A, [])]);
      await store.dropVolume(B, 'vol-1');
      expect(await store.list()).toEqual([entry(A, [])]);
      await store.clear(A);
      await store.clear(B);
      expect(await store.list()).toEqual([]);
      expect(await store.add(entry(A, ['vol-3']))).toBe(true);
      expect(await store.list()).toEqual([entry(A, ['vol-3'])]);
    });

    it('any sequence of operations behaves as a map of sets (property)', async () => {
      const names = fc.constantFrom(A, B, 'c'.repeat(64));
      const volume = fc.constantFrom('vol-1', 'vol-2', 'vol-3');
      const operation = fc.oneof(
        fc.record({ op: fc.constant('add' as const), name: names, volumes: fc.uniqueArray(volume) }),
        fc.record({ op: fc.constant('drop' as const), name: names, volume }),
        fc.record({ op: fc.constant('clear' as const), name: names }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 8 }), async (operations) => {
          const store = await make();
          const model = new Map<string, string[]>();
          for (const operation of operations) {
            if (operation.op === 'add') {
              const fresh = !model.has(operation.name);
              expect(await store.add(entry(operation.name, operation.volumes))).toBe(fresh);
              if (fresh) model.set(operation.name, [...operation.volumes].sort());
            } else if (operation.op === 'drop') {
              await store.dropVolume(operation.name, operation.volume);
              const volumes = model.get(operation.name);
              if (volumes !== undefined)
                model.set(
                  operation.name,
                  volumes.filter((v) => v !== operation.volume),
                );
            } else {
              await store.clear(operation.name);
              model.delete(operation.name);
            }
          }
          expect(await store.list()).toEqual(
            [...model].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, volumes]) => entry(n, volumes)),
          );
        }),
        { numRuns: propertyRuns },
      );
    });
  });
}
