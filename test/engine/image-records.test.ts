/**
 * Image records, one contract run against the in-memory fake and the DynamoDB adapter on moto:
 * the record is written once (same record again = success, a different one = conflict), read by
 * image id, listed in time order; a fallback's full-read reason survives every read; the DynamoDB
 * items have the documented shape.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import type { ImageRecord, ImageRecordStore } from '../../lambdas/core/image/image-records.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { fastRetry } from './engine-fixture.ts';
import { localEngine, type LocalEngine } from './local-engine.ts';

function record(imageId: string, createdAt: string, extra: Partial<ImageRecord> = {}): ImageRecord {
  return {
    volumeId: 'vol-records',
    imageId,
    createdAt,
    kind: 'incremental',
    formatVersion: 1,
    snapshotId: `snap-${imageId}`,
    parentImageId: 'img-0',
    parentSnapshotId: 'snap-img-0',
    volumeSizeBytes: 1_073_741_824,
    manifestKey: `images/vol-records/${imageId}.json`,
    manifestSha256: 'ab'.repeat(32),
    stats: { chunksCreated: 3, bytesCreated: 1234, blocksRead: 5 },
    ...extra,
  };
}

function imageRecordContract(name: string, make: () => ImageRecordStore): void {
  describe(`image record store: ${name}`, () => {
    let store: ImageRecordStore;
    beforeAll(() => {
      store = make();
    });

    it('writes a record once; the same record again succeeds; a different one conflicts', async () => {
      const first = record('img-b', '2026-03-01T00:00:00.000Z');
      expect(await store.putImageRecord(first)).toBe('created');
      expect(await store.putImageRecord(first)).toBe('exists');
      const other = await store
        .putImageRecord(record('img-b', '2026-03-02T00:00:00.000Z'))
        .catch((e: unknown) => e);
      expect(other).toBeInstanceOf(ConflictError);
      expect((other as Error).message).toBe('image img-b of vol-records already has a different record');
      expect(await store.getImageRecord('vol-records', 'img-b')).toEqual(first);
    });

    it('says an image without a record does not exist', async () => {
      const error = await store.getImageRecord('vol-records', 'img-none').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe('image img-none of vol-records does not exist');
    });

    it('lists a volume’s images oldest first', async () => {
      const full = record('img-a', '2026-02-01T00:00:00.000Z', { kind: 'full' });
      delete (full as { parentImageId?: string }).parentImageId;
      delete (full as { parentSnapshotId?: string }).parentSnapshotId;
      await store.putImageRecord(full);
      await store.putImageRecord(record('img-c', '2026-04-01T00:00:00.000Z'));
      const listed = await store.listImageRecords('vol-records');
      expect(listed.map((r) => r.imageId)).toEqual(['img-a', 'img-b', 'img-c']);
      expect(listed[0]).toEqual(full);
      expect(await store.listImageRecords('vol-other')).toEqual([]);
    });

    it('finds an image by its id alone, in any volume; an unknown id is undefined', async () => {
      const elsewhere = record('img-x', '2026-05-01T00:00:00.000Z', {
        volumeId: 'vol-retired',
        manifestKey: 'images/vol-retired/img-x.json',
      });
      await store.putImageRecord(elsewhere);
      expect(await store.findImageRecord('img-x')).toEqual(elsewhere);
      expect(await store.findImageRecord('img-b')).toEqual(record('img-b', '2026-03-01T00:00:00.000Z'));
      expect(await store.findImageRecord('img-none')).toBeUndefined();
    });

    it('keeps why an image with a parent was read in full, and its blocks read in full, through every read', async () => {
      const fallback = record('img-f', '2026-06-01T00:00:00.000Z', {
        volumeId: 'vol-fallback',
        kind: 'full',
        manifestKey: 'images/vol-fallback/img-f.json',
        fullReadReason: 'UNRELATED_SNAPSHOTS',
        stats: { chunksCreated: 4, bytesCreated: 4321, blocksRead: 7, blocksReadInFull: 7 },
      });
      delete (fallback as { parentSnapshotId?: string }).parentSnapshotId;
      expect(await store.putImageRecord(fallback)).toBe('created');
      expect(await store.putImageRecord(fallback)).toBe('exists');
      expect(await store.getImageRecord('vol-fallback', 'img-f')).toEqual(fallback);
      expect(await store.listImageRecords('vol-fallback')).toEqual([fallback]);
      expect((await store.pageImageRecords('vol-fallback', { limit: 5 })).records).toEqual([fallback]);
      expect(await store.findImageRecord('img-f')).toEqual(fallback);
      expect(await store.latestImageRecord('vol-fallback', 'replica')).toEqual(fallback);
    });
  });
}

imageRecordContract('in-memory fake', () => new MemoryImageRecordStore());

const local = useLocalStack();
let engine: LocalEngine;
beforeAll(async () => {
  engine = await localEngine(
    local.clientConfig(),
    { bucket: 'rbp-records', table: 'rbp-records' },
    fastRetry(),
  );
});
afterAll(() => engine.destroy());
imageRecordContract('DynamoDB adapter on moto', () => engine.records);

describe('DynamoDB image record items', () => {
  it('have the documented keys and attributes', async () => {
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig()));
    const itemAt = async (pk: string, sk: string) =>
      (await ddb.send(new GetCommand({ TableName: 'rbp-records', Key: { pk, sk } }))).Item;
    const VOLUME = 'VOLUME#vol-records';
    const BY_ID = 'VOLUME#BY-ID#img-b';
    const IMAGE_SK = 'IMAGE#2026-03-01T00:00:00.000Z#img-b';
    const LINEAGE_SK = 'LINEAGE#replica#2026-03-01T00:00:00.000Z#img-b';
    expect(await itemAt(VOLUME, IMAGE_SK)).toEqual({
      pk: VOLUME,
      sk: IMAGE_SK,
      entity: 'image',
      ...record('img-b', '2026-03-01T00:00:00.000Z'),
      gsi2pk: 'IMAGEID#img-b',
      gsi2sk: VOLUME,
    });
    // The id guard, the lineage entry and the by-id pointer the same write leaves.
    const others = [
      { pk: VOLUME, sk: 'IMAGEID#img-b', entity: 'image-id', imageSk: IMAGE_SK, lineageSk: LINEAGE_SK },
      { pk: VOLUME, sk: LINEAGE_SK, entity: 'image-lineage', imageId: 'img-b', imageSk: IMAGE_SK },
      { pk: BY_ID, sk: 'POINTER', entity: 'image-pointer', volumeId: 'vol-records', imageSk: IMAGE_SK },
    ];
    for (const item of others) expect(await itemAt(item.pk, item.sk)).toEqual(item);
    ddb.destroy();
  });
});
