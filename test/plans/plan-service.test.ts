import { describe, expect, it } from 'vitest';
import {
  ConflictError,
  DocumentValidationError,
  NotFoundError,
  RetryableError,
  ValidationError,
} from '../../lambdas/core/errors.ts';
import {
  createPlan,
  deletePlan,
  isScheduleOf,
  setPlanEnabled,
  updatePlan,
  type PlanServicePorts,
} from '../../lambdas/core/plans/plan-service.ts';
import { FakeClock } from './fake-plan-ports.ts';
import { MemoryPlanScheduler, MemoryPlanStore } from './memory-plan-store.ts';

async function expectError(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => Error,
  message: string,
) {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  expect((error as Error).message).toBe(message);
}

function world() {
  const store = new MemoryPlanStore();
  const scheduler = new MemoryPlanScheduler();
  const clock = new FakeClock(new Date('2026-03-02T10:00:00.000Z'));
  const ports: PlanServicePorts = { store, scheduler, clock };
  return { store, scheduler, clock, ports };
}

const plan = (name: string, schedules: string[] = ['rate(1 day)'], enabled = true) => ({
  name,
  enabled,
  schedules: schedules.map((expression) => ({ expression, timeZone: 'UTC' })),
  activities: [{ servers: 'QA*' }],
});

describe('plan service', () => {
  it('creates the record and one schedule per entry, named <plan>--<n>', async () => {
    const { ports, store, scheduler } = world();
    const record = await createPlan(ports, plan('nightly', ['cron(0 1 * * ? *)', 'rate(12 hours)']));
    expect(record).toMatchObject({
      formatVersion: 1,
      name: 'nightly',
      revision: 1,
      createdAt: '2026-03-02T10:00:00.000Z',
    });
    expect(store.records.get('nightly')).toEqual(record);
    expect([...scheduler.schedules.values()]).toEqual([
      {
        name: 'nightly--0',
        plan: 'nightly',
        expression: 'cron(0 1 * * ? *)',
        timeZone: 'UTC',
        enabled: true,
      },
      { name: 'nightly--1', plan: 'nightly', expression: 'rate(12 hours)', timeZone: 'UTC', enabled: true },
    ]);
  });

  it('a duplicate name is a ConflictError and touches no schedule', async () => {
    const { ports, scheduler } = world();
    await createPlan(ports, plan('nightly'));
    scheduler.calls.length = 0;
    await expectError(
      createPlan(ports, plan('nightly', ['rate(5 minutes)'])),
      ConflictError,
      'plan nightly already exists',
    );
    expect(scheduler.calls).toEqual([]);
    expect(scheduler.schedules.get('nightly--0')?.expression).toBe('rate(1 day)');
  });

  it('an invalid plan creates nothing', async () => {
    const { ports, store, scheduler } = world();
    await expect(
      createPlan(ports, { ...plan('x'), schedules: [{ expression: 'rate(1 days)' }] }),
    ).rejects.toBeInstanceOf(DocumentValidationError);
    expect(store.records.size).toBe(0);
    expect(scheduler.calls).toEqual([]);
  });

  it('a schedule that cannot be created leaves nothing half-created: no record, no schedule', async () => {
    const { ports, store, scheduler } = world();
    scheduler.failPutOf = 'nightly--1';
    await expect(createPlan(ports, plan('nightly', ['rate(1 day)', 'rate(2 days)']))).rejects.toBeInstanceOf(
      RetryableError,
    );
    expect(store.records.size).toBe(0);
    expect(scheduler.schedules.size).toBe(0);
    expect(scheduler.calls).toEqual(['put nightly--0', 'put nightly--1', 'delete nightly--0']);
  });

  it('an update reconciles: changed schedules are put, surplus ones deleted, others untouched', async () => {
    const { ports, scheduler, store } = world();
    await createPlan(ports, plan('nightly', ['rate(1 day)', 'rate(2 days)', 'rate(3 days)']));
    await createPlan(ports, plan('nightly--1', ['rate(1 day)'])); // a plan whose name looks like a schedule
    scheduler.calls.length = 0;
    const record = await updatePlan(ports, 'nightly', plan('nightly', ['rate(1 day)', 'rate(7 days)']));
    expect(record.revision).toBe(2);
    expect(scheduler.calls).toEqual(['put nightly--1', 'delete nightly--2']);
    expect([...scheduler.schedules.keys()].sort()).toEqual(['nightly--0', 'nightly--1', 'nightly--1--0']);
    expect(store.records.get('nightly')?.document.schedules).toHaveLength(2);
  });

  it('a failed update puts the previous record and schedules back', async () => {
    const { ports, scheduler, store } = world();
    await createPlan(ports, plan('nightly', ['rate(1 day)']));
    scheduler.failPutOf = 'nightly--1';
    await expect(
      updatePlan(ports, 'nightly', plan('nightly', ['rate(2 days)', 'rate(3 days)'])),
    ).rejects.toBeInstanceOf(RetryableError);
    expect(store.records.get('nightly')?.document.schedules).toEqual([
      { expression: 'rate(1 day)', timeZone: 'UTC' },
    ]);
    expect([...scheduler.schedules.values()].map((s) => [s.name, s.expression])).toEqual([
      ['nightly--0', 'rate(1 day)'],
    ]);
  });

  it('refuses renaming through an update, and updates of unknown plans', async () => {
    const { ports } = world();
    await createPlan(ports, plan('a'));
    await expectError(
      updatePlan(ports, 'a', plan('b')),
      ValidationError,
      'the document names plan b, not a; a plan cannot be renamed',
    );
    await expectError(updatePlan(ports, 'zzz', plan('zzz')), NotFoundError, 'plan zzz does not exist');
  });

  it('disable and enable switch the schedules; deleting removes schedules and record', async () => {
    const { ports, scheduler, store } = world();
    await createPlan(ports, plan('nightly', ['rate(1 day)']));
    await setPlanEnabled(ports, 'nightly', false);
    expect(scheduler.schedules.get('nightly--0')?.enabled).toBe(false);
    expect(store.records.get('nightly')).toMatchObject({ revision: 2, document: { enabled: false } });
    await setPlanEnabled(ports, 'nightly', true);
    expect(scheduler.schedules.get('nightly--0')?.enabled).toBe(true);
    await deletePlan(ports, 'nightly');
    expect(store.records.size).toBe(0);
    expect(scheduler.schedules.size).toBe(0);
    await expectError(deletePlan(ports, 'nightly'), NotFoundError, 'plan nightly does not exist');
  });

  it('isScheduleOf tells a plan’s schedules from those of a plan with a longer name', () => {
    expect(isScheduleOf('a', 'a--0')).toBe(true);
    expect(isScheduleOf('a', 'a--12')).toBe(true);
    expect(isScheduleOf('a', 'a--1--0')).toBe(false);
    expect(isScheduleOf('a--1', 'a--1--0')).toBe(true);
    expect(isScheduleOf('a', 'ab--0')).toBe(false);
  });
});
