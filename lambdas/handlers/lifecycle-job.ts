/**
 * Lambda "lifecycle-job": one garbage collection, scrub or restore test run (lambdas/core/lifecycle/
 * lifecycle-jobs.ts), started by the API (`{kind, runId}`) or by a schedule (`{kind}`: a new run).
 * A collection runs until the invocation's time is nearly up and then invokes this function again
 * for the same run, which resumes from the checkpoint in the job record. A retryable failure is
 * thrown (Lambda's asynchronous retries resume the run); a permanent one ends the job as failed.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import {
  lifecycleJobEventSchema,
  runLifecycleJob,
  type LifecycleJobLauncher,
  type LifecycleRunDeps,
} from '../core/lifecycle/lifecycle-jobs.ts';
import { metrics } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler, type StepHandler } from './support/step-handler.ts';

/** Without a Lambda context (a direct call), a run gets Lambda's 15-minute maximum. */
const DEFAULT_BUDGET_MS = 15 * 60 * 1000;
/** The alarm metric of scrub findings (corrupt or missing objects), in the product's namespace. */
export const SCRUB_FINDINGS_METRIC = 'ScrubFindings';
/** The alarm metric of restore tests: servers whose test failed (or 1 for a test that could not run). */
export const RESTORE_TEST_FAILURES_METRIC = 'RestoreTestFailures';

export interface LifecycleJobHandlerDeps {
  readonly run: LifecycleRunDeps;
  /** Invokes this function again (a collection's next time slice). */
  readonly relaunch: (functionName: string | undefined) => LifecycleJobLauncher | undefined;
}

export function createLifecycleJobHandler(deps: LifecycleJobHandlerDeps): StepHandler<unknown> {
  return (event, context?: Context) =>
    createStepHandler('lifecycle-job', lifecycleJobEventSchema, async (input) => {
      const now = deps.run.clock.now().getTime();
      const deadline = now + (context?.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS);
      const outcome = await runLifecycleJob(deps.run, input, deadline);
      if (outcome.continue) {
        const launcher = deps.relaunch(context?.functionName);
        if (launcher !== undefined) await launcher.launch({ kind: outcome.kind, runId: outcome.run.runId });
      }
      return {
        kind: outcome.kind,
        runId: outcome.run.runId,
        status: outcome.run.status,
        continue: outcome.continue,
      };
    })(event, context);
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  return createLifecycleJobHandler({
    run: {
      ...wiring.lifecycleRunDeps(),
      recordFindings: (count) => metrics.addMetric(SCRUB_FINDINGS_METRIC, MetricUnit.Count, count),
      recordRestoreTestFailures: (count) =>
        metrics.addMetric(RESTORE_TEST_FAILURES_METRIC, MetricUnit.Count, count),
    },
    relaunch: (functionName) =>
      functionName === undefined ? undefined : wiring.lifecycleLauncher(functionName),
  });
});
