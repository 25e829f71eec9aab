/**
 * The metrics the alarms watch are written with exactly the namespace, name and dimensions the
 * alarms select (lambdas/core/metrics.ts names them once): a CloudWatch alarm matches a metric only
 * when every dimension is equal, so a datapoint with one dimension more or less is never seen.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EmfRecord } from '../support/emf.ts';

const printed: string[] = [];
let handlers: {
  countLifecycleMetric: (name: string, count: number) => void;
  countSuccessMetric: (serverId: string) => void;
  countServersRpoBreached: (count: number) => void;
  countDegradedCatalogsMetric: (count: number) => void;
};

beforeAll(async () => {
  // Powertools writes EMF to the global console in dev mode; metrics stay enabled.
  vi.stubEnv('POWERTOOLS_DEV', 'true');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
    printed.push(String(line));
  });
  const lifecycle = await import('../../lambdas/handlers/lifecycle-job.ts');
  const outcome = await import('../../lambdas/handlers/publish-outcome.ts');
  const planRun = await import('../../lambdas/handlers/plan-run.ts');
  handlers = {
    countLifecycleMetric: lifecycle.countLifecycleMetric,
    countSuccessMetric: outcome.countSuccessMetric,
    countServersRpoBreached: planRun.countServersRpoBreached,
    countDegradedCatalogsMetric: outcome.countDegradedCatalogsMetric,
  };
});

afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** The EMF records printed while `write` ran. */
function emfOf(write: () => void): EmfRecord[] {
  printed.length = 0;
  write();
  return printed.filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as EmfRecord);
}

/** Namespace, metric, dimension names and values of one EMF record. */
function shapeOf(record: EmfRecord) {
  const [directive] = record._aws.CloudWatchMetrics;
  const dimensionNames = directive!.Dimensions.flat();
  return {
    namespace: directive!.Namespace,
    metrics: directive!.Metrics.map((m) => [m.Name, m.Unit, record[m.Name]]),
    dimensions: Object.fromEntries(dimensionNames.map((name) => [name, record[name]])),
  };
}

describe('alarm metrics as the Lambdas write them', () => {
  it('ScrubFindings and RestoreTestFailures carry service=rbp and step=lifecycle-job, as their alarms select', () => {
    const records = emfOf(() => {
      handlers.countLifecycleMetric('ScrubFindings', 3);
      handlers.countLifecycleMetric('RestoreTestFailures', 1);
    });
    expect(records.map(shapeOf)).toEqual([
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['ScrubFindings', 'Count', 3]],
        dimensions: { service: 'rbp', step: 'lifecycle-job' },
      },
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['RestoreTestFailures', 'Count', 1]],
        dimensions: { service: 'rbp', step: 'lifecycle-job' },
      },
    ]);
  });

  it('BackupSucceeded carries service=rbp and the server, as the RPO alarm selects', () => {
    expect(emfOf(() => handlers.countSuccessMetric('web-01')).map(shapeOf)).toEqual([
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['BackupSucceeded', 'Count', 1]],
        dimensions: { service: 'rbp', ServerId: 'web-01' },
      },
    ]);
  });

  it('ServersRpoBreached carries service=rbp only, as PlanRpoBreachedAlarm selects, zero included', () => {
    const records = emfOf(() => {
      handlers.countServersRpoBreached(2);
      handlers.countServersRpoBreached(0);
    });
    expect(records.map(shapeOf)).toEqual([
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['ServersRpoBreached', 'Count', 2]],
        dimensions: { service: 'rbp' },
      },
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['ServersRpoBreached', 'Count', 0]],
        dimensions: { service: 'rbp' },
      },
    ]);
  });

  it('FileCatalogsDegraded carries service=rbp only, as FileCatalogDegradedAlarm selects', () => {
    expect(emfOf(() => handlers.countDegradedCatalogsMetric(2)).map(shapeOf)).toEqual([
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['FileCatalogsDegraded', 'Count', 2]],
        dimensions: { service: 'rbp' },
      },
    ]);
  });
});
