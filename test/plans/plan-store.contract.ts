/** What every PlanStore and SettingsStore must do: run against the in-memory fakes and DynamoDB on moto. */
import { describe, expect, it } from 'vitest';
import { namedRecordStoreContract } from '../support/named-record-store.contract.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { SettingsStore } from '../../lambdas/core/plans/plan-ports.ts';
import {
  PLAN_RECORD_FORMAT_VERSION,
  type PlanRecord,
  type PlanStore,
} from '../../lambdas/core/plans/plan-service.ts';
import { DEFAULT_SETTINGS, type PlanSettings } from '../../lambdas/core/plans/settings.ts';

const CREATED = '2026-03-02T10:00:00.000Z';

export function planRecord(name: string, revision = 1, expression = 'rate(1 day)'): PlanRecord {
  return {
    formatVersion: PLAN_RECORD_FORMAT_VERSION,
    name,
    document: parsePlanDocument({
      name,
      schedules: [{ expression, timeZone: 'Europe/Paris' }],
      activities: [{ servers: ['QA*', 'TEST8'], applications: 'DOMAIN*' }],
    }),
    revision,
    createdAt: CREATED,
    updatedAt: `2026-03-02T10:00:0${revision}.000Z`,
  };
}

/** `makeStore` gives an empty store each call. */
export function planStoreContract(name: string, makeStore: () => Promise<PlanStore>): void {
  namedRecordStoreContract(name, 'plan', makeStore, (plan, revision, variant) =>
    planRecord(plan, revision, variant === 0 ? 'rate(1 day)' : 'rate(3 days)'),
  );
}

export function settingsStoreContract(name: string, makeStore: () => Promise<SettingsStore>): void {
  describe(`SettingsStore contract: ${name}`, () => {
    it('reads the defaults until written, then exactly what was written', async () => {
      const store = await makeStore();
      expect(await store.read()).toEqual(DEFAULT_SETTINGS);
      const disabled: PlanSettings = {
        formatVersion: 1,
        backupsEnabled: false,
        storedBytesCeiling: 5_000_000_000_000,
        updatedAt: CREATED,
      };
      await store.write(disabled);
      expect(await store.read()).toEqual(disabled);
      const enabled: PlanSettings = { formatVersion: 1, backupsEnabled: true, updatedAt: CREATED };
      await store.write(enabled);
      expect(await store.read()).toEqual(enabled);
    });
  });
}
