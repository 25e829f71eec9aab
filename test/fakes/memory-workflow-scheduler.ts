/**
 * EventBridge Scheduler's schedules of the workflows in memory (WorkflowScheduler). Its contract
 * with SchedulerWorkflowSchedules on the local stack is test/contracts/workflow-scheduler.contract.ts.
 */
import type { WorkflowSchedule, WorkflowScheduler } from '../../lambdas/core/workflows/workflow-service.ts';

export class MemoryWorkflowScheduler implements WorkflowScheduler {
  readonly schedules = new Map<string, WorkflowSchedule>();

  get(name: string): Promise<WorkflowSchedule | undefined> {
    const schedule = this.schedules.get(name);
    return Promise.resolve(schedule === undefined ? undefined : { ...schedule });
  }

  put(schedule: WorkflowSchedule): Promise<void> {
    this.schedules.set(schedule.name, { ...schedule });
    return Promise.resolve();
  }

  delete(name: string): Promise<void> {
    this.schedules.delete(name);
    return Promise.resolve();
  }
}
