import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { createPlan } from '../../lambdas/core/plans/plan-service.ts';
import type { PlanEvent } from '../../lambdas/core/plans/run-engine.ts';
import {
  advanceStoredRun,
  beginPlanRun,
  planRunIdOf,
  planRunStepSchema,
} from '../../lambdas/core/plans/run-service.ts';
import { FakePlanWorld, server } from './fake-plan-ports.ts';
import { MemoryPlanRuns } from '../fakes/memory-plan-runs.ts';
import { MemoryPlanScheduler, MemoryPlanStore } from './memory-plan-store.ts';

describe('run service', () => {
  it('run ids are time-ordered and fit a backup execution name with their task suffix', () => {
    const id = planRunIdOf(new Date('2026-03-02T01:00:00.123Z'), '0a1b2c3d4e5f6071');
    expect(id).toBe('pr-20260302t010000123z-0a1b2c3d4e5f6071');
    expect(`${id}-t999-a2`.length).toBeLessThanOrEqual(80);
  });

  it('Begin Run creates the record once (idempotent); Advance Run drives it to the end and publishes once', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    world.servers = [server('QA1'), server('QA2')];
    world.backupScript = (start) => ({
      polls: 2,
      outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] },
    });
    const plans = new MemoryPlanStore();
    await createPlan(
      { store: plans, scheduler: new MemoryPlanScheduler(), clock: world.clock },
      {
        name: 'nightly-qa',
        activities: [{ servers: 'QA*' }],
      },
    );
    const runs = new MemoryPlanRuns();
    const published: PlanEvent[] = [];
    const input = { plan: 'nightly-qa', trigger: 'schedule:nightly-qa--0' };
    expect(await beginPlanRun({ plans, runs, clock: world.clock }, 'pr-1', input)).toEqual({
      runId: 'pr-1',
      status: 'Running',
    });
    expect(await beginPlanRun({ plans, runs, clock: world.clock }, 'pr-1', input)).toEqual({
      runId: 'pr-1',
      status: 'Running',
    });
    expect(runs.runs.size).toBe(1);
    const ports = {
      ...world.ports(),
      runs,
      events: { publish: (e: readonly PlanEvent[]) => Promise.resolve(void published.push(...e)) },
    };
    let step = await advanceStoredRun(ports, 'pr-1');
    const steps = [step];
    while (step.waitSeconds !== undefined) {
      world.clock.advance(step.waitSeconds);
      step = planRunStepSchema.parse(await advanceStoredRun(ports, 'pr-1'));
      steps.push(step);
    }
    expect(steps[0]).toEqual({ runId: 'pr-1', status: 'Running', waitSeconds: 15 });
    expect(step).toEqual({ runId: 'pr-1', status: 'Succeeded' });
    expect(published.map((e) => e.detailType)).toEqual(['Plan Run Finished']);
    expect(runs.runs.get('pr-1')?.trigger).toBe('schedule:nightly-qa--0');
    // Another Advance on the finished run publishes nothing more.
    await advanceStoredRun(ports, 'pr-1');
    expect(published).toHaveLength(1);
  });

  it('Begin Run of an unknown plan is NotFoundError', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    const error = await beginPlanRun(
      { plans: new MemoryPlanStore(), runs: new MemoryPlanRuns(), clock: world.clock },
      'pr-2',
      {
        plan: 'gone',
        trigger: 'manual',
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('plan gone does not exist');
  });
});
