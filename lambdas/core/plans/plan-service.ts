/**
 * Managing plans: create, replace, enable/disable and delete a plan record together with its
 * EventBridge Scheduler schedules, so that nothing is ever half-created. The record is the
 * source of truth; schedules are reconciled to it (named `<plan>--<n>`), and a failure while
 * reconciling undoes the record change before the error is passed on.
 */
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { PageRequest, StorePage } from '../api/api-ports.ts';
import type { Clock } from '../ports.ts';
import { syncSchedules, withUndo } from '../util/schedule-sync.ts';
import { parsePlanDocument, planDocumentSchema, type PlanDocument } from './plan-document.ts';

export const PLAN_RECORD_FORMAT_VERSION = 1;

export const planRecordSchema = z.strictObject({
  formatVersion: z.literal(PLAN_RECORD_FORMAT_VERSION),
  name: z.string().min(1),
  document: planDocumentSchema,
  /** 1 on create, +1 on every change; writes are conditional on it. */
  revision: z.number().int().min(1),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type PlanRecord = z.infer<typeof planRecordSchema>;

export interface PlanStore {
  /** ConflictError when a plan with the name exists. */
  create(record: PlanRecord): Promise<void>;
  get(name: string): Promise<PlanRecord | undefined>;
  /** Every plan, ordered by name. */
  list(): Promise<readonly PlanRecord[]>;
  /** One page of plans by name (GET /plans); a store without it is listed and paged in memory. */
  page?(request: PageRequest): Promise<StorePage<PlanRecord>>;
  /** ConflictError when the stored revision is not `expectedRevision`; NotFoundError when absent. */
  replace(record: PlanRecord, expectedRevision: number): Promise<void>;
  /** ConflictError when the stored revision is not `expectedRevision`; absent is success. */
  delete(name: string, expectedRevision: number): Promise<void>;
}

/** One EventBridge Scheduler schedule of a plan. */
export interface PlanSchedule {
  /** `<plan>--<index>`. */
  readonly name: string;
  readonly plan: string;
  readonly expression: string;
  readonly timeZone: string;
  readonly enabled: boolean;
}

export interface PlanScheduler {
  /** Every schedule in the product's schedule group (the engine picks a plan's by name). */
  list(): Promise<readonly PlanSchedule[]>;
  /** Creates the schedule, or updates it when one with the name exists. */
  put(schedule: PlanSchedule): Promise<void>;
  /** Deleting an absent schedule is success. */
  delete(name: string): Promise<void>;
}

export interface PlanServicePorts {
  readonly store: PlanStore;
  readonly scheduler: PlanScheduler;
  readonly clock: Clock;
}

const SCHEDULE_SEPARATOR = '--';

export function scheduleNameOf(plan: string, index: number): string {
  return `${plan}${SCHEDULE_SEPARATOR}${index}`;
}

/** True when `scheduleName` is one of `plan`'s (plan `a` owns `a--0`, not `a--1--0` of plan `a--1`). */
export function isScheduleOf(plan: string, scheduleName: string): boolean {
  const prefix = `${plan}${SCHEDULE_SEPARATOR}`;
  return scheduleName.startsWith(prefix) && /^\d+$/.test(scheduleName.slice(prefix.length));
}

/** The schedules a plan document asks for. */
export function desiredSchedules(document: PlanDocument): PlanSchedule[] {
  return document.schedules.map((schedule, index) => ({
    name: scheduleNameOf(document.name, index),
    plan: document.name,
    expression: schedule.expression,
    timeZone: schedule.timeZone,
    enabled: document.enabled,
  }));
}

/** Makes the plan's schedules exactly `desired`: puts what differs, deletes the rest. */
export async function reconcileSchedules(
  scheduler: PlanScheduler,
  plan: string,
  desired: readonly PlanSchedule[],
): Promise<void> {
  const existing = (await scheduler.list()).filter((s) => isScheduleOf(plan, s.name));
  await syncSchedules(scheduler, existing, desired);
}

async function requirePlan(store: PlanStore, name: string): Promise<PlanRecord> {
  const record = await store.get(name);
  if (record === undefined)
    throw new NotFoundError(`plan ${name} does not exist`, { context: { plan: name } });
  return record;
}

export async function createPlan(ports: PlanServicePorts, raw: unknown): Promise<PlanRecord> {
  const document = parsePlanDocument(raw);
  const now = ports.clock.now().toISOString();
  const record: PlanRecord = {
    formatVersion: PLAN_RECORD_FORMAT_VERSION,
    name: document.name,
    document,
    revision: 1,
    createdAt: now,
    updatedAt: now,
  };
  await ports.store.create(record);
  await withUndo(
    () => reconcileSchedules(ports.scheduler, document.name, desiredSchedules(document)),
    async () => {
      await reconcileSchedules(ports.scheduler, document.name, []);
      await ports.store.delete(document.name, record.revision);
    },
  );
  return record;
}

async function changePlan(
  ports: PlanServicePorts,
  previous: PlanRecord,
  document: PlanDocument,
): Promise<PlanRecord> {
  const record: PlanRecord = {
    ...previous,
    document,
    revision: previous.revision + 1,
    updatedAt: ports.clock.now().toISOString(),
  };
  await ports.store.replace(record, previous.revision);
  await withUndo(
    () => reconcileSchedules(ports.scheduler, document.name, desiredSchedules(document)),
    async () => {
      await ports.store.replace({ ...previous, revision: record.revision + 1 }, record.revision);
      await reconcileSchedules(ports.scheduler, document.name, desiredSchedules(previous.document));
    },
  );
  return record;
}

/** Replaces a plan's document; the name in the document must be the plan's. */
export async function updatePlan(ports: PlanServicePorts, name: string, raw: unknown): Promise<PlanRecord> {
  const document = parsePlanDocument(raw);
  if (document.name !== name) {
    throw new ValidationError(
      `the document names plan ${document.name}, not ${name}; a plan cannot be renamed`,
      {
        context: { plan: name },
      },
    );
  }
  return changePlan(ports, await requirePlan(ports.store, name), document);
}

export async function setPlanEnabled(
  ports: PlanServicePorts,
  name: string,
  enabled: boolean,
): Promise<PlanRecord> {
  const previous = await requirePlan(ports.store, name);
  if (previous.document.enabled === enabled) return previous;
  return changePlan(ports, previous, { ...previous.document, enabled });
}

/** Deletes the schedules first (no run starts for a deleted plan), then the record. */
export async function deletePlan(ports: PlanServicePorts, name: string): Promise<void> {
  const previous = await requirePlan(ports.store, name);
  await reconcileSchedules(ports.scheduler, name, []);
  try {
    await ports.store.delete(name, previous.revision);
  } catch (error) {
    if (error instanceof ConflictError) {
      // Changed meanwhile: put its schedules back as the newer revision wants them.
      const current = await ports.store.get(name);
      if (current !== undefined) {
        await reconcileSchedules(ports.scheduler, name, desiredSchedules(current.document));
      }
    }
    throw error;
  }
}
