/**
 * The daily collection's deletions step (after it takes the fence) on moto, with the deployment's adapters: a volume nothing else
 * touches (no plan, no retention apply) has image a1 whose deletion stopped after its detach (its
 * record still live, its recovery point gone, the detached mark left). The step finishes it: a1's
 * record, id pointer, manifest and mark are gone, a2 of the same volume keeps its record, manifest
 * and point. Every DynamoDB and S3 request of the step is recorded and compared exactly.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore, imagePointerKey } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleCatalog } from '../../lambdas/aws/dynamodb-lifecycle-catalog.ts';
import { DynamoDbGcCoordination } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { DynamoDbRecoveryPointStore } from '../../lambdas/aws/dynamodb-recovery-points.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { runGc } from '../../lambdas/core/lifecycle/gc.ts';
import {
  deleteImage,
  INDEX_BACKFILL_BUDGET,
  type ImageDeletionDeps,
} from '../../lambdas/core/lifecycle/image-deletion.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { ManualClock, MemoryCheckpoints } from '../fakes/memory-lifecycle.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { crashingDeletion } from './image-deletion-crashes.ts';
import { imagePoint } from './plan-points.ts';

const local = useLocalStack();
const TABLE = 'rbp-gc-pending';
const BUCKET = 'rbp-gc-pending';
const VOLUME = 'vol-quiet';
const SERVER = 'srv-quiet';

/** Every request the step sends: DynamoDB with its partition or key, S3 with its key. */
const sent: string[] = [];
let documents: DynamoDBDocumentClient;
let deletion: ImageDeletionDeps;
let s3: S3Client;

function at(day: number): string {
  return new Date(Date.UTC(2026, 2, 1 + day)).toISOString();
}

beforeAll(async () => {
  documents = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), TABLE);
  s3 = new S3Client({ ...local.clientConfig({ maxAttempts: 3 }), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const store = new DynamoDbImageRecordStore(documents, TABLE);
  const points = new DynamoDbRecoveryPointStore(documents, TABLE);
  for (const [n, imageId] of ['a1', 'a2'].entries()) {
    const record = fullImageRecord(VOLUME, imageId, at(n));
    await store.putImageRecord(record, undefined, undefined, { serverId: SERVER });
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: record.manifestKey, Body: 'manifest' }));
    await points.put(imagePoint({ ...record, serverId: SERVER }, undefined));
  }
  await points.backfillImageIndex(INDEX_BACKFILL_BUDGET);

  const counted = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig({ maxAttempts: 3 })));
  counted.middlewareStack.add(
    (next, context) => (args) => {
      const input = args.input as QueryCommandInput & {
        Key?: Record<string, { S?: string }>;
        Item?: Record<string, { S?: string }>;
        TransactItems?: Record<string, { Key?: Record<string, { S?: string }> }>[];
      };
      const where =
        input.Key?.pk?.S ??
        input.Item?.pk?.S ??
        input.TransactItems?.map((t) => {
          const [op, item] = Object.entries(t)[0]!;
          return `${op} ${item.Key?.pk?.S ?? ''} ${item.Key?.sk?.S ?? ''}`;
        }).join(', ') ??
        String((input.ExpressionAttributeValues?.[':pk'] as { S?: string } | undefined)?.S ?? '');
      sent.push(`${context.commandName ?? '?'} ${where}`.trim());
      return next(args);
    },
    { step: 'serialize', name: 'countRequests', priority: 'low' },
  );
  const countedS3 = new S3Client({ ...local.clientConfig({ maxAttempts: 3 }), forcePathStyle: true });
  countedS3.middlewareStack.add(
    (next, context) => (args) => {
      const input = args.input as { Key?: string; Delete?: { Objects?: { Key?: string }[] } };
      const keys = input.Key ?? (input.Delete?.Objects ?? []).map((o) => o.Key).join(',');
      sent.push(`s3 ${context.commandName ?? '?'} ${keys}`);
      return next(args);
    },
    { step: 'initialize', name: 'countS3' },
  );
  deletion = {
    objects: new S3LifecycleObjectStore(countedS3, BUCKET),
    records: new DynamoDbLifecycleImageRecords(counted, TABLE),
    clock: new ManualClock(Date.parse(at(30))),
    catalog: new DynamoDbLifecycleCatalog(counted, TABLE),
    recoveryPoints: new DynamoDbRecoveryPointStore(counted, TABLE),
  };
}, 120_000);

describe('the daily collection finishes an interrupted deletion on moto', () => {
  it('a volume nothing else touches: the exact requests, a1 gone, a2 whole', async () => {
    // deleteImage's calls: getImage, detachImage, then (crash) markDeleting: a1 stays live, detached.
    await expect(deleteImage(crashingDeletion(deletion, 3), VOLUME, 'a1')).rejects.toThrow('injected crash');
    expect((await deletion.records.listVolume(VOLUME)).map((i) => `${i.imageId} ${i.status}`)).toEqual([
      'a1 live',
      'a2 live',
    ]);
    expect(await deletion.recoveryPoints!.listDetached()).toEqual([{ volumeId: VOLUME, imageId: 'a1' }]);

    const gc = {
      objects: deletion.objects,
      records: deletion.records,
      coordination: new DynamoDbGcCoordination(documents, TABLE),
      checkpoints: new MemoryCheckpoints(),
      clock: deletion.clock,
      deletions: deletion,
    };
    // Step 1 takes the collection fence; step 2 is the deletions, under it.
    expect((await runGc(gc, { runId: 'daily-1', maxSteps: 1 })).phase).toBe('deletions');
    sent.length = 0;
    const result = await runGc(gc, { runId: 'daily-1', maxSteps: 1 });
    expect(result.phase).toBe('mark');
    expect(result.counters).toMatchObject({ deletionsFinished: 1, deletionsFailed: 0, deletionsLeft: 0 });
    expect(sent).toEqual([
      // The detached marks (one Query of their partition).
      'QueryCommand RP#DETACHED',
      // a1 (deleteImage): its record (id guard, record: no hold, no lock), its detach (the mark
      // again, its index item, then the points filed under its volume id: none left), the
      // record marked deleting (id guard, update), the manifest, the record and id pointer in one
      // transaction, the mark.
      'GetItemCommand VOLUME#vol-quiet',
      'GetItemCommand VOLUME#vol-quiet',
      'PutItemCommand RP#DETACHED',
      'GetItemCommand RP#IMAGE#vol-quiet#a1',
      'QueryCommand RP#SERVER#vol-quiet',
      'GetItemCommand VOLUME#vol-quiet',
      'UpdateItemCommand VOLUME#vol-quiet',
      's3 DeleteObjectsCommand images/vol-quiet/a1.json',
      'GetItemCommand VOLUME#vol-quiet',
      'TransactWriteItemsCommand Delete VOLUME#vol-quiet IMAGE#2026-03-01T00:00:00.000Z#a1, Delete VOLUME#vol-quiet IMAGEID#a1, Delete VOLUME#BY-ID#a1 POINTER, Delete VOLUME#vol-quiet LINEAGE#replica#2026-03-01T00:00:00.000Z#a1',
      'DeleteItemCommand RP#DETACHED',
      // The fleet's records, for `deleting` ones: the registry and its one volume.
      'QueryCommand VOLUME#~PROTECTED',
      'QueryCommand VOLUME#vol-quiet',
      // The volume's catalog pruning: its registry item, its records, its catalog records.
      'GetItemCommand VOLUME#~PROTECTED',
      'QueryCommand VOLUME#vol-quiet',
      'QueryCommand CI#vol-quiet',
    ]);

    expect((await deletion.records.listVolume(VOLUME)).map((i) => `${i.imageId} ${i.status}`)).toEqual([
      'a2 live',
    ]);
    expect(await deletion.recoveryPoints!.listDetached()).toEqual([]);
    expect(
      (await documents.send(new GetCommand({ TableName: TABLE, Key: imagePointerKey('a1') }))).Item,
    ).toBe(undefined);
    expect((await deletion.recoveryPoints!.listByServer(SERVER)).map((p) => p.recoveryPointId)).toEqual([
      'rp-a2',
    ]);
    expect(await deletion.objects.listPage('images/', undefined, 10)).toMatchObject({
      objects: [{ key: `images/${VOLUME}/a2.json` }],
    });
  });
});
