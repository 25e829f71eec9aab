/**
 * The shape every state-machine Lambda shares: parse the event with zod (a bad event is a
 * ValidationError, never a crash deep inside), run one core operation, log and count the outcome
 * with Powertools, and let the error's class name reach Step Functions as the error name that the
 * ASL's Retry and Catch match.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import {
  CollectionInProgressError,
  describeError,
  isRetryable,
  RbpError,
  ValidationError,
} from '../../core/errors.ts';
import {
  STEP_DIMENSION,
  STEP_FAILED_METRIC,
  STEP_RETRYABLE_ERROR_METRIC,
  STEP_SUCCEEDED_METRIC,
  STEP_WAITING_METRIC,
} from '../../core/metrics.ts';
import { logger, metrics } from '../../aws/observability.ts';
import { zodProblems } from '../../aws/wiring.ts';

export type StepHandler<O> = (event: unknown, context?: Context) => Promise<O>;

export function createStepHandler<I, O>(
  step: string,
  schema: z.ZodType<I>,
  run: (input: I) => Promise<O>,
): StepHandler<O> {
  return async (event, context) => {
    if (context !== undefined) logger.addContext(context);
    logger.appendKeys({ step });
    // One metric object per invocation: the local gateway runs many invocations of one module at
    // once, and dimensions added to the shared object would leak between them.
    const stepMetric = metrics.singleMetric();
    stepMetric.addDimension(STEP_DIMENSION, step);
    try {
      const parsed = schema.safeParse(event);
      if (!parsed.success) throw new ValidationError(`${step}: invalid event: ${zodProblems(parsed.error)}`);
      const output = await run(parsed.data);
      stepMetric.addMetric(STEP_SUCCEEDED_METRIC, MetricUnit.Count, 1);
      logger.info(`${step} succeeded`);
      return output;
    } catch (error) {
      if (error instanceof CollectionInProgressError) {
        // Waiting for a collection is not a failure: counted apart, logged at info.
        stepMetric.addMetric(STEP_WAITING_METRIC, MetricUnit.Count, 1);
        logger.info(`${step} waits: ${error.message}`, {
          errorName: error.name,
          errorContext: error.context,
        });
        throw error;
      }
      stepMetric.addMetric(
        isRetryable(error) ? STEP_RETRYABLE_ERROR_METRIC : STEP_FAILED_METRIC,
        MetricUnit.Count,
        1,
      );
      logger.error(`${step} failed: ${describeError(error)}`, {
        errorName: error instanceof Error ? error.name : typeof error,
        ...(error instanceof RbpError ? { errorContext: error.context } : {}),
      });
      throw error;
    } finally {
      metrics.publishStoredMetrics();
      logger.removeKeys(['step']);
    }
  };
}

/**
 * A handler whose dependencies are built on the first call, not at import: the local gateway
 * imports handlers before it sets the endpoint variables, and tests inject their own.
 */
export function lazyHandler<O>(build: () => StepHandler<O>): StepHandler<O> {
  let built: StepHandler<O> | undefined;
  return (event, context) => {
    built ??= build();
    return built(event, context);
  };
}
