/**
 * Lambda "plan-run": the one function of the plan-run state machine (statemachines/plan-run.asl.json).
 * `begin` creates the run record from the plan (core/plans/run-service.ts beginPlanRun), `advance`
 * moves the run as far as it can go now (advanceStoredRun) and says how long to wait, `fail`
 * records a failure past the retries on the run (failStoredRun). `checkRpo`, fired by its own
 * EventBridge Scheduler schedule, runs the RPO check (core/plans/rpo.ts) and writes the
 * ServersRpoBreached metric the "RPO breached" alarm reads.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { metrics } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { SERVERS_RPO_BREACHED_METRIC } from '../core/metrics.ts';
import {
  advanceStoredRun,
  beginPlanRun,
  checkStoredRpo,
  failStoredRun,
  planRunEventSchema,
  type PlanRunFunctionPorts,
  type PlanRunStep,
} from '../core/plans/run-service.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

/** What the `checkRpo` action answers (the invocation's result; Scheduler discards it). */
export interface RpoCheckAnswer {
  readonly watched: number;
  readonly breached: number;
  readonly events: number;
}

/**
 * One ServersRpoBreached datapoint (service dimension only, as the alarm selects it), written on
 * every check, zero included: a check that stops writing is missing data, which the alarm treats
 * as breaching.
 */
export function countServersRpoBreached(count: number): void {
  metrics.singleMetric().addMetric(SERVERS_RPO_BREACHED_METRIC, MetricUnit.Count, count);
}

export function createPlanRunHandler(
  deps: PlanRunFunctionPorts,
  recordBreached: (count: number) => void = countServersRpoBreached,
) {
  return createStepHandler(
    'plan-run',
    planRunEventSchema,
    async (event): Promise<PlanRunStep | RpoCheckAnswer | null> => {
      switch (event.action) {
        case 'begin':
          return beginPlanRun(deps, event.runId, event.input);
        case 'advance': {
          const step = await advanceStoredRun(deps, event.runId);
          if (step.waitSeconds === undefined || deps.maxWaitSeconds === undefined) return step;
          return { ...step, waitSeconds: Math.min(step.waitSeconds, deps.maxWaitSeconds) };
        }
        case 'fail':
          await failStoredRun(deps, event.runId, event.error.Cause ?? event.error.Error ?? 'unknown error');
          return null;
        case 'checkRpo': {
          const result = await checkStoredRpo(deps);
          recordBreached(result.breached);
          return { watched: result.watched, breached: result.breached, events: result.events.length };
        }
      }
    },
  );
}

export const handler = lazyHandler(() => createPlanRunHandler(tracedLambdaWiring().planRun()));
