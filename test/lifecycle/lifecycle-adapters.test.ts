/**
 * The lifecycle adapters on moto through the local stack: DynamoDbLifecycleImageRecords (every
 * record, the deleting mark, the record and its guard removed) seen together with
 * DynamoDbImageRecordStore (a record marked deleting is neither listed nor found), and
 * S3LifecycleObjectStore (ListObjectsV2 pages resumed with StartAfter, ranged GETs, DeleteObjects
 * with absent keys reported deleted, the 1,000-key limit).
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { DynamoDbGcCoordination } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { NotFoundError, RetryableError } from '../../lambdas/core/errors.ts';
import { INITIAL_FENCE } from '../../lambdas/core/lifecycle/gc-fence.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const TABLE = 'rbp-lifecycle';
const BUCKET = 'rbp-lifecycle-images';
let documents: DynamoDBDocumentClient;
let s3: S3Client;

const record = fullImageRecord;

beforeAll(async () => {
  documents = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), TABLE);
  s3 = new S3Client({ ...local.clientConfig({ maxAttempts: 3 }), forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

describe('DynamoDbLifecycleImageRecords', () => {
  it('marks, hides from the image store, and deletes record and guard; idempotent', async () => {
    const store = new DynamoDbImageRecordStore(documents, TABLE);
    const lifecycle = new DynamoDbLifecycleImageRecords(documents, TABLE, () =>
      Promise.resolve(
        new Map<string, string | undefined>([
          ['vol-1', 'srv-1'],
          ['vol-2', undefined],
        ]),
      ),
    );
    await store.putImageRecord(record('vol-1', 'img-1', '2026-03-01T00:00:00.000Z'));
    await store.putImageRecord(record('vol-1', 'img-2', '2026-03-02T00:00:00.000Z'));
    await store.putImageRecord(record('vol-2', 'img-3', '2026-03-03T00:00:00.000Z'));

    const all = await lifecycle.listImages();
    expect(all.map((i) => [i.volumeId, i.imageId, i.status, i.serverId])).toEqual([
      ['vol-1', 'img-1', 'live', 'srv-1'],
      ['vol-1', 'img-2', 'live', 'srv-1'],
      ['vol-2', 'img-3', 'live', undefined],
    ]);
    expect(all[0]).toMatchObject({ manifestKey: 'images/vol-1/img-1.json', source: 'replica' });

    expect(await lifecycle.markDeleting('vol-1', 'img-1')).toBe('marked');
    expect(await lifecycle.markDeleting('vol-1', 'img-1')).toBe('marked');
    expect((await lifecycle.getImage('vol-1', 'img-1')).status).toBe('deleting');
    expect((await store.listImageRecords('vol-1')).map((r) => r.imageId)).toEqual(['img-2']);
    await expect(store.getImageRecord('vol-1', 'img-1')).rejects.toThrow(
      'image img-1 of vol-1 does not exist (it is being deleted)',
    );
    expect((await lifecycle.listVolume('vol-1')).map((i) => [i.imageId, i.status])).toEqual([
      ['img-1', 'deleting'],
      ['img-2', 'live'],
    ]);

    await lifecycle.deleteImage('vol-1', 'img-1');
    await lifecycle.deleteImage('vol-1', 'img-1');
    expect(await lifecycle.markDeleting('vol-1', 'img-1')).toBe('missing');
    await expect(lifecycle.getImage('vol-1', 'img-1')).rejects.toThrow('image img-1 of vol-1 does not exist');
    expect((await lifecycle.listImages()).map((i) => i.imageId)).toEqual(['img-2', 'img-3']);
    // The id is free again: the guard went with the record.
    expect(await store.putImageRecord(record('vol-1', 'img-1', '2026-03-05T00:00:00.000Z'))).toBe('created');
  });
});

describe('S3LifecycleObjectStore', () => {
  it('lists pages resumed after the last key, reads ranges and deletes in batches', async () => {
    const objects = new S3LifecycleObjectStore(s3, BUCKET);
    const keys = Array.from({ length: 7 }, (_, i) => `chunks/${String(i).padStart(2, '0')}`);
    for (const key of [...keys, 'segments/x']) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: Buffer.from(`body of ${key}`) }));
    }
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await objects.listPage('chunks/', after, 3);
      pages += 1;
      seen.push(...page.objects.map((o) => o.key));
      expect(page.objects.every((o) => o.size === `body of ${o.key}`.length)).toBe(true);
      if (!page.isTruncated) break;
      after = page.objects.at(-1)!.key;
    }
    expect(seen).toEqual(keys);
    expect(pages).toBe(3);

    expect(Buffer.from(await objects.getRange('chunks/03', 8, 14)).toString()).toBe('chunks');
    expect(await objects.getRange('chunks/03', 5, 5)).toEqual(new Uint8Array(0));

    const outcome = await objects.deleteObjects(['chunks/00', 'chunks/01', 'chunks/never-written']);
    expect([...outcome.deleted].sort()).toEqual(['chunks/00', 'chunks/01', 'chunks/never-written']);
    expect(outcome.failed).toEqual([]);
    expect((await objects.listPage('chunks/', undefined, 1000)).objects.map((o) => o.key)).toEqual(
      keys.slice(2),
    );
    expect(() => objects.deleteObjects(Array.from({ length: 1001 }, (_, i) => `k${i}`))).toThrow(
      'DeleteObjects takes at most 1000 keys, not 1001',
    );
    await expect(objects.get('chunks/00')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('the commit conditions and the fence on moto', () => {
  it('writes the record under an idle fence, refuses it while a collection holds the fence or the parent is deleting', async () => {
    const store = new DynamoDbImageRecordStore(documents, TABLE);
    const lifecycle = new DynamoDbLifecycleImageRecords(documents, TABLE);
    const fence = new DynamoDbGcCoordination(documents, TABLE);
    const parent = record('vol-gate', 'img-p', '2026-11-01T00:00:00.000Z');
    expect(await store.putImageRecord(parent)).toBe('created');
    const liveParent = { volumeId: 'vol-gate', imageId: 'img-p', createdAt: parent.createdAt };

    // No fence item yet: idle at epoch 0.
    const first = record('vol-gate', 'img-1', '2026-11-02T00:00:00.000Z');
    expect(await store.putImageRecord(first, { fenceEpoch: 0, liveParent })).toBe('created');
    expect(await store.putImageRecord(first, { fenceEpoch: 0, liveParent })).toBe('exists');

    expect(await fence.swapFence(INITIAL_FENCE, { epoch: 1, phase: 'collecting', runId: 'gc-1' })).toBe(true);
    expect(await fence.swapFence(INITIAL_FENCE, { epoch: 1, phase: 'collecting', runId: 'gc-2' })).toBe(
      false,
    );
    const second = record('vol-gate', 'img-2', '2026-11-03T00:00:00.000Z');
    const held = store.putImageRecord(second, { fenceEpoch: 0, liveParent });
    await expect(held).rejects.toThrow(RetryableError);
    await expect(held).rejects.toThrow(
      'image img-2: a garbage collection took the fence while it committed; the commit is retried after it',
    );

    const released = { epoch: 1, phase: 'idle' as const, releasedAt: '2026-11-03T01:00:00.000Z' };
    expect(await fence.swapFence({ epoch: 1, phase: 'collecting', runId: 'gc-1' }, released)).toBe(true);
    expect(await fence.getFence()).toEqual(released);
    await lifecycle.markDeleting('vol-gate', 'img-p');
    const orphan = store.putImageRecord(second, { fenceEpoch: 1, liveParent });
    await expect(orphan).rejects.toThrow(NotFoundError);
    await expect(orphan).rejects.toThrow(
      'image img-2: its parent img-p was deleted while it committed; run the backup again',
    );
    expect(await store.putImageRecord(second, { fenceEpoch: 1 })).toBe('created');
  });
});
