/**
 * A commit that waits for a garbage collection is not counted as a failure, and the fence's age is
 * written where CollectionFenceHeldAlarm reads it (lib/constructs/lifecycle-jobs.ts): by the
 * collection after each invocation (0 once released) and by every commit that waits for it.
 * EMF records are read from Powertools' dev-mode console output.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CollectionInProgressError, RetryableError } from '../../lambdas/core/errors.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { ZERO_HASH_HEX } from '../../lambdas/core/image/hashing.ts';
import { EMPTY_IMAGE_STATS, segmentCount } from '../../lambdas/core/image/image-types.ts';
import { rangeSummaryKey, putJsonOnce } from '../../lambdas/core/backup/work-area.ts';
import { startGcRun, type LifecycleJobEvent } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { EmfRecord } from '../support/emf.ts';
// Types only: the modules themselves are imported after the environment is set (beforeAll).
import type * as StepHandlerModule from '../../lambdas/handlers/support/step-handler.ts';
import type * as CommitImageModule from '../../lambdas/handlers/commit-image.ts';
import type * as LifecycleJobModule from '../../lambdas/handlers/lifecycle-job.ts';
import type * as ObservabilityModule from '../../lambdas/aws/observability.ts';
import { testBackupContext } from '../support/backup-context.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { newWorld, writeImage } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

const printed: string[] = [];
let modules: {
  step: typeof StepHandlerModule;
  commit: typeof CommitImageModule;
  lifecycle: typeof LifecycleJobModule;
  observability: typeof ObservabilityModule;
};

beforeAll(async () => {
  // Powertools writes EMF to the global console in dev mode; metrics stay enabled.
  vi.stubEnv('POWERTOOLS_DEV', 'true');
  vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
  vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
    printed.push(String(line));
  });
  modules = {
    step: await import('../../lambdas/handlers/support/step-handler.ts'),
    commit: await import('../../lambdas/handlers/commit-image.ts'),
    lifecycle: await import('../../lambdas/handlers/lifecycle-job.ts'),
    observability: await import('../../lambdas/aws/observability.ts'),
  };
});

afterAll(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** Metric name, unit, value and dimensions of every EMF record printed while `act` ran. */
async function metricsOf(act: () => Promise<unknown>): Promise<unknown[]> {
  printed.length = 0;
  await act().catch(() => undefined);
  return printed
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as EmfRecord)
    .map((record) => {
      const [directive] = record._aws.CloudWatchMetrics;
      return {
        metrics: directive!.Metrics.map((m) => [m.Name, m.Unit, record[m.Name]]),
        dimensions: Object.fromEntries(directive!.Dimensions.flat().map((name) => [name, record[name]])),
      };
    });
}

const STARTED = '2026-03-01T03:00:00.000Z';

describe('waiting for a collection', () => {
  it('the step handler counts it as StepWaiting, not as a retryable failure, and passes the error on', async () => {
    const waiting = new CollectionInProgressError('img-1', 'gc-7', STARTED);
    const handler = modules.step.createStepHandler(
      'commit-image',
      { safeParse: (e: unknown) => ({ success: true, data: e }) } as never,
      () => Promise.reject(waiting),
    );
    let thrown: unknown;
    expect(
      await metricsOf(() =>
        handler({}).catch((e: unknown) => {
          thrown = e;
        }),
      ),
    ).toEqual([
      { metrics: [['StepWaiting', 'Count', 1]], dimensions: { service: 'rbp', step: 'commit-image' } },
    ]);
    expect(thrown).toBe(waiting);

    const failing = modules.step.createStepHandler(
      'commit-image',
      { safeParse: (e: unknown) => ({ success: true, data: e }) } as never,
      () => Promise.reject(new RetryableError('DynamoDB throttled the image record')),
    );
    expect(await metricsOf(() => failing({}))).toEqual([
      { metrics: [['StepRetryableError', 'Count', 1]], dimensions: { service: 'rbp', step: 'commit-image' } },
    ]);
  });

  it('CollectionFenceHeldSeconds is written in seconds with the service dimension only, as its alarm selects', async () => {
    expect(
      await metricsOf(() => {
        modules.observability.recordFenceHeld(4_200);
        return Promise.resolve();
      }),
    ).toEqual([
      { metrics: [['CollectionFenceHeldSeconds', 'Seconds', 4_200]], dimensions: { service: 'rbp' } },
    ]);
  });

  it("a commit refused by the gate reports the fence's age, commits nothing and fails with the waiting message", async () => {
    const work = new MemoryObjectStore();
    const records = new MemoryImageRecordStore();
    const volumeSizeBytes = 1_073_741_824;
    await putJsonOnce(work, rangeSummaryKey('bk-7', 'vol-1', 0), {
      firstBlock: 0,
      endBlock: volumeSizeBytes / 524_288,
      mode: 'full',
      volumeSizeBytes,
      firstSegment: 0,
      segments: Array.from({ length: segmentCount(volumeSizeBytes) }, () => ZERO_HASH_HEX),
      stats: EMPTY_IMAGE_STATS,
      requests: { list: 0, read: 0, retries: 0, integrityFailures: 0 },
    });
    const held: number[] = [];
    const commit = modules.commit.createCommitImageHandler(
      {
        images: new ImageStore(new MemoryObjectStore()),
        records,
        work,
        gc: {
          coordination: {
            getFence: () =>
              Promise.resolve({ epoch: 4, phase: 'collecting', runId: 'gc-7', startedAt: STARTED }),
          },
          objects: {
            get: () => Promise.reject(new Error('not read')),
            getRange: () => Promise.reject(new Error('not read')),
          },
        },
      },
      { record: (seconds) => held.push(seconds), now: () => new Date('2026-03-01T04:10:00.500Z') },
    );
    const backup = testBackupContext({
      backupId: 'bk-7',
      ownerId: 'arn:aws:states:eu-west-1:1:execution:m:bk-7',
      serverId: 'vol-1',
      volumeIds: ['vol-1'],
      startedAt: '2026-03-01T02:00:00.000Z',
    });
    let thrown: unknown;
    const emitted = await metricsOf(() =>
      commit({
        backup,
        plan: {
          volumeId: 'vol-1',
          imageId: 'img-bk-7',
          snapshotId: 'snap-new',
          createdAt: '2026-03-01T02:00:05.000Z',
          rangeCount: 1,
        },
      }).catch((e: unknown) => {
        thrown = e;
      }),
    );
    expect(thrown).toBeInstanceOf(CollectionInProgressError);
    expect((thrown as Error).message).toBe(
      'image img-bk-7 waits for garbage collection gc-7 (started at 2026-03-01T03:00:00.000Z) to finish before it commits',
    );
    expect(held).toEqual([4_200]);
    expect(emitted).toEqual([
      { metrics: [['StepWaiting', 'Count', 1]], dimensions: { service: 'rbp', step: 'commit-image' } },
    ]);
    expect(await records.listImageRecords('vol-1')).toEqual([]);
  });

  it("the collection reports its fence's age after every invocation, and 0 once it has released it", async () => {
    const world = newWorld();
    await writeImage(world, 'vol-1', 'img-1', new Map([[0, 1]]));
    const jobs = new MemoryJobStore('run');
    const run = lifecycleRunDeps(world, jobs);
    const launched: LifecycleJobEvent[] = [];
    const launcher = {
      launch: (event: LifecycleJobEvent) => {
        launched.push(event);
        return Promise.resolve();
      },
    };
    const started = await startGcRun(
      { jobs, clock: world.clock, newRunId: run.newRunId, coordination: world.coordination, launcher },
      { dryRun: false },
    );
    const held: number[] = [];
    const job = modules.lifecycle.createLifecycleJobHandler({
      run,
      relaunch: () => launcher,
      fenceHeld: { fence: world.coordination, record: (seconds) => held.push(seconds) },
    });
    // No time left in any invocation: one batch of steps each, then a hand-over; ten minutes apart.
    const context = { getRemainingTimeInMillis: () => 0, functionName: 'rbp-lifecycle', awsRequestId: 'r' };
    let invocations = 0;
    let output = (await job({ kind: 'gc', runId: started.runId }, context as never)) as { continue: boolean };
    invocations += 1;
    while (output.continue) {
      world.clock.advance(10 * 60 * 1000);
      output = (await job({ kind: 'gc', runId: started.runId }, context as never)) as { continue: boolean };
      invocations += 1;
    }
    expect(invocations).toBeGreaterThan(2);
    expect(held).toEqual([...Array.from({ length: invocations - 1 }, (_, i) => i * 600), 0]);
    expect(await world.coordination.getFence()).toMatchObject({ phase: 'idle' });
  });
});
