/**
 * Recovery point stores, one contract run against the in-memory fake and the DynamoDB adapter on
 * moto: a record is written once (the same record again = success, a different one = conflict),
 * read by id with one GetItem, listed per server in time order; an image is detached (the point
 * narrowed, then removed with its last image, each detach recorded until cleared), also
 * concurrently; the items have the documented keys; a record of an unknown version is refused.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { DynamoDbRecoveryPointStore } from '../../lambdas/aws/dynamodb-recovery-points.ts';
import { ConflictError, IntegrityError, NotFoundError } from '../../lambdas/core/errors.ts';
import type {
  RecoveryPoint,
  RecoveryPointStore,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { createProductTable } from '../../local/product-table.ts';
import { commitRecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { MemoryRecoveryPointStore, recordsLiveness } from './memory-recovery-point-store.ts';

const noDevices = { devicesOf: () => Promise.resolve(new Map<string, string>()) };

const TABLE = 'rbp-recovery-points';

export function point(backupId: string, createdAt: string, serverId = 'web-01'): RecoveryPoint {
  return {
    version: 1,
    recoveryPointId: `rp-${backupId}`,
    serverId,
    backupId,
    createdAt,
    checkpointId: `${backupId}-r1`,
    images: [
      {
        volumeId: 'vol-0a',
        device: '/dev/xvda',
        imageId: `img-${backupId}-vol-0a`,
        snapshotId: 'snap-0a',
        kind: 'full',
      },
      {
        volumeId: 'vol-0b',
        device: '/dev/xvdb',
        imageId: `img-${backupId}-vol-0b`,
        snapshotId: 'snap-0b',
        kind: 'incremental',
      },
    ],
  };
}

function recoveryPointContract(name: string, make: () => RecoveryPointStore): void {
  describe(`recovery point store: ${name}`, () => {
    let store: RecoveryPointStore;
    beforeAll(() => {
      store = make();
    });

    it('writes a record once; the same record again succeeds; a different one conflicts', async () => {
      const first = point('bk-2', '2026-03-01T00:00:00.000Z');
      expect(await store.put(first)).toBe('created');
      expect(await store.put(first)).toBe('exists');
      const other = await store.put(point('bk-2', '2026-03-02T00:00:00.000Z')).catch((e: unknown) => e);
      expect(other).toBeInstanceOf(ConflictError);
      expect((other as Error).message).toBe('recovery point rp-bk-2 already has a different record');
      expect(await store.get('rp-bk-2')).toEqual(first);
    });

    it('says a recovery point without a record does not exist', async () => {
      const error = await store.get('rp-none').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as Error).message).toBe('recovery point rp-none does not exist');
    });

    it('keeps a point’s trigger through get, listing, paging, image lookup and narrowing; a point without one reads without one', async () => {
      const planned: RecoveryPoint = {
        ...point('bk-t1', '2026-08-01T00:00:00.000Z', 'trig-01'),
        trigger: 'plan:nightly',
      };
      const older = point('bk-t0', '2026-07-31T00:00:00.000Z', 'trig-01');
      expect(await store.put(planned)).toBe('created');
      expect(await store.put(older)).toBe('created');
      expect(await store.get('rp-bk-t1')).toEqual(planned);
      expect(await store.get('rp-bk-t0')).toEqual(older);
      expect(await store.get('rp-bk-t0')).not.toHaveProperty('trigger');
      expect(await store.listByServer('trig-01')).toEqual([older, planned]);
      expect((await store.pageByServer('trig-01', { limit: 5 })).points).toEqual([planned, older]);
      const [a, b] = planned.images;
      expect(await store.pointsOfImages([a!, older.images[0]!])).toEqual(
        new Map([
          [`${a!.volumeId}/${a!.imageId}`, planned],
          [`${older.images[0]!.volumeId}/${older.images[0]!.imageId}`, older],
        ]),
      );
      // The same point with another trigger is another record.
      const other = await store.put({ ...planned, trigger: 'manual' }).catch((e: unknown) => e);
      expect((other as Error).message).toBe('recovery point rp-bk-t1 already has a different record');
      expect(await store.detachImage(a!)).toEqual({ recoveryPointId: 'rp-bk-t1', outcome: 'narrowed' });
      expect(await store.get('rp-bk-t1')).toEqual({ ...planned, images: [b!] });
      await store.clearDetached(a!);
    });

    it('lists a server’s recovery points oldest first, and no other server’s', async () => {
      await store.put(point('bk-1', '2026-02-01T00:00:00.000Z'));
      await store.put(point('bk-3', '2026-04-01T00:00:00.000Z'));
      await store.put(point('bk-9', '2026-01-01T00:00:00.000Z', 'db-01'));
      expect((await store.listByServer('web-01')).map((p) => p.recoveryPointId)).toEqual([
        'rp-bk-1',
        'rp-bk-2',
        'rp-bk-3',
      ]);
      expect(await store.listByServer('db-01')).toEqual([point('bk-9', '2026-01-01T00:00:00.000Z', 'db-01')]);
      expect(await store.listByServer('nobody')).toEqual([]);
    });

    it('detaches an image: the point is narrowed, then removed with its last image; each detach is recorded until cleared', async () => {
      const whole = point('bk-7', '2026-07-01T00:00:00.000Z', 'app-01');
      await store.put(whole);
      const [a, b] = whole.images.map((i) => ({ volumeId: i.volumeId, imageId: i.imageId }));
      expect(await store.detachImage(a!)).toEqual({ recoveryPointId: 'rp-bk-7', outcome: 'narrowed' });
      const narrowed = { ...whole, images: [whole.images[1]!] };
      expect(await store.get('rp-bk-7')).toEqual(narrowed);
      expect(await store.listByServer('app-01')).toEqual([narrowed]);
      expect((await store.pageByServer('app-01', { limit: 5 })).points).toEqual([narrowed]);
      // Idempotent: the image is in no point any more.
      expect(await store.detachImage(a!)).toBeUndefined();
      expect(await store.listDetached()).toEqual([a]);
      expect(await store.detachImage(b!)).toEqual({ recoveryPointId: 'rp-bk-7', outcome: 'removed' });
      const gone = await store.get('rp-bk-7').catch((e: unknown) => e);
      expect((gone as Error).message).toBe('recovery point rp-bk-7 does not exist');
      expect(await store.listByServer('app-01')).toEqual([]);
      expect(await store.listDetached()).toEqual([a, b]);
      await store.clearDetached(a!);
      await store.clearDetached(a!);
      expect(await store.listDetached()).toEqual([b]);
      await store.clearDetached(b!);
      expect(await store.listDetached()).toEqual([]);
      // An image no point names is recorded as detached all the same (a commit may be about to name it).
      const none = { volumeId: 'vol-0a', imageId: 'img-none' };
      expect(await store.detachImage(none)).toBeUndefined();
      expect(await store.listDetached()).toEqual([none]);
      await store.clearDetached(none);
      expect(await store.listDetached()).toEqual([]);
    });

    it('names the images recorded as detached among a point’s, and takes images out of a named point without a mark', async () => {
      const whole = point('bk-10', '2026-10-01T00:00:00.000Z', 'app-03');
      await store.put(whole);
      const [a, b] = whole.images.map((i) => ({ volumeId: i.volumeId, imageId: i.imageId }));
      expect(await store.detachedAmong([a!, b!])).toEqual(new Set());
      expect(await store.detachImage({ volumeId: 'vol-0a', imageId: 'img-bk-11-vol-0a' })).toBeUndefined();
      expect(
        await store.detachedAmong([a!, b!, { volumeId: 'vol-0a', imageId: 'img-bk-11-vol-0a' }]),
      ).toEqual(new Set(['vol-0a/img-bk-11-vol-0a']));
      expect(await store.detachFromPoint('rp-bk-10', b!)).toEqual({
        recoveryPointId: 'rp-bk-10',
        outcome: 'narrowed',
      });
      expect(await store.get('rp-bk-10')).toEqual({ ...whole, images: [whole.images[0]!] });
      expect(await store.detachFromPoint('rp-bk-10', b!)).toBeUndefined();
      expect(await store.detachFromPoint('rp-none', a!)).toBeUndefined();
      expect(await store.detachFromPoint('rp-bk-10', a!)).toEqual({
        recoveryPointId: 'rp-bk-10',
        outcome: 'removed',
      });
      expect(await store.listByServer('app-03')).toEqual([]);
      expect(await store.listDetached()).toEqual([{ volumeId: 'vol-0a', imageId: 'img-bk-11-vol-0a' }]);
      await store.clearDetached({ volumeId: 'vol-0a', imageId: 'img-bk-11-vol-0a' });
    });

    it('a commit whose point is written after a deletion looked for it takes the deleted image out (a commit racing a deletion)', async () => {
      const records = new MemoryImageRecordStore();
      const deps = { records, points: store, devices: noDevices, liveness: recordsLiveness(records) };
      const request = {
        backupId: 'bk-12',
        serverId: 'app-04',
        volumeIds: ['vol-0a', 'vol-0b'],
        imageIds: new Map([
          ['vol-0a', 'img-bk-12-vol-0a'],
          ['vol-0b', 'img-bk-12-vol-0b'],
        ]),
      };
      for (const [volumeId, imageId] of request.imageIds)
        await records.putImageRecord(fullImageRecord(volumeId, imageId, '2026-12-01T00:00:00.000Z'));
      // The deletion of vol-0a's image looked before the point existed: it only left its mark.
      const deleting = { volumeId: 'vol-0a', imageId: 'img-bk-12-vol-0a' };
      expect(await store.detachImage(deleting)).toBeUndefined();
      const { written: committed, stored } = await commitRecoveryPoint(deps, request);
      expect(committed.images.map((i) => i.imageId)).toEqual(['img-bk-12-vol-0a', 'img-bk-12-vol-0b']);
      const narrowed = { ...committed, images: [committed.images[1]!] };
      // The commit answers the point as stored, without the deleted image.
      expect(stored).toEqual(narrowed);
      expect(await store.listByServer('app-04')).toEqual([narrowed]);
      // The deletion finishes (record, then mark); a re-run of the commit (a retry) changes nothing.
      records.records.delete('vol-0a/img-bk-12-vol-0a');
      await store.clearDetached(deleting);
      expect(await commitRecoveryPoint(deps, request)).toEqual({ written: narrowed, stored: narrowed });
      expect(await store.listByServer('app-04')).toEqual([narrowed]);
      // A deletion of the other image that finished while the commit ran: no mark left, no record.
      records.records.delete('vol-0b/img-bk-12-vol-0b');
      const again = await commitRecoveryPoint(deps, request).catch((e: unknown) => e);
      // The point is removed with its last image, and the commit says so.
      expect(again).toEqual({ written: narrowed, stored: undefined });
      expect(await store.listByServer('app-04')).toEqual([]);
      expect(await store.listDetached()).toEqual([]);
    });

    it('finds the point of each image exactly, whatever server it is filed under', async () => {
      const filed = point('bk-13', '2026-12-02T00:00:00.000Z', 'db-config');
      await store.put(filed);
      const [a, b] = filed.images.map((i) => ({ volumeId: i.volumeId, imageId: i.imageId }));
      const unknown = { volumeId: 'vol-0a', imageId: 'img-none' };
      const found = await store.pointsOfImages([a!, unknown, b!]);
      expect([...found.entries()].sort()).toEqual([
        ['vol-0a/img-bk-13-vol-0a', filed],
        ['vol-0b/img-bk-13-vol-0b', filed],
      ]);
      await store.detachFromPoint('rp-bk-13', a!);
      expect([...(await store.pointsOfImages([a!, b!])).keys()]).toEqual(['vol-0b/img-bk-13-vol-0b']);
      await store.detachFromPoint('rp-bk-13', b!);
      expect((await store.pointsOfImages([a!, b!])).size).toBe(0);
    });

    it('concurrent detaches of every image of one point leave no point and every image detached', async () => {
      const whole = point('bk-8', '2026-08-01T00:00:00.000Z', 'app-02');
      await store.put(whole);
      const refs = whole.images.map((i) => ({ volumeId: i.volumeId, imageId: i.imageId }));
      const outcomes = await Promise.all(refs.map((ref) => store.detachImage(ref)));
      expect(outcomes.map((o) => o?.outcome).sort()).toEqual(['narrowed', 'removed']);
      expect(await store.listByServer('app-02')).toEqual([]);
      expect(await store.listDetached()).toEqual(refs);
      for (const ref of refs) await store.clearDetached(ref);
    });
  });
}

recoveryPointContract('in-memory fake', () => new MemoryRecoveryPointStore());

const local = useLocalStack();
let ddb: DynamoDBDocumentClient;
beforeAll(async () => {
  const client = new DynamoDBClient(local.clientConfig());
  await createProductTable(client, TABLE);
  ddb = DynamoDBDocumentClient.from(client);
});
afterAll(() => ddb.destroy());

/** A client on the same table that records each command's name in `sent` before it is sent. */
function countingClient(sent: string[]): DynamoDBDocumentClient {
  const client = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig()));
  client.middlewareStack.add(
    (next, context) => (args) => {
      sent.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  return client;
}

recoveryPointContract('DynamoDB adapter on moto', () => new DynamoDbRecoveryPointStore(ddb, TABLE));

/** Deletes a point's RP#IMAGE items: as a point written before points indexed their images. */
async function unindex(old: RecoveryPoint): Promise<void> {
  for (const image of old.images) {
    await ddb.send(
      new DeleteCommand({
        TableName: TABLE,
        Key: { pk: `RP#IMAGE#${image.volumeId}#${image.imageId}`, sk: 'RP' },
      }),
    );
  }
}

describe('DynamoDB recovery point items', () => {
  it('have the documented keys and attributes', async () => {
    const expected = point('bk-2', '2026-03-01T00:00:00.000Z');
    const byId = await ddb.send(new GetCommand({ TableName: TABLE, Key: { pk: 'RP#rp-bk-2', sk: 'RP' } }));
    expect(byId.Item).toEqual({
      pk: 'RP#rp-bk-2',
      sk: 'RP',
      entity: 'recovery-point',
      version: 1,
      record: JSON.stringify(expected),
    });
    const byServer = await ddb.send(
      new GetCommand({
        TableName: TABLE,
        Key: { pk: 'RP#SERVER#web-01', sk: 'AT#2026-03-01T00:00:00.000Z#rp-bk-2' },
      }),
    );
    expect(byServer.Item).toEqual({
      pk: 'RP#SERVER#web-01',
      sk: 'AT#2026-03-01T00:00:00.000Z#rp-bk-2',
      entity: 'recovery-point-of-server',
      version: 1,
      record: JSON.stringify(expected),
    });
  });

  it('index every image of a point by id, and leave no item of a point whose images are all detached', async () => {
    const store = new DynamoDbRecoveryPointStore(ddb, TABLE);
    const itemAt = async (pk: string, sk: string) =>
      (await ddb.send(new GetCommand({ TableName: TABLE, Key: { pk, sk } }))).Item;
    const [a, b] = [0, 1].map((n) => ({ volumeId: `vol-0${'ab'[n]}`, imageId: `img-bk-5-vol-0${'ab'[n]}` }));
    await store.put(point('bk-5', '2026-05-01T00:00:00.000Z', 'idx-01'));
    const indexKey = ['RP#IMAGE#vol-0a#img-bk-5-vol-0a', 'RP'] as const;
    const entity = 'recovery-point-image';
    expect(await itemAt(...indexKey)).toEqual({
      pk: indexKey[0],
      sk: 'RP',
      entity,
      recoveryPointId: 'rp-bk-5',
    });
    await store.detachImage(a!);
    const mark = { pk: 'RP#DETACHED', sk: 'vol-0a#img-bk-5-vol-0a', entity: 'recovery-point-detached' };
    expect(await itemAt(mark.pk, mark.sk)).toEqual({ ...mark, ...a, recoveryPointId: 'rp-bk-5' });
    await store.detachImage(b!);
    await store.clearDetached(a!);
    await store.clearDetached(b!);
    // Nothing of the point is left: record, server item, image index items, detached marks.
    const left = await ddb.send(new ScanCommand({ TableName: TABLE }));
    expect((left.Items ?? []).filter((item) => JSON.stringify(item).includes('bk-5'))).toEqual([]);
  });

  it('puts the deletion mark before looking for the point: a commit landing right after the lookup found nothing takes the image out', async () => {
    const deleting = { volumeId: 'vol-0a', imageId: 'img-bk-20-vol-0a' };
    let reached!: () => void;
    const atLookup = new Promise<void>((wake) => (reached = wake));
    let release!: () => void;
    const gate = new Promise<void>((wake) => (release = wake));
    // detachImage stops right after its lookup of the image's index item has answered (nothing).
    const client = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig()));
    let paused = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        const lookup =
          context.commandName === 'GetItemCommand' &&
          JSON.stringify(args.input).includes('RP#IMAGE#vol-0a#img-bk-20-vol-0a');
        if (lookup && !paused) {
          paused = true;
          reached();
          await gate;
        }
        return out;
      },
      { step: 'initialize', name: 'pauseAfterLookup' },
    );
    const store = new DynamoDbRecoveryPointStore(ddb, TABLE);
    const records = new MemoryImageRecordStore();
    const request = {
      backupId: 'bk-20',
      serverId: 'app-20',
      volumeIds: ['vol-0a', 'vol-0b'],
      imageIds: new Map([
        ['vol-0a', 'img-bk-20-vol-0a'],
        ['vol-0b', 'img-bk-20-vol-0b'],
      ]),
    };
    for (const [volumeId, imageId] of request.imageIds)
      await records.putImageRecord(fullImageRecord(volumeId, imageId, '2026-12-20T00:00:00.000Z'));
    const detach = new DynamoDbRecoveryPointStore(client, TABLE).detachImage(deleting);
    await atLookup;
    // The commit writes its point between the deletion's lookup and the end of its detach.
    await commitRecoveryPoint(
      { records, points: store, devices: noDevices, liveness: recordsLiveness(records) },
      request,
    );
    release();
    expect(await detach).toBeUndefined();
    expect((await store.get('rp-bk-20')).images.map((i) => i.imageId)).toEqual(['img-bk-20-vol-0b']);
    expect(await store.detachedAmong([deleting])).toEqual(new Set(['vol-0a/img-bk-20-vol-0a']));
    await store.clearDetached(deleting);
    client.destroy();
  });

  it('takes out the index item a re-run commit wrote again for an image already taken out, unless it names another point', async () => {
    const store = new DynamoDbRecoveryPointStore(ddb, TABLE);
    const whole = point('bk-21', '2026-12-21T00:00:00.000Z', 'app-21');
    await store.put(whole);
    const [a, b] = whole.images.map((i) => ({ volumeId: i.volumeId, imageId: i.imageId }));
    expect(await store.detachFromPoint('rp-bk-21', a!)).toEqual({
      recoveryPointId: 'rp-bk-21',
      outcome: 'narrowed',
    });
    const indexItem = (recoveryPointId: string) => ({
      pk: 'RP#IMAGE#vol-0a#img-bk-21-vol-0a',
      sk: 'RP',
      entity: 'recovery-point-image',
      recoveryPointId,
    });
    const key = { pk: 'RP#IMAGE#vol-0a#img-bk-21-vol-0a', sk: 'RP' };
    // A retry of the commit puts the image's index item again (put writes every image's).
    await ddb.send(new PutCommand({ TableName: TABLE, Item: indexItem('rp-bk-21') }));
    expect(await store.detachFromPoint('rp-bk-21', a!)).toBeUndefined();
    expect((await ddb.send(new GetCommand({ TableName: TABLE, Key: key }))).Item).toBeUndefined();
    // An index item naming another point is that point's: kept.
    await ddb.send(new PutCommand({ TableName: TABLE, Item: indexItem('rp-other') }));
    expect(await store.detachFromPoint('rp-bk-21', a!)).toBeUndefined();
    expect((await ddb.send(new GetCommand({ TableName: TABLE, Key: key }))).Item).toEqual(
      indexItem('rp-other'),
    );
    await ddb.send(new DeleteCommand({ TableName: TABLE, Key: key }));
    await store.detachFromPoint('rp-bk-21', b!);
  });

  it('detaches an image of a point written without index items through its server’s points', async () => {
    const store = new DynamoDbRecoveryPointStore(ddb, TABLE);
    const old = point('bk-6', '2026-06-01T00:00:00.000Z', 'old-01');
    await store.put(old);
    await unindex(old);
    const [a, b] = old.images.map(({ volumeId, imageId }) => ({ volumeId, imageId }));
    expect(await store.detachImage(a!)).toBeUndefined();
    expect(await store.detachImage(a!, ['other-01'])).toBeUndefined();
    expect((await store.get('rp-bk-6')).images).toHaveLength(2);
    expect(await store.detachImage(a!, ['other-01', 'old-01'])).toEqual({
      recoveryPointId: 'rp-bk-6',
      outcome: 'narrowed',
    });
    expect((await store.listByServer('old-01')).map((p) => p.images.map((i) => i.imageId))).toEqual([
      ['img-bk-6-vol-0b'],
    ]);
    expect(await store.detachImage(b!, ['old-01'])).toEqual({
      recoveryPointId: 'rp-bk-6',
      outcome: 'removed',
    });
    expect(await store.listByServer('old-01')).toEqual([]);
    expect(await store.detachImage(b!, ['old-01'])).toBeUndefined();
    for (const ref of [a!, b!]) await store.clearDetached(ref);
  });

  it('backfills the index of points written before it once, resumably page by page within its budget, and ignores an index item its point no longer names', async () => {
    const sent: string[] = [];
    // One item evaluated per Scan page, so the pass takes many pages and calls.
    const store = new DynamoDbRecoveryPointStore(countingClient(sent), TABLE, { backfillScanItems: 1 });
    const olds = ['bk-14', 'bk-15', 'bk-16'].map((id, n) =>
      point(id, `2026-06-0${n + 2}T00:00:00.000Z`, 'cfg-01'),
    );
    for (const old of olds) {
      await store.put(old);
      await unindex(old);
    }
    const refs = olds.flatMap((old) => old.images.map(({ volumeId, imageId }) => ({ volumeId, imageId })));
    expect((await store.pointsOfImages(refs)).size).toBe(0);
    // An index item naming a point that does not name the image counts for nothing.
    const stray = { volumeId: 'vol-0c', imageId: 'img-stray' };
    await ddb.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          pk: 'RP#IMAGE#vol-0c#img-stray',
          sk: 'RP',
          entity: 'recovery-point-image',
          recoveryPointId: 'rp-bk-14',
        },
      }),
    );
    // A request budget stops the pass before its page budget: the marker's read, then one page
    // (its Scan, the marker's write, and its BatchGetItem/BatchWriteItem when it found a point).
    sent.length = 0;
    expect((await store.backfillImageIndex({ pages: 1000, requests: 2 })).done).toBe(false);
    expect(sent.filter((c) => c === 'ScanCommand')).toHaveLength(1);
    expect(sent[0]).toBe('GetItemCommand');
    sent.length = 0;
    let calls = 1;
    let indexed = 0;
    for (let pass = { done: false, indexed: 0 }; !pass.done; calls += 1) {
      expect(calls).toBeLessThan(500);
      pass = await store.backfillImageIndex({ pages: 2, requests: 100 });
      indexed += pass.indexed;
    }
    expect(calls).toBeGreaterThan(3);
    // A page holds at most one point here: its index items in one BatchWriteItem after one
    // BatchGetItem, never a PutItem per image.
    expect(indexed).toBeGreaterThanOrEqual(6);
    const gets = sent.filter((c) => c === 'BatchGetItemCommand').length;
    expect(gets).toBeGreaterThanOrEqual(3);
    expect(sent.filter((c) => c === 'BatchWriteItemCommand').length).toBe(gets);
    expect(sent.filter((c) => c === 'PutItemCommand').length).toBe(
      sent.filter((c) => c === 'ScanCommand').length,
    );
    const found = await store.pointsOfImages([...refs, stray]);
    expect([...found.entries()].sort()).toEqual(
      olds.flatMap((old) => old.images.map((i) => [`${i.volumeId}/${i.imageId}`, old])).sort(),
    );
    // Done: the next expiries read the marker only.
    sent.length = 0;
    expect(await store.backfillImageIndex({ pages: 5, requests: 100 })).toEqual({ done: true, indexed: 0 });
    expect(sent).toEqual(['GetItemCommand']);
    const marker = await ddb.send(
      new GetCommand({ TableName: TABLE, Key: { pk: 'RP#BACKFILL', sk: 'IMAGE-INDEX' } }),
    );
    expect(marker.Item).toEqual({
      pk: 'RP#BACKFILL',
      sk: 'IMAGE-INDEX',
      entity: 'recovery-point-index-backfill',
      done: true,
    });
  });

  it('refuses a record of a version it does not know', async () => {
    await ddb.send(
      new PutCommand({
        TableName: TABLE,
        Item: { pk: 'RP#rp-future', sk: 'RP', version: 2, record: JSON.stringify({ version: 2 }) },
      }),
    );
    const error = await new DynamoDbRecoveryPointStore(ddb, TABLE).get('rp-future').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toBe('recovery point rp-future has unknown record version 2');
  });
});

describe('DynamoDB image liveness (what recovery points are narrowed to when shown)', () => {
  it('names exactly the committed images that are not deleting, read in batches of 100 keys', async () => {
    const records = new DynamoDbImageRecordStore(ddb, TABLE);
    const lifecycle = new DynamoDbLifecycleImageRecords(ddb, TABLE);
    const refs = Array.from({ length: 150 }, (_, n) => ({
      volumeId: `vol-l${n % 3}`,
      imageId: `img-live-${String(n).padStart(3, '0')}`,
    }));
    for (const ref of refs.slice(0, 120)) {
      await records.putImageRecord(fullImageRecord(ref.volumeId, ref.imageId, '2026-04-01T00:00:00.000Z'));
    }
    await lifecycle.markDeleting(refs[5]!.volumeId, refs[5]!.imageId);
    // refs[120..149] were never committed; refs[5] is being deleted; a repeated ref is read once.
    const live = await records.liveImages([...refs, refs[0]!]);
    const expected = refs
      .slice(0, 120)
      .filter((_, n) => n !== 5)
      .map((r) => `${r.volumeId}/${r.imageId}`);
    expect([...live].sort()).toEqual(expected.sort());
    expect(await records.liveImages([])).toEqual(new Set());
  });
});
