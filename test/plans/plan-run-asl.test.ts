/**
 * statemachines/plan-run.asl.json in aws-local-stepfunctions, its one Lambda played by the real
 * core steps (beginPlanRun, advanceStoredRun, failStoredRun) over the in-memory plan world. Waits
 * take 0 ms; the fake clock moves by each Wait's seconds instead.
 */
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import { describe, expect, it } from 'vitest';
import { PermanentError } from '../../lambdas/core/errors.ts';
import { createPlan } from '../../lambdas/core/plans/plan-service.ts';
import type { PlanEvent } from '../../lambdas/core/plans/run-engine.ts';
import {
  advanceStoredRun,
  beginPlanRun,
  failStoredRun,
  planRunInputSchema,
  planRunStepSchema,
} from '../../lambdas/core/plans/run-service.ts';
import { FakePlanWorld, server } from './fake-plan-ports.ts';
import { MemoryPlanRuns } from '../fakes/memory-plan-runs.ts';
import { MemoryPlanScheduler, MemoryPlanStore } from './memory-plan-store.ts';

const ASL_TEXT = readFileSync(new URL('../../statemachines/plan-run.asl.json', import.meta.url), 'utf8');
const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:PlanRunFunction';

async function runMachine(world: FakePlanWorld, input: unknown, options: { breakAdvance?: boolean } = {}) {
  const plans = new MemoryPlanStore();
  await createPlan(
    { store: plans, scheduler: new MemoryPlanScheduler(), clock: world.clock },
    { name: 'nightly-qa', activities: [{ servers: 'QA*' }] },
  );
  const runs = new MemoryPlanRuns();
  const events: PlanEvent[] = [];
  const publisher = { publish: (e: readonly PlanEvent[]) => Promise.resolve(void events.push(...e)) };
  const ports = { ...world.ports(), runs, events: publisher };
  const waits: number[] = [];
  const lambda = async (payload: {
    action: string;
    runId: string;
    input?: unknown;
    error?: { Cause?: string };
  }) => {
    switch (payload.action) {
      case 'begin':
        return beginPlanRun(
          { plans, runs, clock: world.clock },
          payload.runId,
          planRunInputSchema.parse(payload.input),
        );
      case 'advance': {
        if (options.breakAdvance === true) throw new PermanentError('the backup state machine ARN is wrong');
        const step = planRunStepSchema.parse(await advanceStoredRun(ports, payload.runId));
        if (step.waitSeconds !== undefined) {
          waits.push(step.waitSeconds);
          world.clock.advance(step.waitSeconds);
        }
        return step;
      }
      case 'fail':
        await failStoredRun(
          { runs, events: publisher, clock: world.clock },
          payload.runId,
          payload.error?.Cause ?? '?',
        );
        return {};
      default:
        throw new Error(`unknown action ${payload.action}`);
    }
  };
  const definition = JSON.parse(ASL_TEXT.replaceAll('${PlanRunFunctionArn}', FUNCTION_ARN)) as {
    States: Record<string, Record<string, unknown>>;
  };
  const taskHandlers: Record<string, (input: { FunctionName: string; Payload: never }) => Promise<unknown>> =
    {};
  const waitOverrides: Record<string, number> = {};
  const retryOverrides: Record<string, number> = {};
  for (const [name, state] of Object.entries(definition.States)) {
    if (state['Type'] === 'Wait') waitOverrides[name] = 0;
    if (state['Retry'] !== undefined) retryOverrides[name] = 0;
    if (state['Resource'] === 'arn:aws:states:::lambda:invoke') {
      taskHandlers[name] = async (effective) => {
        try {
          return { Payload: await lambda(effective.Payload) };
        } catch (error) {
          // As Lambda reports a function error: the error name and its message as the cause.
          const e = error as Error;
          throw Object.assign(new Error(e.message), { name: e.name });
        }
      };
    }
  }
  const machine = new StateMachine(definition as never, {
    validationOptions: { checkPaths: true, checkArn: true },
  });
  const execution = machine.run(
    input as never,
    {
      overrides: {
        taskResourceLocalHandlers: taskHandlers,
        waitTimeOverrides: waitOverrides,
        retryIntervalOverrides: retryOverrides,
      },
      context: { Execution: { Id: 'arn:exec', Name: 'pr-1', StartTime: '2026-03-02T01:00:00.000Z' } },
    } as never,
  );
  let outcome: { status: string; output?: unknown; error?: string; cause?: string };
  try {
    outcome = { status: 'SUCCEEDED', output: await execution.result };
  } catch (error) {
    // The library wraps the Fail state's error; its name and cause are the execution's.
    const cause = (error as { cause?: { name?: string; message?: string } }).cause;
    outcome = { status: 'FAILED', error: cause?.name ?? 'Unknown', cause: cause?.message ?? '' };
  }
  return { outcome, run: runs.runs.get('pr-1'), events, waits };
}

describe('statemachines/plan-run.asl.json', () => {
  it('begins, advances through the waits and finishes with the run record Succeeded', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    world.servers = [server('QA1'), server('QA2')];
    world.backupScript = (start) => ({
      polls: 3,
      outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] },
    });
    const { outcome, run, events, waits } = await runMachine(world, {
      plan: 'nightly-qa',
      trigger: 'schedule:nightly-qa--0',
    });
    expect(outcome).toEqual({ status: 'SUCCEEDED', output: { runId: 'pr-1', status: 'Succeeded' } });
    expect(run?.tasks.map((t) => [t.server, t.status, t.backupId])).toEqual([
      ['QA1', 'Succeeded', 'pr-1-t0'],
      ['QA2', 'Succeeded', 'pr-1-t1'],
    ]);
    expect(waits).toEqual([15, 15, 15, 15]);
    expect(events.map((e) => e.detailType)).toEqual(['Plan Run Finished']);
  });

  it('a failure inside Advance Run is recorded on the run (Failed, with the cause) and the execution fails', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    world.servers = [server('QA1')];
    const { outcome, run, events } = await runMachine(
      world,
      { plan: 'nightly-qa', trigger: 'manual' },
      { breakAdvance: true },
    );
    expect(outcome).toEqual({
      status: 'FAILED',
      error: 'PlanRunFailed',
      cause: 'the backup state machine ARN is wrong',
    });
    expect(run).toMatchObject({
      status: 'Failed',
      phase: 'Finished',
      reason: 'the run failed inside the service: the backup state machine ARN is wrong',
    });
    expect(events).toHaveLength(1);
  });

  it('a run of an unknown plan does not start', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    const { outcome, run } = await runMachine(world, { plan: 'gone', trigger: 'manual' });
    expect(outcome).toEqual({
      status: 'FAILED',
      error: 'PlanRunNotStarted',
      cause: 'plan gone does not exist',
    });
    expect(run).toBeUndefined();
  });
});
