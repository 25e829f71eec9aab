/** What every PlanScheduler must do: run against the in-memory fake and EventBridge Scheduler on moto. */
import { describe, expect, it } from 'vitest';
import type { PlanSchedule, PlanScheduler } from '../../lambdas/core/plans/plan-service.ts';

const byName = (a: PlanSchedule, b: PlanSchedule) => (a.name < b.name ? -1 : 1);

export function planSchedulerContract(name: string, makeScheduler: () => Promise<PlanScheduler>): void {
  describe(`PlanScheduler contract: ${name}`, () => {
    it('creates, lists exactly what was put, updates in place and deletes (absent is success)', async () => {
      const scheduler = await makeScheduler();
      expect(await scheduler.list()).toEqual([]);
      const first: PlanSchedule = {
        name: 'nightly--0',
        plan: 'nightly',
        expression: 'cron(0 1 * * ? *)',
        timeZone: 'Europe/Paris',
        enabled: true,
      };
      const second: PlanSchedule = {
        name: 'nightly--1',
        plan: 'nightly',
        expression: 'rate(12 hours)',
        timeZone: 'UTC',
        enabled: true,
      };
      await scheduler.put(first);
      await scheduler.put(second);
      expect([...(await scheduler.list())].sort(byName)).toEqual([first, second]);
      const changed = { ...first, expression: 'cron(30 2 ? * MON-FRI *)', enabled: false };
      await scheduler.put(changed);
      expect([...(await scheduler.list())].sort(byName)).toEqual([changed, second]);
      await scheduler.delete('nightly--1');
      await scheduler.delete('nightly--1');
      await scheduler.delete('never-was--0');
      expect(await scheduler.list()).toEqual([changed]);
    });
  });
}
