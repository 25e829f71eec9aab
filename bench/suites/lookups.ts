/**
 * Lookup benchmarks (issue 12, "Constant-time lookups"), on moto with the product table's real
 * shape (keys and GSIs) and the production adapters. Each case measures the same operation at a
 * small and a large count and reports requests per operation (counted on the SDK clients) and the
 * median time; goal: the large case costs at most 1.2 times the small one in both.
 * - `GET /images/{id}` (RecordDirectories.getImage over DynamoDbImageRecordStore) with 10 and
 *   1,000 volumes holding images: two GetItems (the image's pointer, then its record) plus the
 *   catalog-state read, whatever the count (no index Query: moto scans the table for those).
 * - `files versions` of a path (CatalogStoreReader.listVersions over DynamoDbCatalogStore, the
 *   first page of 10 versions in both cases) with 10 and 10,000 versions: the newest listable catalog
 *   record (one Limit-1 Query) and one page of the path's items (one Query).
 * - `GET /plans` (one page of 20 plans by name, pageOfNamedRecords over DynamoDbPlanStore) with 20
 *   and 1,000 plans: one Query whatever the count.
 * - `POST /backups` (StateMachineBackupLauncher over SfnBackupExecutions and the lock table) with 0
 *   and 500 executions of the backup state machine started: one conditional lock write and one
 *   StartExecution; no execution is listed or described. The protected-volume check is a stub here
 *   (it reads EC2 tags, the same at both counts).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CatalogStoreReader, catalogStateOf } from '../../lambdas/core/api/catalog-reader.ts';
import type { CatalogItem, ImageCatalogRecord } from '../../lambdas/core/catalog/catalog-types.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { meta, version } from '../../test/catalog/catalog-fixtures.ts';
import { StateMachineBackupLauncher } from '../../lambdas/core/api/backup-launcher.ts';
import { RecordDirectories } from '../../lambdas/core/api/record-directories.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { DynamoDbBackupLockStore } from '../../lambdas/aws/dynamodb-backup-lock.ts';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbPlanStore } from '../../lambdas/aws/dynamodb-plan-store.ts';
import { pageOfNamedRecords } from '../../lambdas/core/api/pagination.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { PLAN_RECORD_FORMAT_VERSION, type PlanRecord } from '../../lambdas/core/plans/plan-service.ts';
import { SfnBackupExecutions } from '../../lambdas/aws/sfn-backup-executions.ts';
import { startMoto, type MotoServer } from '../../local/moto/moto-server.ts';
import { createProductTable } from '../../local/product-table.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round, timeMs } from '../harness.ts';

/** Operations timed per case: enough for a stable median on a loaded machine. */
const SAMPLES = 21;
/** Versions per page in the files-versions case: all of the small case's 10, one page of the large one. */
const VERSIONS_PAGE_ENTRIES = 10;
/** Ratio of the large case to the small one the issue holds each lookup to. */
const FLAT_GOAL = 1.2;
/** Image records written at once while setting up (moto answers one request at a time anyway). */
const SETUP_CONCURRENCY = 16;
const TABLE = 'rbp-bench-lookups';
/** Version items per putItems call while setting up (the store batches them 25 to a request). */
const VERSION_ITEMS_PER_WRITE = 500;
const REGION = 'us-east-1';
/** Plans per page in the plan-listing case: all of the small case's plans, a page of the large one's. */
const PLAN_PAGE_ENTRIES = 20;

interface Counted {
  requests: number;
}

/** Counts every request a client sends (an initialize-step middleware). */
function counting<T extends { middlewareStack: { add: (...args: never[]) => void } }>(
  client: T,
  counter: Counted,
): T {
  (
    client.middlewareStack as unknown as {
      add: (
        mw: (next: (a: unknown) => Promise<unknown>) => (a: unknown) => Promise<unknown>,
        o: object,
      ) => void;
    }
  ).add(
    (next) => (args) => {
      counter.requests += 1;
      return next(args);
    },
    { step: 'initialize', name: 'benchRequestCounter' },
  );
  return client;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;

const clock: Clock = { now: () => new Date() };

function record(volumeId: string, index: number): ImageRecord {
  const imageId = `img-${volumeId.slice(4)}-${String(index).padStart(4, '0')}`;
  return {
    volumeId,
    imageId,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, index)).toISOString(),
    kind: 'full',
    formatVersion: 1,
    snapshotId: `snap-${imageId.slice(4)}`,
    volumeSizeBytes: 1_073_741_824,
    manifestKey: `images/${volumeId}/${imageId}.json`,
    manifestSha256: 'ab'.repeat(32),
    stats: { chunksCreated: 1, bytesCreated: 1, blocksRead: 1 },
  };
}

async function inBatches<T>(items: readonly T[], run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += SETUP_CONCURRENCY)
    await Promise.all(items.slice(i, i + SETUP_CONCURRENCY).map(run));
}

interface Sample {
  readonly requests: number;
  readonly ms: number;
}

async function sample(counter: Counted, op: (i: number) => Promise<unknown>): Promise<Sample> {
  const requests: number[] = [];
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const before = counter.requests;
    times.push(await timeMs(() => op(i)));
    requests.push(counter.requests - before);
  }
  return { requests: median(requests), ms: median(times) };
}

function flatResults(name: string, small: Sample, large: Sample, sizes: [string, string]): BenchResult[] {
  const requestRatio = large.requests / small.requests;
  const timeRatio = large.ms / small.ms;
  return [
    {
      name: `${name}/requests`,
      value: large.requests,
      unit: 'requests',
      baseline: small.requests,
      ratio: round(requestRatio, 3),
      goal: `<= ${FLAT_GOAL} of ${sizes[0]} (at ${sizes[1]})`,
      met: requestRatio <= FLAT_GOAL,
    },
    {
      name: `${name}/time`,
      value: round(large.ms, 2),
      unit: 'ms',
      baseline: round(small.ms, 2),
      ratio: round(timeRatio, 3),
      goal: `<= ${FLAT_GOAL} of ${sizes[0]} (at ${sizes[1]}; median of ${SAMPLES})`,
      met: timeRatio <= FLAT_GOAL,
    },
  ];
}

async function imageLookups(endpoint: string, counter: Counted): Promise<BenchResult[]> {
  const config = { endpoint, region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
  const ddb = counting(new DynamoDBClient(config), counter);
  await createProductTable(ddb, TABLE);
  const documents = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
  const records = new DynamoDbImageRecordStore(documents, TABLE);
  const directories = new RecordDirectories({
    replicas: { listReplicaVolumes: () => Promise.reject(new Error('getImage must not list volumes')) },
    records,
    cataloged: catalogStateOf(new DynamoDbCatalogStore(documents, TABLE)),
  });
  const volumes = (count: number, from: number) =>
    Array.from({ length: count }, (_, i) => `vol-${String(from + i).padStart(17, '0')}`);
  const small = volumes(10, 0);
  await inBatches(small, (v) => records.putImageRecord(record(v, 1)));
  const smallCase = await sample(counter, (i) =>
    directories.getImage(record(small[i % small.length]!, 1).imageId),
  );
  const large = [...small, ...volumes(990, 10)];
  await inBatches(large.slice(10), (v) => records.putImageRecord(record(v, 1)));
  const largeCase = await sample(counter, (i) =>
    directories.getImage(record(large[(i * 47) % large.length]!, 1).imageId),
  );
  ddb.destroy();
  return flatResults('lookups/get-image', smallCase, largeCase, ['10 volumes', '1,000 volumes']);
}

function versionItem(volumeId: string, index: number): CatalogItem {
  const t = { seconds: 1_767_225_600 + index * 60, nanoseconds: 0 };
  return version(
    record(volumeId, index),
    1,
    '/etc',
    'hosts',
    meta({ size: 100 + index, mtime: t, ctime: t, atime: t }),
  );
}

function catalogRecord(volumeId: string, index: number): ImageCatalogRecord {
  const image = record(volumeId, index);
  const counts = { files: 1, directories: 1, symlinks: 0, others: 0, bytes: 100 };
  const changes = { added: 1, changed: 0, removed: 0, itemsWritten: 1 };
  return {
    volumeId,
    imageId: image.imageId,
    createdAt: image.createdAt,
    version: versionKeyOf(image),
    formatVersion: 1,
    status: 'complete',
    partitions: [{ index: 1, fsType: 'ext4', status: 'complete', counts, changes, errorCount: 0 }],
    counts,
    changes,
    errorCount: 0,
    errors: [],
    warnings: [],
    applicationCount: 0,
  };
}

/** `files versions` of one path with `count` versions (and a catalog record per image). */
async function versionLookups(endpoint: string, counter: Counted): Promise<BenchResult[]> {
  const config = { endpoint, region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
  const ddb = counting(new DynamoDBClient(config), counter);
  const documents = DynamoDBDocumentClient.from(ddb, { marshallOptions: { removeUndefinedValues: true } });
  const catalog = new DynamoDbCatalogStore(documents, TABLE);
  const reader = new CatalogStoreReader({
    store: catalog,
    images: {
      listImages: () => Promise.reject(new Error('files versions must not list images')),
      getImage: () => Promise.reject(new Error('files versions must not look images up')),
    },
  });
  const prepare = async (volumeId: string, count: number) => {
    const indexes = Array.from({ length: count }, (_, i) => i);
    for (let i = 0; i < count; i += VERSION_ITEMS_PER_WRITE)
      await catalog.putItems(
        indexes.slice(i, i + VERSION_ITEMS_PER_WRITE).map((n) => versionItem(volumeId, n)),
      );
    await inBatches(indexes, (n) => catalog.putImageCatalog(catalogRecord(volumeId, n)));
  };
  const few = 'vol-versions0000010';
  const many = 'vol-versions0010000';
  await prepare(few, 10);
  await prepare(many, 10_000);
  // Both cases return the same number of versions (the small case has exactly this many), so the
  // time compares finding the page, not writing twenty times more items into the answer.
  const page = { limit: VERSIONS_PAGE_ENTRIES };
  const fewCase = await sample(counter, () => reader.listVersions(few, '/etc/hosts', undefined, page));
  const manyCase = await sample(counter, () => reader.listVersions(many, '/etc/hosts', undefined, page));
  const shown = await reader.listVersions(many, '/etc/hosts', undefined, page);
  if (shown.items.length !== VERSIONS_PAGE_ENTRIES || shown.nextToken === undefined)
    throw new Error(`files versions gave ${shown.items.length} versions on its first page`);
  ddb.destroy();
  return flatResults('lookups/files-versions', fewCase, manyCase, ['10 versions', '10,000 versions']);
}

/** A small plan record (a daily schedule over the servers named web*). */
function benchPlan(name: string): PlanRecord {
  const at = '2026-03-02T10:00:00.000Z';
  const document = parsePlanDocument({
    name,
    schedules: [{ expression: 'rate(1 day)', timeZone: 'UTC' }],
    activities: [{ servers: 'web*' }],
  });
  return {
    formatVersion: PLAN_RECORD_FORMAT_VERSION,
    name,
    document,
    revision: 1,
    createdAt: at,
    updatedAt: at,
  };
}

/** `GET /plans`: the first page of PLAN_PAGE_ENTRIES plans, with that many and with 1,000 stored. */
async function planListings(endpoint: string, counter: Counted): Promise<BenchResult[]> {
  const config = { endpoint, region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
  const ddb = counting(new DynamoDBClient(config), counter);
  const documents = DynamoDBDocumentClient.from(ddb);
  // Every plan lives in one partition, so each count gets a table of its own.
  const storeWith = async (count: number) => {
    const table = `rbp-bench-plans-${count}`;
    await createProductTable(ddb, table);
    const store = new DynamoDbPlanStore(documents, table);
    await inBatches(
      Array.from({ length: count }, (_, i) => i),
      (i) => store.create(benchPlan(`plan-${String(i).padStart(4, '0')}`)),
    );
    return store;
  };
  const few = await storeWith(PLAN_PAGE_ENTRIES);
  const many = await storeWith(1_000);
  const page = { limit: PLAN_PAGE_ENTRIES };
  const fewCase = await sample(counter, () => pageOfNamedRecords(few, page));
  const manyCase = await sample(counter, () => pageOfNamedRecords(many, page));
  const shown = await pageOfNamedRecords(many, page);
  if (shown.items.length !== PLAN_PAGE_ENTRIES || shown.nextToken === undefined)
    throw new Error(`GET /plans gave ${shown.items.length} plans on its first page`);
  ddb.destroy();
  return flatResults('lookups/plans-page', fewCase, manyCase, [`${PLAN_PAGE_ENTRIES} plans`, '1,000 plans']);
}

async function backupStarts(endpoint: string, counter: Counted): Promise<BenchResult[]> {
  const config = { endpoint, region: REGION, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
  const ddb = counting(new DynamoDBClient(config), counter);
  const sfn = counting(new SFNClient(config), counter);
  const documents = DynamoDBDocumentClient.from(ddb);
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: 'rbp-bench-backup',
      roleArn: 'arn:aws:iam::123456789012:role/bench',
      definition: JSON.stringify({
        StartAt: 'Hold',
        States: { Hold: { Type: 'Wait', Seconds: 86_400, End: true } },
      }),
    }),
  );
  const launcher = new StateMachineBackupLauncher({
    executions: new SfnBackupExecutions(sfn, machine.stateMachineArn!),
    locks: new DynamoDbBackupLockStore(documents, TABLE, clock),
    volumes: { assertProtected: () => Promise.resolve() },
    clock,
  });
  let started = 0;
  const start = () => {
    started += 1;
    const n = String(started).padStart(6, '0');
    return launcher.start({
      backupId: `bk-bench-${n}`,
      volumeId: `vol-b${n.padStart(16, '0')}`,
      full: false,
      trigger: 'api:bench',
    });
  };
  const none = await sample(counter, start);
  // 500 more executions of the state machine, each holding its volume's lock.
  await inBatches(
    Array.from({ length: 500 }, (_, i) => i),
    (i) =>
      sfn.send(
        new StartExecutionCommand({
          stateMachineArn: machine.stateMachineArn,
          name: `bk-running-${String(i).padStart(4, '0')}`,
          input: JSON.stringify({ volumeIds: [`vol-r${String(i).padStart(16, '0')}`] }),
        }),
      ),
  );
  const many = await sample(counter, start);
  ddb.destroy();
  sfn.destroy();
  return flatResults('lookups/post-backups', none, many, ['0 running executions', '500 running']);
}

export const suite: BenchSuite = {
  name: 'lookups',
  async run(): Promise<readonly BenchResult[]> {
    const moto: MotoServer = await startMoto({ callbackPort: 1 });
    try {
      const counter: Counted = { requests: 0 };
      return [
        ...(await imageLookups(moto.endpoint, counter)),
        ...(await versionLookups(moto.endpoint, counter)),
        ...(await planListings(moto.endpoint, counter)),
        ...(await backupStarts(moto.endpoint, counter)),
      ];
    } finally {
      await moto.stop();
    }
  },
};
