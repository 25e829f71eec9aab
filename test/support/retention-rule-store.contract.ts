/**
 * One contract for the RetentionRuleStore port (lambdas/core/lifecycle/retention-apply.ts): a
 * server's stored default rules, read back as written, replaced whole by the next put, never seen
 * under another server. Run against MemoryRetentionRules and the DynamoDB adapter on moto
 * (test/lifecycle/lifecycle-ports.contract.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { RetentionRuleStore, StoredRetention } from '../../lambdas/core/lifecycle/retention-apply.ts';

const FIRST: StoredRetention = {
  serverId: 'web-1',
  rules: { keepLast: 3, keepDaily: 7, keepWithin: '1y6m', minimumAge: '36h' },
  updatedAt: '2026-07-01T00:00:00.000Z',
};
const SECOND: StoredRetention = {
  serverId: 'web-1',
  rules: { keepMonthly: 12 },
  updatedAt: '2026-07-02T00:00:00.000Z',
};

export function retentionRuleStoreContract(name: string, make: () => Promise<RetentionRuleStore>): void {
  describe(`retention rule store contract: ${name}`, () => {
    it('has no rules for a server never given any', async () => {
      const store = await make();
      expect(await store.get('web-1')).toBeUndefined();
    });

    it('reads the rules back as written; the next put replaces them whole', async () => {
      const store = await make();
      await store.put(FIRST);
      expect(await store.get('web-1')).toEqual(FIRST);
      await store.put(SECOND);
      expect(await store.get('web-1')).toEqual(SECOND);
    });

    it("keeps each server's rules apart, ids that share a prefix included", async () => {
      const store = await make();
      await store.put(FIRST);
      await store.put({ ...SECOND, serverId: 'web-10' });
      expect(await store.get('web-1')).toEqual(FIRST);
      expect(await store.get('web-10')).toEqual({ ...SECOND, serverId: 'web-10' });
      expect(await store.get('web')).toBeUndefined();
    });
  });
}
