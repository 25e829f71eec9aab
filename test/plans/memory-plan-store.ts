/**
 * In-memory PlanStore and PlanScheduler with the semantics the DynamoDB and EventBridge Scheduler
 * adapters must have (conditional create/replace/delete on the revision), and fault injection for
 * the scheduler so tests can check that nothing is left half-created.
 */
import { ConflictError, NotFoundError, RetryableError } from '../../lambdas/core/errors.ts';
import type {
  PlanRecord,
  PlanSchedule,
  PlanScheduler,
  PlanStore,
} from '../../lambdas/core/plans/plan-service.ts';
import type { SettingsStore } from '../../lambdas/core/plans/plan-ports.ts';
import { DEFAULT_SETTINGS, type PlanSettings } from '../../lambdas/core/plans/settings.ts';

export class MemoryPlanStore implements PlanStore {
  readonly records = new Map<string, PlanRecord>();

  create(record: PlanRecord): Promise<void> {
    if (this.records.has(record.name)) {
      return Promise.reject(
        new ConflictError(`plan ${record.name} already exists`, { context: { plan: record.name } }),
      );
    }
    this.records.set(record.name, structuredClone(record));
    return Promise.resolve();
  }

  get(name: string): Promise<PlanRecord | undefined> {
    const record = this.records.get(name);
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }

  list(): Promise<readonly PlanRecord[]> {
    return Promise.resolve(
      [...this.records.values()].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => structuredClone(r)),
    );
  }

  replace(record: PlanRecord, expectedRevision: number): Promise<void> {
    const current = this.records.get(record.name);
    if (current === undefined) return Promise.reject(new NotFoundError(`plan ${record.name} does not exist`));
    if (current.revision !== expectedRevision) {
      return Promise.reject(
        new ConflictError(`plan ${record.name} changed meanwhile (revision ${current.revision})`),
      );
    }
    this.records.set(record.name, structuredClone(record));
    return Promise.resolve();
  }

  delete(name: string, expectedRevision: number): Promise<void> {
    const current = this.records.get(name);
    if (current === undefined) return Promise.resolve();
    if (current.revision !== expectedRevision) {
      return Promise.reject(
        new ConflictError(`plan ${name} changed meanwhile (revision ${current.revision})`),
      );
    }
    this.records.delete(name);
    return Promise.resolve();
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
