/**
 * Powertools' logger, metrics and tracer of every Lambda: JSON logs with the step, the product's
 * CloudWatch metrics, and X-Ray tracing of the SDK clients (sdk-clients.ts captures each client).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import type { StepLog } from '../core/ports.ts';
import type { CaptureClient } from './sdk-clients.ts';

/** Service name in logs, metrics and traces. */
export const SERVICE_NAME = 'rbp';
/** CloudWatch namespace of the product's metrics (the dashboard and alarms read it). */
export const METRICS_NAMESPACE = 'ReplicaBackupProxy';

export const logger = new Logger({ serviceName: SERVICE_NAME });
export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
export const tracer = new Tracer({ serviceName: SERVICE_NAME });

/** The core steps' log, written by Powertools' logger. */
export const stepLog: StepLog = {
  info: (message, fields = {}) => logger.info(message, { ...fields }),
  warn: (message, fields = {}) => logger.warn(message, { ...fields }),
};

/** X-Ray tracing of an SDK client (a no-op outside Lambda). */
export const traceClient: CaptureClient = (client) => tracer.captureAWSv3Client(client);
