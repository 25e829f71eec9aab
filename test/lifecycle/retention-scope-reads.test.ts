/**
 * What `POST /retention/apply` reads, on moto: a volume scope Queries that volume's image records
 * and no other volume's (nor the registry's partition), a server scope the registry and its own
 * volumes' records only, and a point's other volume is read only because the point names it.
 * Every DynamoDB Query the request makes is recorded with its partition and compared exactly.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleCatalog } from '../../lambdas/aws/dynamodb-lifecycle-catalog.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { DynamoDbRecoveryPointStore } from '../../lambdas/aws/dynamodb-recovery-points.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { INDEX_BACKFILL_BUDGET } from '../../lambdas/core/lifecycle/image-deletion.ts';
import {
  applyRetentionRequest,
  type RetentionApplyDeps,
} from '../../lambdas/core/lifecycle/retention-apply.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { ManualClock, MemoryRetentionRules } from '../fakes/memory-lifecycle.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { imagePoint } from './plan-points.ts';

const local = useLocalStack();
const TABLE = 'rbp-retention-reads';
const BUCKET = 'rbp-retention-reads';
/** Each volume's images, a day apart: vol-a and vol-b are srv-1's, vol-c srv-2's. */
const VOLUMES = { 'vol-a': 'srv-1', 'vol-b': 'srv-1', 'vol-c': 'srv-2' } as const;
const IMAGES_PER_VOLUME = 3;
/** vol-a's newest image and a vol-b image, backed up as one recovery point `rp-pair`. */
const PAIRED_A = 'img-vol-a-2';
const PAIRED_B = 'img-pair-b';

/** The partition (and index) of every Query the counted client sent, in order. */
const queries: string[] = [];
let deps: RetentionApplyDeps;

function at(day: number): string {
  return new Date(Date.UTC(2026, 2, 1 + day)).toISOString();
}

beforeAll(async () => {
  const documents = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), TABLE);
  const s3 = new S3Client({ ...local.clientConfig({ maxAttempts: 3 }), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const store = new DynamoDbImageRecordStore(documents, TABLE);
  const points = new DynamoDbRecoveryPointStore(documents, TABLE);
  for (const [volumeId, serverId] of Object.entries(VOLUMES)) {
    for (let n = 0; n < IMAGES_PER_VOLUME; n += 1) {
      const record = fullImageRecord(volumeId, `img-${volumeId}-${n}`, at(n));
      // Commit Image's write, which registers the volume with its server.
      await store.putImageRecord(record, undefined, undefined, { serverId });
      if (record.imageId !== PAIRED_A) await points.put(imagePoint({ ...record, serverId }, undefined));
    }
  }
  // One point over two volumes: vol-a's newest image and a vol-b image of its own.
  await store.putImageRecord(fullImageRecord('vol-b', PAIRED_B, at(2)), undefined, undefined, {
    serverId: 'srv-1',
  });
  const single = imagePoint(
    { volumeId: 'vol-a', imageId: PAIRED_A, createdAt: at(2), serverId: 'srv-1' },
    undefined,
  );
  await points.put({
    ...single,
    recoveryPointId: 'rp-pair',
    backupId: 'pair',
    images: [...single.images, { ...single.images[0]!, volumeId: 'vol-b', imageId: PAIRED_B }],
  });
  await points.backfillImageIndex(INDEX_BACKFILL_BUDGET);

  const counted = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig({ maxAttempts: 3 })));
  counted.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'QueryCommand') {
        const input = args.input as QueryCommandInput;
        const partition: unknown = input.ExpressionAttributeValues?.[':pk'];
        queries.push(`${input.IndexName ?? 'table'} ${String(partition)}`);
      }
      return next(args);
    },
    { step: 'initialize', name: 'countQueries' },
  );
  const tags = new Map<string, string | undefined>(Object.entries(VOLUMES));
  deps = {
    objects: new S3LifecycleObjectStore(s3, BUCKET),
    records: new DynamoDbLifecycleImageRecords(counted, TABLE, () => Promise.resolve(tags), {
      taggedServerOf: (volumeId) => Promise.resolve(tags.get(volumeId)),
    }),
    clock: new ManualClock(Date.parse(at(30))),
    catalog: new DynamoDbLifecycleCatalog(counted, TABLE),
    recoveryPoints: new DynamoDbRecoveryPointStore(counted, TABLE),
    storedRules: new MemoryRetentionRules(),
  };
}, 120_000);

describe('what POST /retention/apply reads', () => {
  it('a volume scope Queries only that volume’s image records (dry run)', async () => {
    queries.length = 0;
    const result = await applyRetentionRequest(deps, {
      scope: { volume: 'vol-c' },
      rules: { keepLast: 1 },
      dryRun: true,
    });
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual([
      ['img-vol-c-2', 'kept'],
      ['img-vol-c-1', 'would-delete'],
      ['img-vol-c-0', 'would-delete'],
    ]);
    expect(queries).toEqual(['table VOLUME#vol-c']);
  });

  it('a volume scope reads the other volume of a point it holds, and only because the point names it', async () => {
    queries.length = 0;
    const result = await applyRetentionRequest(deps, {
      scope: { volume: 'vol-a' },
      rules: { keepLast: 1 },
      dryRun: true,
    });
    expect(result.images.map((i) => [i.volumeId, i.imageId, i.outcome, i.withRecoveryPoint])).toEqual([
      ['vol-a', PAIRED_A, 'kept', undefined],
      ['vol-b', PAIRED_B, 'kept', 'kept with its recovery point rp-pair'],
      ['vol-a', 'img-vol-a-1', 'would-delete', undefined],
      ['vol-a', 'img-vol-a-0', 'would-delete', undefined],
    ]);
    // vol-b once, for rp-pair's image; vol-c never.
    expect(queries).toEqual(['table VOLUME#vol-a', 'table VOLUME#vol-b']);
  });

  it('a volume scope without rules finds its server from its own records', async () => {
    await deps.storedRules!.put({ serverId: 'srv-2', rules: { keepLast: 2 }, updatedAt: at(0) });
    queries.length = 0;
    const result = await applyRetentionRequest(deps, { scope: { volume: 'vol-c' }, dryRun: true });
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual([
      ['img-vol-c-2', 'kept'],
      ['img-vol-c-1', 'kept'],
      ['img-vol-c-0', 'would-delete'],
    ]);
    // Read once: the server comes from the records the expiry then uses.
    expect(queries).toEqual(['table VOLUME#vol-c']);
  });

  it('a server scope reads the registry and its own volumes; deleting, then pruning', async () => {
    queries.length = 0;
    const result = await applyRetentionRequest(deps, {
      scope: { server: 'srv-2' },
      rules: { keepLast: 1 },
      dryRun: false,
    });
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual([
      ['img-vol-c-2', 'kept'],
      ['img-vol-c-1', 'deleted'],
      ['img-vol-c-0', 'deleted'],
    ]);
    expect(queries).toEqual([
      'table VOLUME#~PROTECTED', // the registry: which volumes are srv-2's
      'table VOLUME#vol-c', // its one volume's records
      'table RP#DETACHED', // deletions a crash left unfinished (srv-2's are finished)
      'table RP#SERVER#srv-2', // points filed under srv-2
      'table VOLUME#vol-c', // the records after the deletions, for catalog pruning
      'table CI#vol-c', // vol-c's catalog records
    ]);
  });
});
