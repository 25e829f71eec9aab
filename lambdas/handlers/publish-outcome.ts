/**
 * Lambda "publish-outcome": announces the end of a backup run on EventBridge (`Backup Succeeded`
 * / `Backup Failed`, source `rbp.backup`) and on the SNS topic
 * (core/orchestration/backup-outcome.ts, publishOutcome).
 */
import type { Clock } from '../core/ports.ts';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import {
  BACKUP_SUCCEEDED_METRIC,
  FILE_CATALOGS_DEGRADED_METRIC,
  SERVER_ID_DIMENSION,
} from '../core/metrics.ts';
import { degradedCatalogCount, publishOutcome } from '../core/orchestration/backup-outcome.ts';
import type { EventPublisher, Notifier } from '../core/orchestration/orchestration-ports.ts';
import { publishInputSchema } from '../core/orchestration/step-state.ts';
import { metrics } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export interface PublishOutcomeDeps {
  readonly events: EventPublisher;
  readonly notifier: Notifier;
  readonly clock: Clock;
  /** Counts a committed backup of a server (the RPO alarm's metric); CloudWatch in Lambda. */
  readonly countSuccess?: (serverId: string) => void;
  /** Counts the volumes of a succeeded backup whose catalog failed or is partial (zero included). */
  readonly countDegradedCatalogs?: (count: number) => void;
}

/** One FileCatalogsDegraded datapoint (service=rbp). */
export function countDegradedCatalogsMetric(count: number): void {
  metrics.singleMetric().addMetric(FILE_CATALOGS_DEGRADED_METRIC, MetricUnit.Count, count);
}

/** One BackupSucceeded datapoint with the server's dimension (service=rbp, ServerId=<server>). */
export function countSuccessMetric(serverId: string): void {
  const single = metrics.singleMetric();
  single.addDimension(SERVER_ID_DIMENSION, serverId);
  single.addMetric(BACKUP_SUCCEEDED_METRIC, MetricUnit.Count, 1);
}

export function createPublishOutcomeHandler(deps: PublishOutcomeDeps) {
  return createStepHandler('publish-outcome', publishInputSchema, async (input) => {
    const output = await publishOutcome(deps, input);
    if (input.status === 'SUCCEEDED') {
      deps.countSuccess?.(input.backup.serverId);
      const degraded = degradedCatalogCount(input);
      if (degraded !== undefined) deps.countDegradedCatalogs?.(degraded);
    }
    return output;
  });
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createPublishOutcomeHandler({
    events: wiring.events(),
    notifier: wiring.notifier(),
    clock: wiring.clock,
    countSuccess: countSuccessMetric,
    countDegradedCatalogs: countDegradedCatalogsMetric,
  });
});
