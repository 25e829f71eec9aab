/**
 * The contract of the WorkflowScheduler port (lambdas/core/workflows/workflow-service.ts): the one
 * EventBridge Scheduler schedule of a scheduled workflow. What both sides must do: a schedule put
 * reads back exactly (expression, time zone, state, workflow); a second put replaces it
 * (UpdateSchedule); an unknown name reads as undefined (GetSchedule's ResourceNotFoundException);
 * deleting an absent schedule is success
 * (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
 * Run against MemoryWorkflowScheduler and SchedulerWorkflowSchedules on the local stack.
 */
import { describe, expect, it } from 'vitest';
import {
  workflowScheduleName,
  type WorkflowSchedule,
  type WorkflowScheduler,
} from '../../lambdas/core/workflows/workflow-service.ts';

const schedule = (workflow: string, overrides: Partial<WorkflowSchedule> = {}): WorkflowSchedule => ({
  name: workflowScheduleName(workflow),
  workflow,
  expression: 'cron(0 2 * * ? *)',
  timeZone: 'Europe/Paris',
  enabled: true,
  ...overrides,
});

export function workflowSchedulerContract(name: string, open: () => Promise<WorkflowScheduler>): void {
  describe(`WorkflowScheduler contract: ${name}`, () => {
    it('reads back what was put, replaces it in place, and deletes it (absent is success)', async () => {
      const scheduler = await open();
      const nightly = schedule('nightly');
      await scheduler.put(nightly);
      await scheduler.put(schedule('weekly', { expression: 'rate(7 days)', timeZone: 'UTC' }));
      expect(await scheduler.get(nightly.name)).toEqual(nightly);
      const changed = { ...nightly, expression: 'rate(12 hours)', timeZone: 'UTC', enabled: false };
      await scheduler.put(changed);
      expect(await scheduler.get(nightly.name)).toEqual(changed);
      await scheduler.delete(nightly.name);
      await scheduler.delete(nightly.name);
      await scheduler.delete(workflowScheduleName('never-was'));
      expect(await scheduler.get(nightly.name)).toBeUndefined();
      expect(await scheduler.get(workflowScheduleName('weekly'))).toEqual(
        schedule('weekly', { expression: 'rate(7 days)', timeZone: 'UTC' }),
      );
    });

    it('an unknown schedule reads as undefined', async () => {
      const scheduler = await open();
      expect(await scheduler.get(workflowScheduleName('unknown'))).toBeUndefined();
    });
  });
}
