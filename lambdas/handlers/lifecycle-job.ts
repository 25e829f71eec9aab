/**
 * Lambda "lifecycle-job": one garbage collection, scrub or restore test run (lambdas/core/lifecycle/
 * lifecycle-jobs.ts), started by the API (`{kind, runId}`) or by a schedule (`{kind}`: a new run).
 * A collection, a scrub or a restore test runs until the invocation's time is nearly up and then invokes
 * this function again for the same run, which resumes from the checkpoint in the job record. A retryable failure is
 * thrown (Lambda's asynchronous retries resume the run); a permanent one ends the job as failed.
 * The function is also its own on-failure destination: the record of an invocation whose every
 * attempt died (timeout, out of memory) ends that job FAILED with the reason (failDeadLifecycleJob).
 * After each invocation of a collection it writes how long the collection fence has been held
 * (CollectionFenceHeldSeconds, 0 once released), which CollectionFenceHeldAlarm watches.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { z } from 'zod';
import {
  deadLifecycleJobSchema,
  EXPIRE_JOB_KIND,
  failDeadLifecycleJob,
  GC_JOB_KIND,
  lifecycleJobEventSchema,
  RESTORE_TEST_JOB_KIND,
  SCRUB_JOB_KIND,
  runLifecycleJob,
  type LifecycleJobLauncher,
  type LifecycleRunDeps,
} from '../core/lifecycle/lifecycle-jobs.ts';
import {
  GC_COMPLETED_METRIC,
  LIFECYCLE_JOB_STEP,
  LIFECYCLE_JOBS_FAILED_METRIC,
  RESTORE_TEST_COMPLETED_METRIC,
  SCRUB_COMPLETED_METRIC,
  RESTORE_TEST_FAILURES_METRIC,
  SCRUB_FINDINGS_METRIC,
  STEP_DIMENSION,
} from '../core/metrics.ts';
import { fenceHeldSeconds } from '../core/lifecycle/commit-gate.ts';
import type { GcCoordination } from '../core/lifecycle/gc-fence.ts';
import { metrics, recordFenceHeld } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler, type StepHandler } from './support/step-handler.ts';

/**
 * Job kinds whose failure LIFECYCLE_JOBS_FAILED_METRIC counts: a failed scrub is already a finding
 * and a failed restore test a RestoreTestFailures datapoint (lifecycle-jobs.ts counts them).
 */
const COUNTED_AS_FAILED_JOBS: ReadonlySet<string> = new Set([GC_JOB_KIND, EXPIRE_JOB_KIND]);

/** The heartbeat metric of each job kind whose schedule is alarmed on when it stops completing. */
export const COMPLETED_METRICS: Readonly<Record<string, string>> = {
  [GC_JOB_KIND]: GC_COMPLETED_METRIC,
  [SCRUB_JOB_KIND]: SCRUB_COMPLETED_METRIC,
  [RESTORE_TEST_JOB_KIND]: RESTORE_TEST_COMPLETED_METRIC,
};
/** Run statuses that are not an end: the run continues in another invocation. */
const UNFINISHED_STATUSES: ReadonlySet<string> = new Set(['pending', 'running']);

/** Without a Lambda context (a direct call), a run gets Lambda's 15-minute maximum. */
const DEFAULT_BUDGET_MS = 15 * 60 * 1000;

/**
 * One datapoint of a lifecycle alarm's metric (SCRUB_FINDINGS_METRIC, RESTORE_TEST_FAILURES_METRIC)
 * with the dimensions the alarms select (service and step=lifecycle-job): a metric written without
 * the step dimension is another metric, which the alarms never see.
 */
export function countLifecycleMetric(metricName: string, count: number): void {
  const single = metrics.singleMetric();
  single.addDimension(STEP_DIMENSION, LIFECYCLE_JOB_STEP);
  single.addMetric(metricName, MetricUnit.Count, count);
}

export interface LifecycleJobHandlerDeps {
  readonly run: LifecycleRunDeps;
  /** Invokes this function again (a collection's next time slice). */
  readonly relaunch: (functionName: string | undefined) => LifecycleJobLauncher | undefined;
  /** Counts a collection or an expiry that ended failed (LIFECYCLE_JOBS_FAILED_METRIC). */
  readonly recordFailedJob?: (kind: string) => void;
  /**
   * The heartbeat of a GC (not a dry run), scrub or restore test run that ended, whatever its
   * outcome: COMPLETED_METRICS[kind], 1.
   */
  readonly recordCompleted?: (metricName: string) => void;
  /**
   * After every invocation of a collection: how long its fence has been held (0 once released),
   * for CollectionFenceHeldAlarm (docs/lifecycle.md, "No takeover").
   */
  readonly fenceHeld?: {
    readonly fence: Pick<GcCoordination, 'getFence'>;
    readonly record: (seconds: number) => void;
  };
}

const runOrDeadSchema = z.union([deadLifecycleJobSchema, lifecycleJobEventSchema]);

export function createLifecycleJobHandler(deps: LifecycleJobHandlerDeps): StepHandler<unknown> {
  return (event, context?: Context) =>
    createStepHandler(LIFECYCLE_JOB_STEP, runOrDeadSchema, async (input) => {
      if ('requestContext' in input) {
        const dead = await failDeadLifecycleJob(deps.run, input);
        const kind = lifecycleJobEventSchema.safeParse(input.requestPayload).data?.kind;
        if (dead.failed && kind !== undefined && COUNTED_AS_FAILED_JOBS.has(kind))
          deps.recordFailedJob?.(kind);
        return dead;
      }
      const now = deps.run.clock.now().getTime();
      const deadline = now + (context?.getRemainingTimeInMillis?.() ?? DEFAULT_BUDGET_MS);
      const outcome = await runLifecycleJob(deps.run, input, deadline, context?.awsRequestId);
      if (outcome.run.status === 'failed' && COUNTED_AS_FAILED_JOBS.has(outcome.kind)) {
        deps.recordFailedJob?.(outcome.kind);
      }
      const heartbeat = COMPLETED_METRICS[outcome.kind];
      if (
        heartbeat !== undefined &&
        !outcome.continue &&
        !UNFINISHED_STATUSES.has(outcome.run.status) &&
        outcome.run.status !== 'dry-run'
      )
        deps.recordCompleted?.(heartbeat);
      if (outcome.kind === GC_JOB_KIND && deps.fenceHeld !== undefined) {
        const fence = await deps.fenceHeld.fence.getFence();
        deps.fenceHeld.record(fenceHeldSeconds(fence, deps.run.clock.now()));
      }
      if (outcome.continue) {
        const launcher = deps.relaunch(context?.functionName);
        if (launcher !== undefined) {
          await launcher.launch({
            kind: outcome.kind,
            runId: outcome.run.runId,
            ...(outcome.handover === undefined ? {} : { handover: outcome.handover }),
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
      recordFindings: (count) => countLifecycleMetric(SCRUB_FINDINGS_METRIC, count),
      recordRestoreTestFailures: (count) => countLifecycleMetric(RESTORE_TEST_FAILURES_METRIC, count),
    },
    relaunch: (functionName) =>
      functionName === undefined ? undefined : wiring.lifecycleLauncher(functionName),
    recordFailedJob: () => countLifecycleMetric(LIFECYCLE_JOBS_FAILED_METRIC, 1),
    recordCompleted: (metricName) => countLifecycleMetric(metricName, 1),
    fenceHeld: { fence: wiring.gcCoordination(), record: recordFenceHeld },
  });
});
