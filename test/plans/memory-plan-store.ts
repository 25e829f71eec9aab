/**
 * In-memory PlanStore and PlanScheduler with the semantics the DynamoDB and EventBridge Scheduler
 * adapters must have (conditional create/replace/delete on the revision), and fault injection for
 * the scheduler so tests can check that nothing is left half-created.
 */
import { RetryableError } from '../../lambdas/core/errors.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';
import type {
  PlanRecord,
  PlanSchedule,
  PlanScheduler,
  PlanStore,
} from '../../lambdas/core/plans/plan-service.ts';
import type { SettingsStore } from '../../lambdas/core/plans/plan-ports.ts';
import { DEFAULT_SETTINGS, type PlanSettings } from '../../lambdas/core/plans/settings.ts';

/** The in-memory named-record store over plans. */
export class MemoryPlanStore extends MemoryNamedRecords<PlanRecord> implements PlanStore {
  constructor() {
    super('plan');
  }
}

export class MemoryPlanScheduler implements PlanScheduler {
  readonly schedules = new Map<string, PlanSchedule>();
  readonly calls: string[] = [];
  /** Fail the put of a schedule with this name (once per assignment). */
  failPutOf: string | undefined;

  list(): Promise<readonly PlanSchedule[]> {
    return Promise.resolve([...this.schedules.values()]);
  }

  put(schedule: PlanSchedule): Promise<void> {
    this.calls.push(`put ${schedule.name}`);
    if (this.failPutOf === schedule.name) {
      this.failPutOf = undefined;
      return Promise.reject(new RetryableError(`CreateSchedule ${schedule.name}: ServiceUnavailable`));
    }
    this.schedules.set(schedule.name, { ...schedule });
    return Promise.resolve();
  }

  delete(name: string): Promise<void> {
    this.calls.push(`delete ${name}`);
    this.schedules.delete(name);
    return Promise.resolve();
  }
}

export class MemorySettingsStore implements SettingsStore {
  settings: PlanSettings = DEFAULT_SETTINGS;

  read(): Promise<PlanSettings> {
    return Promise.resolve(structuredClone(this.settings));
  }

  write(settings: PlanSettings): Promise<void> {
    this.settings = structuredClone(settings);
    return Promise.resolve();
  }
}
