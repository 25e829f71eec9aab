/**
 * Lambda "plan-run": the one function of the plan-run state machine (statemachines/plan-run.asl.json).
 * `begin` creates the run record from the plan (core/plans/run-service.ts beginPlanRun), `advance`
 * moves the run as far as it can go now (advanceStoredRun) and says how long to wait, `fail`
 * records a failure past the retries on the run (failStoredRun).
 */
import { tracedLambdaWiring } from '../aws/tracing.ts';
import {
  advanceStoredRun,
  beginPlanRun,
  failStoredRun,
  planRunEventSchema,
  type PlanRunFunctionPorts,
  type PlanRunStep,
} from '../core/plans/run-service.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export function createPlanRunHandler(deps: PlanRunFunctionPorts) {
  return createStepHandler('plan-run', planRunEventSchema, async (event): Promise<PlanRunStep | null> => {
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
    }
  });
}

export const handler = lazyHandler(() => createPlanRunHandler(tracedLambdaWiring().planRun()));
