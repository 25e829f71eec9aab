/**
 * Progress of a running backup (core/api/backup-progress.ts): the ETA arithmetic and the sample as
 * properties; and GET /backups/{id}'s `progress` on the local stack: a running execution of the
 * Step Functions emulator entered "Copy Ranges", the work bucket in S3 (moto) holds the ranges and
 * summaries exactly as Plan Backup and Copy Range write them, and the launcher reads them with a
 * bounded number of requests.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateStateMachineCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  StartExecutionCommand,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { SfnBackupExecutions } from '../../lambdas/aws/sfn-backup-executions.ts';
import { StateMachineBackupLauncher } from '../../lambdas/core/api/backup-launcher.ts';
import { estimate, evenSample, MAX_RANGE_SUMMARIES_READ } from '../../lambdas/core/api/backup-progress.ts';
import { backupSchema } from '../../lambdas/core/api/schemas.ts';
import { itemsKey, putJsonOnce, rangeSummaryKey } from '../../lambdas/core/backup/work-area.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import type { ObjectStore } from '../../lambdas/core/store/object-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { RestoreService } from '../../lambdas/core/api/restore-service.ts';
import { restoreSchema } from '../../lambdas/core/api/schemas.ts';
import { VOLUME_RESTORE_JOB } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { restoreItemsKey, restoreSegmentRecordKey } from '../../lambdas/core/restore/volume-restore-steps.ts';
import { GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';

describe('estimate (ETA arithmetic)', () => {
  it('is (total − done) × elapsed / done rounded up, 0 when done, absent before any progress', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0.001, max: 1e6, noNaN: true }),
        (total, rawDone, elapsed) => {
          const done = rawDone % (total + 1);
          const { unitsPerSecond, etaSeconds } = estimate(done, total, elapsed);
          if (done === 0) {
            expect(etaSeconds).toBeUndefined();
            expect(unitsPerSecond).toBe(0);
            return;
          }
          expect(unitsPerSecond).toBeCloseTo(done / elapsed, 6);
          if (done === total) {
            expect(etaSeconds).toBe(0);
            return;
          }
          const exact = ((total - done) * elapsed) / done;
          expect(etaSeconds).toBe(Math.ceil(exact));
          // At the same rate the remaining units take no longer than the ETA.
          expect(etaSeconds! * unitsPerSecond).toBeGreaterThanOrEqual(total - done - 1e-6 * total);
        },
      ),
    );
  });

  it('shrinks as more is done in the same time, and grows with the time taken', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        (total, a, elapsed) => {
          const done = 1 + (a % (total - 1));
          const now = estimate(done, total, elapsed).etaSeconds!;
          expect(estimate(done + 1, total, elapsed).etaSeconds!).toBeLessThanOrEqual(now);
          expect(estimate(done, total, elapsed * 2).etaSeconds!).toBeGreaterThanOrEqual(now);
        },
      ),
    );
  });

  it('answers no ETA when no time has passed, and clamps a done beyond the total', () => {
    expect(estimate(5, 10, 0)).toEqual({ unitsPerSecond: 0 });
    expect(estimate(12, 10, 5)).toEqual({ unitsPerSecond: 2, etaSeconds: 0 });
    expect(estimate(1, 4, 10)).toEqual({ unitsPerSecond: 0.1, etaSeconds: 30 });
  });
});

describe('evenSample', () => {
  it('takes every index up to the count, else count distinct sorted indexes with both ends', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 2, max: 200 }), (length, count) => {
        const sample = evenSample(length, count);
        if (length <= count) {
          expect(sample).toEqual(Array.from({ length }, (_, i) => i));
          return;
        }
        expect(sample).toHaveLength(count);
        expect(new Set(sample).size).toBe(count);
        expect(sample[0]).toBe(0);
        expect(sample.at(-1)).toBe(length - 1);
        for (let i = 1; i < sample.length; i += 1) expect(sample[i]!).toBeGreaterThan(sample[i - 1]!);
      }),
    );
  });
});

const local = useLocalStack();
const BUCKET = 'rbp-work-progress';
const VOLUME_A = 'vol-0a0a0a0a0a0a0a0a0';
const VOLUME_B = 'vol-0b0b0b0b0b0b0b0b0';
let sfn: SFNClient;
let s3: S3Client;
let stateMachineArn: string;

/** The real S3 adapter, counting requests by kind; `reset` sets every count back to 0. */
function counting(
  store: ObjectStore,
): ObjectStore & { readonly counts: Record<string, number>; reset(): void } {
  const counts: Record<string, number> = { get: 0, list: 0, put: 0 };
  return {
    counts,
    reset: () => {
      for (const kind of Object.keys(counts)) counts[kind] = 0;
    },
    putIfAbsent: (request) => ((counts['put']! += 1), store.putIfAbsent(request)),
    get: (key) => ((counts['get']! += 1), store.get(key)),
    list: (prefix) => ((counts['list']! += 1), store.list(prefix)),
  };
}

beforeAll(async () => {
  sfn = new SFNClient(local.clientConfig());
  s3 = new S3Client({ ...local.clientConfig(), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: 'rbp-progress-standin',
      roleArn: 'arn:aws:iam::123456789012:role/rbp-standin',
      definition: JSON.stringify({
        StartAt: 'Copy Ranges',
        States: { 'Copy Ranges': { Type: 'Wait', Seconds: 600, End: true } },
      }),
    }),
  );
  stateMachineArn = machine.stateMachineArn!;
}, 120_000);

afterAll(() => {
  sfn?.destroy();
  s3?.destroy();
});

async function startRunning(name: string, volumeIds: readonly string[]): Promise<string> {
  const started = await sfn.send(
    new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify({ volumeIds, full: true }) }),
  );
  // The time "Copy Ranges" was entered, as the history gives it.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn: started.executionArn! }));
    const entered = (history.events ?? []).find((e) => e.stateEnteredEventDetails?.name === 'Copy Ranges');
    if (entered?.timestamp !== undefined) return entered.timestamp.toISOString();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('Copy Ranges was never entered');
}

/** Stops the stand-in execution `startRunning` started. */
async function stopRunning(name: string): Promise<void> {
  await sfn.send(
    new StopExecutionCommand({
      executionArn: new SfnBackupExecutions(sfn, stateMachineArn).executionIdOf(name),
    }),
  );
}

function launcherAt(work: ObjectStore, nowIso: string) {
  const refuse = () => Promise.reject(new Error('not used by describe'));
  return new StateMachineBackupLauncher({
    executions: new SfnBackupExecutions(sfn, stateMachineArn),
    locks: { acquire: refuse, release: refuse },
    volumes: { assertProtected: refuse },
    clock: { now: () => new Date(nowIso) },
    work,
  });
}

/** A range summary with the fields Copy Range writes (range-worker.ts RangeSummary). */
function summary(firstBlock: number, endBlock: number, blocksRead: number, bytesCreated: number) {
  return {
    firstBlock,
    endBlock,
    mode: 'full',
    volumeSizeBytes: 10 * 1024 ** 3,
    firstSegment: firstBlock / 2048,
    segments: [],
    stats: {
      blocksListed: blocksRead,
      blocksRead,
      blocksVanished: 0,
      chunksCreated: blocksRead / 2,
      chunksAlreadyStored: 0,
      chunksReusedFromParent: 0,
      bytesCreated,
      segmentsCreated: 4,
      segmentsReused: 0,
    },
    requests: { list: 1, read: blocksRead, retries: 0, integrityFailures: 0 },
  };
}

const item = (volumeId: string, firstBlock: number, endBlock: number) => ({
  volumeId,
  imageId: `img-${volumeId}`,
  snapshotId: 'snap-0123456789abcdef0',
  firstBlock,
  endBlock,
});

describe('GET /backups/{id} progress on the local stack', () => {
  it('shows ranges, blocks, bytes, throughput and ETA of a two-volume backup as ranges land', async () => {
    const backupId = 'bk-progress-two';
    const copyStartedAt = await startRunning(backupId, [VOLUME_A, VOLUME_B]);
    const work = counting(new S3ObjectStore(s3, BUCKET));
    const at40s = new Date(Date.parse(copyStartedAt) + 40_000).toISOString();
    const launcher = launcherAt(work, at40s);

    // Nothing planned yet: no progress field.
    const before = backupSchema.parse(await launcher.describe(backupId));
    expect(before.status).toBe('RUNNING');
    expect(before.step).toBe('Copy Ranges');
    expect(before.progress).toBeUndefined();

    // Volume A: three ranges (10 GiB: 8,192 + 8,192 + 4,096 blocks); two of them copied.
    await putJsonOnce(work, itemsKey(backupId, VOLUME_A), [
      item(VOLUME_A, 0, 8192),
      item(VOLUME_A, 8192, 16384),
      item(VOLUME_A, 16384, 20480),
    ]);
    await putJsonOnce(work, rangeSummaryKey(backupId, VOLUME_A, 0), summary(0, 8192, 100, 30_000_000));
    await putJsonOnce(
      work,
      rangeSummaryKey(backupId, VOLUME_A, 16384),
      summary(16384, 20480, 50, 10_000_000),
    );
    work.reset();

    const partly = backupSchema.parse(await launcher.describe(backupId));
    expect(partly.progress).toEqual({
      rangesDone: 2,
      rangesTotal: 3,
      volumesPlanned: 1,
      volumes: 2,
      blocksScanned: 12288,
      blocksTotal: 20480,
      blocksCopied: 150,
      bytesCopied: 150 * EBS_BLOCK_SIZE_BYTES,
      bytesStored: 40_000_000,
      elapsedSeconds: 40,
      throughputBytesPerSecond: Math.round((150 * EBS_BLOCK_SIZE_BYTES) / 40),
      // Volume B is not planned: no ETA yet.
      exact: true,
    });
    // Per volume one GET of the items (B: absent) and one LIST; one GET per summary.
    expect(work.counts).toEqual({ get: 2 + 2, list: 1, put: 0 });

    // Volume B planned: one range, not copied. ETA = (24,576 − 12,288) × 40 / 12,288 = 40 s.
    await putJsonOnce(work, itemsKey(backupId, VOLUME_B), [item(VOLUME_B, 0, 4096)]);
    const planned = backupSchema.parse(await launcher.describe(backupId));
    expect(planned.progress).toMatchObject({
      rangesDone: 2,
      rangesTotal: 4,
      volumesPlanned: 2,
      blocksScanned: 12288,
      blocksTotal: 24576,
      etaSeconds: 40,
    });
    await stopRunning(backupId);
  }, 120_000);

  it(`reads at most ${MAX_RANGE_SUMMARIES_READ} summaries and says the figures are extrapolated`, async () => {
    const backupId = 'bk-progress-many';
    const copyStartedAt = await startRunning(backupId, [VOLUME_A]);
    const work = counting(new S3ObjectStore(s3, BUCKET));
    const ranges = 100;
    await putJsonOnce(
      work,
      itemsKey(backupId, VOLUME_A),
      Array.from({ length: ranges }, (_, i) => item(VOLUME_A, i * 8192, (i + 1) * 8192)),
    );
    const done = 80;
    for (let i = 0; i < done; i += 1) {
      await putJsonOnce(
        work,
        rangeSummaryKey(backupId, VOLUME_A, i * 8192),
        summary(i * 8192, (i + 1) * 8192, 10, 1000),
      );
    }
    work.reset();
    const launcher = launcherAt(work, new Date(Date.parse(copyStartedAt) + 80_000).toISOString());
    const backup = backupSchema.parse(await launcher.describe(backupId));
    expect(work.counts).toEqual({ get: 1 + MAX_RANGE_SUMMARIES_READ, list: 1, put: 0 });
    expect(backup.progress).toEqual({
      rangesDone: 80,
      rangesTotal: 100,
      volumesPlanned: 1,
      volumes: 1,
      blocksScanned: 80 * 8192,
      blocksTotal: 100 * 8192,
      // Every summary has 10 blocks: the extrapolation is exact here.
      blocksCopied: 800,
      bytesCopied: 800 * EBS_BLOCK_SIZE_BYTES,
      bytesStored: 80_000,
      elapsedSeconds: 80,
      throughputBytesPerSecond: Math.round((800 * EBS_BLOCK_SIZE_BYTES) / 80),
      etaSeconds: 20,
      exact: false,
    });
    await stopRunning(backupId);
  }, 180_000);
});

describe('GET /restores/{id} progress of a volume restore on the local stack', () => {
  it('counts the segment records as they land: segments, bytes, throughput and ETA', async () => {
    const table = 'rbp-progress-jobs';
    await createCatalogTable(local.clientConfig(), table);
    const ddb = new DynamoDBClient(local.clientConfig());
    const jobs = new DynamoDbJobStore(DynamoDBDocumentClient.from(ddb), table);
    const work = counting(new S3ObjectStore(s3, BUCKET));
    const startedAt = '2026-12-03T08:00:00.000Z';
    const restoreId = 'rs-progress-volume';
    await jobs.create(
      VOLUME_RESTORE_JOB.toRecord({
        restoreId,
        volumeId: VOLUME_A,
        imageId: 'img-a',
        status: 'running',
        createdAt: startedAt,
        updatedAt: startedAt,
        snapshotId: 'snap-0123456789abcdef0',
        snapshotStartedAt: startedAt,
        rangeCount: 2,
      }),
    );
    const service = new RestoreService({
      jobs,
      objects: { presignGet: () => Promise.reject(new Error('unused')) } as never,
      launcher: { launch: () => Promise.resolve() },
      clock: { now: () => new Date(Date.parse(startedAt) + 30_000) },
      keyToken: () => 'x',
      work,
    });
    // Not planned yet: no progress.
    expect(restoreSchema.parse(await service.get(restoreId)).progress).toBeUndefined();
    await putJsonOnce(work, restoreItemsKey(restoreId), [
      { index: 0, firstSegment: 0, segmentCount: 4 },
      { index: 1, firstSegment: 4, segmentCount: 4 },
    ]);
    for (const segment of [0, 1, 4]) {
      await work.putIfAbsent({
        key: restoreSegmentRecordKey(restoreId, segment),
        body: new Uint8Array(32),
        sha256Base64: 'Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=',
      });
    }
    work.reset();
    const restore = restoreSchema.parse(await service.get(restoreId));
    expect(restore.status).toBe('RUNNING');
    expect(restore.progress).toEqual({
      segmentsDone: 3,
      segmentsTotal: 8,
      bytesScanned: 3 * GIB_BYTES,
      bytesTotal: 8 * GIB_BYTES,
      elapsedSeconds: 30,
      throughputBytesPerSecond: Math.round((3 * GIB_BYTES) / 30),
      etaSeconds: 50,
    });
    expect(work.counts).toEqual({ get: 1, list: 1, put: 0 });
    ddb.destroy();
  }, 120_000);
});
