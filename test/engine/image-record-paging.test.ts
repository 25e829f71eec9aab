/**
 * Image records read a page at a time (one contract on the in-memory fake and on the DynamoDB
 * adapter over moto), the lineage's newest image with one Limit-1 Query, lookups by id with two
 * GetItems (exact request counts), records from before pointers and before GSI2 found by id, and
 * deletion removing the lookup items.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbImageRecordStore,
  POINTER_BACKFILL_MARKER_KEY,
} from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { DynamoDbRecoveryPointStore } from '../../lambdas/aws/dynamodb-recovery-points.ts';
import type { ImageRecord, ImageRecordStore } from '../../lambdas/core/image/image-records.ts';
import {
  RECOVERY_POINT_VERSION,
  type RecoveryPoint,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { fastRetry } from './engine-fixture.ts';
import { localEngine, type LocalEngine } from './local-engine.ts';

const TABLE = 'rbp-record-paging';

function record(volumeId: string, n: number, extra: Partial<ImageRecord> = {}): ImageRecord {
  const imageId = `img-${volumeId}-${String(n).padStart(3, '0')}`;
  return {
    volumeId,
    imageId,
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
    kind: n === 0 ? 'full' : 'incremental',
    formatVersion: 1,
    snapshotId: `snap-${imageId}`,
    volumeSizeBytes: 1_073_741_824,
    manifestKey: `images/${volumeId}/${imageId}.json`,
    manifestSha256: 'cd'.repeat(32),
    stats: { chunksCreated: 1, bytesCreated: 10, blocksRead: 1 },
    ...extra,
  };
}

async function allPages(store: ImageRecordStore, volumeId: string, limit: number, extra = {}) {
  const pages: string[][] = [];
  let token: string | undefined;
  do {
    const page = await store.pageImageRecords(volumeId, { limit, token, ...extra });
    pages.push(page.records.map((r) => r.imageId.slice(-3)));
    token = page.nextToken;
  } while (token !== undefined);
  return pages;
}

function pagingContract(name: string, make: () => ImageRecordStore): void {
  describe(`image record pages: ${name}`, () => {
    let store: ImageRecordStore;
    beforeAll(async () => {
      store = make();
      for (let n = 0; n < 7; n += 1) {
        await store.putImageRecord(record('vol-p', n, n === 5 ? { source: 'primary' } : {}));
      }
    });

    it('pages oldest first and newest first with tokens, never longer than the limit', async () => {
      const forward = await allPages(store, 'vol-p', 3);
      expect(forward.flat()).toEqual(['000', '001', '002', '003', '004', '005', '006']);
      expect(forward.slice(0, 2)).toEqual([
        ['000', '001', '002'],
        ['003', '004', '005'],
      ]);
      const backward = await allPages(store, 'vol-p', 4, { newestFirst: true });
      expect(backward.flat()).toEqual(['006', '005', '004', '003', '002', '001', '000']);
      expect(backward[0]).toEqual(['006', '005', '004', '003']);
    });

    it('bounds by time (inclusive) and by kind', async () => {
      const window = await allPages(store, 'vol-p', 10, {
        from: record('vol-p', 2).createdAt,
        to: record('vol-p', 4).createdAt,
      });
      expect(window.flat()).toEqual(['002', '003', '004']);
      expect((await allPages(store, 'vol-p', 10, { kind: 'full' })).flat()).toEqual(['000']);
    });

    it('counts and finds the newest image of a lineage, skipping the excluded one', async () => {
      expect(await store.countImageRecords('vol-p')).toBe(7);
      expect(await store.countImageRecords('vol-none')).toBe(0);
      expect((await store.latestImageRecord('vol-p', 'replica'))?.imageId).toBe('img-vol-p-006');
      expect((await store.latestImageRecord('vol-p', 'replica', 'img-vol-p-006'))?.imageId).toBe(
        'img-vol-p-004',
      );
      expect((await store.latestImageRecord('vol-p', 'primary'))?.imageId).toBe('img-vol-p-005');
      expect(await store.latestImageRecord('vol-p', 'primary', 'img-vol-p-005')).toBeUndefined();
      expect(await store.latestImageRecord('vol-none', 'replica')).toBeUndefined();
    });
  });
}

pagingContract('in-memory fake', () => new MemoryImageRecordStore());

const local = useLocalStack();
let engine: LocalEngine;
let doc: DynamoDBDocumentClient;
const calls: string[] = [];
let counted: DynamoDbImageRecordStore;
beforeAll(async () => {
  engine = await localEngine(local.clientConfig(), { bucket: TABLE, table: TABLE }, fastRetry());
  doc = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig()));
  const countingClient = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig()));
  countingClient.middlewareStack.add(
    (next, context) => (args) => {
      calls.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  counted = new DynamoDbImageRecordStore(countingClient, TABLE);
});
afterAll(() => {
  doc.destroy();
  engine.destroy();
});
pagingContract('DynamoDB adapter on moto', () => engine.records);

/** Writes a record as the store did before lineage entries and pointers (and, bare, before GSI2). */
async function putOldRecord(r: ImageRecord, withGsi2: boolean): Promise<void> {
  const pk = `VOLUME#${r.volumeId}`;
  const sk = `IMAGE#${r.createdAt}#${r.imageId}`;
  await doc.send(
    new PutCommand({
      TableName: TABLE,
      Item: {
        pk,
        sk,
        entity: 'image',
        ...r,
        ...(withGsi2 ? { gsi2pk: `IMAGEID#${r.imageId}`, gsi2sk: pk } : {}),
      },
    }),
  );
  await doc.send(
    new PutCommand({
      TableName: TABLE,
      Item: { pk, sk: `IMAGEID#${r.imageId}`, entity: 'image-id', imageSk: sk },
    }),
  );
}

describe('DynamoDB image lookups', () => {
  it('finds an image by id with two GetItems, and an unknown id after the backfill with three requests', async () => {
    await engine.records.putImageRecord(record('vol-q', 1));
    calls.length = 0;
    expect((await counted.findImageRecord('img-vol-q-001'))?.volumeId).toBe('vol-q');
    expect(calls).toEqual(['GetItemCommand', 'GetItemCommand']);
    await doc.send(
      new PutCommand({ TableName: TABLE, Item: { ...POINTER_BACKFILL_MARKER_KEY, pointers: 0 } }),
    );
    calls.length = 0;
    expect(await counted.findImageRecord('img-unknown')).toBeUndefined();
    expect(calls).toEqual(['GetItemCommand', 'QueryCommand', 'GetItemCommand']);
    await doc.send(new DeleteCommand({ TableName: TABLE, Key: POINTER_BACKFILL_MARKER_KEY }));
  });

  it('finds records from before pointers (GSI2) and from before GSI2 (the one-off backfill), then by pointer', async () => {
    const viaIndex = record('vol-old', 1);
    const bare = record('vol-old', 2);
    await putOldRecord(viaIndex, true);
    await putOldRecord(bare, false);
    expect(await counted.findImageRecord(viaIndex.imageId)).toEqual(viaIndex);
    expect(await counted.findImageRecord(bare.imageId)).toEqual(bare);
    const marker = await doc.send(new GetCommand({ TableName: TABLE, Key: POINTER_BACKFILL_MARKER_KEY }));
    expect(marker.Item?.entity).toBe('image-pointer-backfill');
    calls.length = 0;
    expect(await counted.findImageRecord(bare.imageId)).toEqual(bare);
    expect(calls).toEqual(['GetItemCommand', 'GetItemCommand']);
    // The old records' lineage has no entries: the newest is still found (from the records).
    expect((await counted.latestImageRecord('vol-old', 'replica'))?.imageId).toBe(bare.imageId);
  });

  it('reads the lineage parent with one Limit-1 Query and one GetItem', async () => {
    for (let n = 10; n < 30; n += 1) await engine.records.putImageRecord(record('vol-l', n));
    calls.length = 0;
    expect((await counted.latestImageRecord('vol-l', 'replica', 'img-vol-l-029'))?.imageId).toBe(
      'img-vol-l-028',
    );
    expect(calls).toEqual(['QueryCommand', 'QueryCommand', 'GetItemCommand']);
    calls.length = 0;
    expect((await counted.latestImageRecord('vol-l', 'replica'))?.imageId).toBe('img-vol-l-029');
    expect(calls).toEqual(['QueryCommand', 'GetItemCommand']);
  });

  it('deleting an image removes its pointer and lineage entry; a record being deleted is not found', async () => {
    const lifecycle = new DynamoDbLifecycleImageRecords(doc, TABLE);
    await engine.records.putImageRecord(record('vol-d', 1));
    await engine.records.putImageRecord(record('vol-d', 2));
    expect(await lifecycle.markDeleting('vol-d', 'img-vol-d-002')).toBe('marked');
    expect(await engine.records.findImageRecord('img-vol-d-002')).toBeUndefined();
    expect((await engine.records.latestImageRecord('vol-d', 'replica'))?.imageId).toBe('img-vol-d-001');
    expect(
      (await engine.records.pageImageRecords('vol-d', { limit: 5 })).records.map((r) => r.imageId),
    ).toEqual(['img-vol-d-001']);
    await lifecycle.deleteImage('vol-d', 'img-vol-d-002');
    const pointer = await doc.send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'VOLUME#BY-ID#img-vol-d-002', sk: 'POINTER' } }),
    );
    expect(pointer.Item).toBeUndefined();
    const lineage = await doc.send(
      new GetCommand({
        TableName: TABLE,
        Key: { pk: 'VOLUME#vol-d', sk: `LINEAGE#replica#${record('vol-d', 2).createdAt}#img-vol-d-002` },
      }),
    );
    expect(lineage.Item).toBeUndefined();
    expect((await lifecycle.listVolume('vol-d')).map((i) => i.imageId)).toEqual(['img-vol-d-001']);
  });
});

describe('DynamoDB recovery point pages', () => {
  it('pages a server’s points newest first with a token', async () => {
    const points = new DynamoDbRecoveryPointStore(doc, TABLE);
    const point = (n: number): RecoveryPoint => ({
      version: RECOVERY_POINT_VERSION,
      recoveryPointId: `rp-${n}`,
      serverId: 'srv-page',
      createdAt: new Date(Date.UTC(2026, 0, 1, n)).toISOString(),
      backupId: `bk-${n}`,
      images: [
        {
          volumeId: 'vol-a',
          device: '/dev/xvda',
          imageId: `img-${n}`,
          snapshotId: `snap-${n}`,
          kind: 'full',
        },
      ],
    });
    for (let n = 0; n < 5; n += 1) await points.put(point(n));
    const first = await points.pageByServer('srv-page', { limit: 2 });
    expect(first.points.map((p) => p.recoveryPointId)).toEqual(['rp-4', 'rp-3']);
    const second = await points.pageByServer('srv-page', { limit: 2, token: first.nextToken });
    expect(second.points.map((p) => p.recoveryPointId)).toEqual(['rp-2', 'rp-1']);
    const third = await points.pageByServer('srv-page', { limit: 2, token: second.nextToken });
    expect(third.points.map((p) => p.recoveryPointId)).toEqual(['rp-0']);
    expect(third.nextToken).toBeUndefined();
  });
});
