/**
 * A volume restore's range step counts the PutSnapshotBlock requests EBS throttled: they are
 * retried with backoff (the range still writes every block once) and written as the
 * EbsRequestsThrottled metric, with the same namespace and dimensions as copy-range's.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { restoreRangeSetUp } from './restore-range-fixture.ts';

import type * as VolumeRestoreStep from '../../lambdas/handlers/volume-restore-step.ts';
import type { EmfRecord } from '../support/emf.ts';

const printed: string[] = [];
let handlerModule: typeof VolumeRestoreStep;

beforeAll(async () => {
  // Powertools writes EMF to the global console in dev mode; metrics stay enabled.
  vi.stubEnv('POWERTOOLS_DEV', 'true');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
    printed.push(String(line));
  });
  handlerModule = await import('../../lambdas/handlers/volume-restore-step.ts');
});

afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** Namespace, metrics and dimensions of the printed EMF records that hold `name`. */
function recordsOf(name: string) {
  return printed
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfRecord)
    .filter((record) => record._aws.CloudWatchMetrics[0]!.Metrics.some((m) => m.Name === name))
    .map((record) => {
      const [directive] = record._aws.CloudWatchMetrics;
      return {
        namespace: directive!.Namespace,
        metrics: directive!.Metrics.map((m) => [m.Name, m.Unit, record[m.Name]]),
        dimensions: Object.fromEntries(directive!.Dimensions.flat().map((d) => [d, record[d]])),
      };
    });
}

describe('volume restore throttles', () => {
  it('a range with 3 throttled PutSnapshotBlocks writes every block once and EbsRequestsThrottled = 3', async () => {
    const { deps, writer, addImage, prepare } = restoreRangeSetUp();
    await addImage('img-t', [0, 1, 5, 9, 200]);
    const { job, items } = await prepare('rs-t', 'img-t');
    const handler = handlerModule.createVolumeRestoreStepHandler({
      ...deps,
      onRangeRestored: handlerModule.countRestoreThrottles,
    });
    printed.length = 0;
    writer.throttleNext = 3;
    const output = await handler({ step: 'range', range: items[0]!, job });
    expect(output).toEqual({ index: 0, blocksPut: 10, putRequests: 13, segmentsResumed: 0, throttled: 3 });
    expect(writer.puts.map((p) => p.blockIndex).sort((a, b) => a - b)).toEqual([
      0, 1, 2, 3, 10, 11, 18, 19, 400, 401,
    ]);
    expect(recordsOf('EbsRequestsThrottled')).toEqual([
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['EbsRequestsThrottled', 'Count', 3]],
        dimensions: { service: 'rbp' },
      },
    ]);
  });

  it('a range without throttles writes EbsRequestsThrottled = 0, as copy-range does', async () => {
    const { deps, addImage, prepare } = restoreRangeSetUp();
    await addImage('img-u', [3]);
    const { job, items } = await prepare('rs-u', 'img-u');
    const handler = handlerModule.createVolumeRestoreStepHandler({
      ...deps,
      onRangeRestored: handlerModule.countRestoreThrottles,
    });
    printed.length = 0;
    const output = await handler({ step: 'range', range: items[0]!, job });
    expect(output).toMatchObject({ blocksPut: 2, putRequests: 2, throttled: 0 });
    expect(recordsOf('EbsRequestsThrottled')).toEqual([
      {
        namespace: 'ReplicaBackupProxy',
        metrics: [['EbsRequestsThrottled', 'Count', 0]],
        dimensions: { service: 'rbp' },
      },
    ]);
  });
});
