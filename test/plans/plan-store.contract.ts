/** What every PlanStore and SettingsStore must do: run against the in-memory fakes and DynamoDB on moto. */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
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

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error;
}

/** `makeStore` gives an empty store each call. */
export function planStoreContract(name: string, makeStore: () => Promise<PlanStore>): void {
  describe(`PlanStore contract: ${name}`, () => {
    it('creates once (a duplicate name is a ConflictError) and reads back exactly what was written', async () => {
      const store = await makeStore();
      await store.create(planRecord('nightly'));
      const duplicate = await rejection(store.create(planRecord('nightly', 1, 'rate(2 days)')));
      expect(duplicate).toBeInstanceOf(ConflictError);
      expect(duplicate.message).toBe('plan nightly already exists');
      expect(await store.get('nightly')).toEqual(planRecord('nightly'));
      expect(await store.get('absent')).toBeUndefined();
    });

    it('lists every plan ordered by name, and nothing when empty', async () => {
      const store = await makeStore();
      expect(await store.list()).toEqual([]);
      for (const n of ['weekly', 'A-first', 'nightly', 'nightly--1', 'b_2'])
        await store.create(planRecord(n));
      expect((await store.list()).map((r) => r.name)).toEqual([
        'A-first',
        'b_2',
        'nightly',
        'nightly--1',
        'weekly',
      ]);
      expect((await store.list())[2]).toEqual(planRecord('nightly'));
    });

    it('replaces only from the expected revision; an absent plan is NotFound', async () => {
      const store = await makeStore();
      await store.create(planRecord('nightly'));
      await store.replace(planRecord('nightly', 2, 'rate(3 days)'), 1);
      expect(await store.get('nightly')).toEqual(planRecord('nightly', 2, 'rate(3 days)'));
      const stale = await rejection(store.replace(planRecord('nightly', 2, 'rate(4 days)'), 1));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toBe('plan nightly changed meanwhile (revision 2)');
      expect(await store.get('nightly')).toEqual(planRecord('nightly', 2, 'rate(3 days)'));
      const absent = await rejection(store.replace(planRecord('absent', 2), 1));
      expect(absent).toBeInstanceOf(NotFoundError);
      expect(absent.message).toBe('plan absent does not exist');
      expect(await store.get('absent')).toBeUndefined();
    });

    it('deletes only at the expected revision; deleting an absent plan succeeds', async () => {
      const store = await makeStore();
      await store.create(planRecord('nightly'));
      await store.replace(planRecord('nightly', 2), 1);
      const stale = await rejection(store.delete('nightly', 1));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toBe('plan nightly changed meanwhile (revision 2)');
      expect(await store.get('nightly')).toEqual(planRecord('nightly', 2));
      await store.delete('nightly', 2);
      expect(await store.get('nightly')).toBeUndefined();
      await store.delete('nightly', 2);
      expect(await store.list()).toEqual([]);
      await store.create(planRecord('nightly'));
      expect(await store.get('nightly')).toEqual(planRecord('nightly'));
    });
  });
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
