/**
 * The contract of the RpoStateStore port (lambdas/core/plans/rpo.ts): the servers the RPO check
 * found in breach, one record per server. A put replaces the server's record, a delete of a server
 * not recorded succeeds, and the listing is every record once, in the servers' UTF-8 byte order
 * (DynamoDB's sort-key order). Run against MemoryRpoStateStore (test/fakes) and
 * DynamoDbRpoStateStore on moto (test/plans/rpo-state-store.contract.test.ts); each `make` gives a
 * store never used before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RpoBreachRecord, RpoStateStore } from '../../lambdas/core/plans/rpo.ts';

function breach(server: string, targetMinutes = 60, plan = 'hourly'): RpoBreachRecord {
  return { server, plan, targetMinutes, since: '2026-12-04T02:00:00.000Z' };
}

const utf8Order = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export function rpoStateStoreContract(
  name: string,
  make: () => Promise<RpoStateStore>,
  propertyRuns: number,
): void {
  describe(`RPO state store contract: ${name}`, () => {
    it('lists nothing before the first put', async () => {
      const store = await make();
      expect(await store.list()).toEqual([]);
    });

    it("lists every server once in UTF-8 byte order; a put replaces the server's record", async () => {
      const store = await make();
      await store.put(breach('web-01'));
      await store.put(breach('DB-01', 30, 'strict'));
      await store.put(breach('été'));
      await store.put(breach('web-01', 15, 'tight'));
      expect(await store.list()).toEqual([
        breach('DB-01', 30, 'strict'),
        breach('web-01', 15, 'tight'),
        breach('été'),
      ]);
    });

    it('deletes one server; deleting one not recorded succeeds', async () => {
      const store = await make();
      await store.put(breach('a'));
      await store.put(breach('b'));
      await store.delete('a');
      await store.delete('never-recorded');
      expect(await store.list()).toEqual([breach('b')]);
    });

    it('any sequence of puts and deletes lists as a map keyed by server (property)', async () => {
      const server = fc.constantFrom('DB1', 'DB2', 'web-01', 'Ω-7');
      const op = fc.oneof(
        fc.record({ put: server, minutes: fc.integer({ min: 5, max: 10_080 }) }),
        fc.record({ del: server }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
          const store = await make();
          const model = new Map<string, RpoBreachRecord>();
          for (const o of ops) {
            if ('put' in o) {
              await store.put(breach(o.put, o.minutes));
              model.set(o.put, breach(o.put, o.minutes));
            } else {
              await store.delete(o.del);
              model.delete(o.del);
            }
          }
          const expected = [...model.values()].sort((a, b) => utf8Order(a.server, b.server));
          expect(await store.list()).toEqual(expected);
        }),
        { numRuns: propertyRuns },
      );
    });
  });
}
