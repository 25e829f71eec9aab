/**
 * One contract for the plan-run store (PlanRunStore, read by the routes as PlanRunReader): a run
 * id names one run for good (createIfAbsent answers the stored run), save replaces, delete is
 * idempotent and frees the id, and a plan's runs list newest first by start time. Run against
 * MemoryPlanRuns and DynamoDbPlanRunStore on moto (test/plans/plan-runs.contract.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { PlanRunReader } from '../../lambdas/core/api/plan-routes.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { PlanRun } from '../../lambdas/core/plans/plan-run.ts';
import { newPlanRun } from '../../lambdas/core/plans/run-engine.ts';

/** A run of `plan` just begun at `startedAt`, by `trigger`. */
export function begunRun(plan: string, runId: string, startedAt: string, trigger = 'api'): PlanRun {
  return newPlanRun({
    runId,
    plan: parsePlanDocument({ name: plan, activities: [{ servers: ['QA*'] }] }),
    trigger,
    startedAt: new Date(startedAt),
  });
}

export function planRunStoreContract(name: string, make: () => Promise<PlanRunReader>): void {
  describe(`plan run store contract: ${name}`, () => {
    it('creates a run once: a second create with the id answers the stored run and changes nothing', async () => {
      const store = await make();
      const first = begunRun('nightly', 'pr-1', '2026-06-01T01:00:00.000Z');
      expect(await store.createIfAbsent(first)).toEqual(first);
      const again = begunRun('nightly', 'pr-1', '2026-06-01T01:00:05.000Z', 'schedule');
      expect(await store.createIfAbsent(again)).toEqual(first);
      expect(await store.get('pr-1')).toEqual(first);
      expect(await store.listForPlan('nightly')).toEqual([first]);
    });

    it('reads an unknown run as undefined; save replaces the stored run', async () => {
      const store = await make();
      expect(await store.get('pr-never')).toBeUndefined();
      const run = begunRun('nightly', 'pr-2', '2026-06-02T01:00:00.000Z');
      await store.createIfAbsent(run);
      const finished: PlanRun = { ...run, status: 'Stopped', phase: 'Finished', reason: 'no server matched' };
      await store.save(finished);
      expect(await store.get('pr-2')).toEqual(finished);
      expect(await store.listForPlan('nightly')).toEqual([finished]);
    });

    it('deletes a run (idempotent, absent ones too) and frees its id', async () => {
      const store = await make();
      await store.createIfAbsent(begunRun('nightly', 'pr-3', '2026-06-03T01:00:00.000Z'));
      await store.delete('pr-3');
      await store.delete('pr-3');
      await store.delete('pr-never');
      expect(await store.get('pr-3')).toBeUndefined();
      expect(await store.listForPlan('nightly')).toEqual([]);
      const reused = begunRun('nightly', 'pr-3', '2026-06-04T01:00:00.000Z');
      expect(await store.createIfAbsent(reused)).toEqual(reused);
    });

    it("lists only the plan's runs, newest start first whatever the ids; an unknown plan has none", async () => {
      const store = await make();
      const runs = [
        begunRun('nightly', 'pr-a', '2026-06-05T03:00:00.000Z'),
        begunRun('nightly', 'pr-z', '2026-06-05T01:00:00.000Z'),
        begunRun('weekly', 'pr-w', '2026-06-05T02:00:00.000Z'),
        begunRun('nightly', 'pr-m', '2026-06-05T02:00:00.000Z'),
      ];
      for (const run of runs) await store.createIfAbsent(run);
      expect((await store.listForPlan('nightly')).map((r) => r.runId)).toEqual(['pr-a', 'pr-m', 'pr-z']);
      expect(await store.listForPlan('weekly')).toEqual([runs[2]]);
      expect(await store.listForPlan('never')).toEqual([]);
    });
  });
}
