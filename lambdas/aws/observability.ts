/**
 * Powertools' logger and metrics of every Lambda: JSON logs with the step and the product's
 * CloudWatch metrics. X-Ray tracing of the SDK clients is not here but in tracing.ts, which only
 * the control-plane handlers import (lib/function-manifest.ts `xraySdk`): loading the X-Ray SDK
 * installs async hooks that slow every `await` of the process.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { COLLECTION_FENCE_HELD_METRIC, METRICS_NAMESPACE, SERVICE_NAME } from '../core/metrics.ts';
import type { StepLog } from '../core/ports.ts';

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

/** The core steps' log, written by Powertools' logger. */
export const stepLog: StepLog = {
  info: (message, fields = {}) => logger.info(message, { ...fields }),
  warn: (message, fields = {}) => logger.warn(message, { ...fields }),
};

/**
 * One CollectionFenceHeldSeconds datapoint with only the service dimension, as
 * CollectionFenceHeldAlarm selects it (the collection and the waiting commits write the same metric).
 */
export function recordFenceHeld(seconds: number): void {
  metrics.singleMetric().addMetric(COLLECTION_FENCE_HELD_METRIC, MetricUnit.Seconds, seconds);
}
