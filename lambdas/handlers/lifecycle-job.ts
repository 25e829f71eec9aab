/**
 * Lambda "lifecycle-job": one garbage collection, scrub or restore test run (lambdas/core/lifecycle/
 * lifecycle-jobs.ts), started by the API (`{kind, runId}`) or by a schedule (`{kind}`: a new run).
 * A collection or a restore test runs until the invocation's time is nearly up and then invokes
 * this function again for the same run, which resumes from the checkpoint in the job record. A retryable failure is
 * thrown (Lambda's asynchronous retries resume the run); a permanent one ends the job as failed.
 * The function is also its own on-failure destination: the record of an invocation whose every
 * attempt died (timeout, out of memory) ends that job FAILED with the reason (failDeadLifecycleJob).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import {
  deadLifecycleJobSchema,
  failDeadLifecycleJob,
  GC_JOB_KIND,
  RESTORE_TEST_JOB_KIND,
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

const runOrDeadSchema = z.union([deadLifecycleJobSchema, lifecycleJobEventSchema]);

export function createLifecycleJobHandler(deps: LifecycleJobHandlerDeps): StepHandler<unknown> {
  return (event, context?: Context) =>
    createStepHandler('lifecycle-job', runOrDeadSchema, async (input) => {
      if ('requestContext' in input) return failDeadLifecycleJob(deps.run, input);
      const now = deps.run.clock.now().getTime();
      const deadline = now + (context?.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS);
      const outcome = await runLifecycleJob(deps.run, input, deadline, context?.awsRequestId);
      if (outcome.continue) {
        const launcher = deps.relaunch(context?.functionName);
        if (launcher !== undefined) {
          await launcher.launch({
            kind: outcome.kind,
            runId: outcome.run.runId,
            ...((outcome.kind === GC_JOB_KIND || outcome.kind === RESTORE_TEST_JOB_KIND) &&
            outcome.handover !== undefined
              ? { handover: outcome.handover }
              : {}),
          });
        }
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
