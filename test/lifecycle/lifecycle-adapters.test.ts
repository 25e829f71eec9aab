/**
 * The lifecycle adapters on moto through the local stack: DynamoDbLifecycleImageRecords (every
 * record, the deleting mark, the record and its guard removed) seen together with
 * DynamoDbImageRecordStore (a record marked deleting is neither listed nor found), and
 * S3LifecycleObjectStore (ListObjectsV2 pages resumed with StartAfter, ranged GETs, DeleteObjects
 * with absent keys reported deleted, the 1,000-key limit). The live set does not depend on EC2: a
 * volume whose replica is deleted or untagged keeps its images listed, with the server its commit
 * registered; volumes with records from before the registry are registered by its backfill.
 */
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateVolumeCommand, DeleteVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbImageRecordStore,
  PROTECTED_VOLUMES_PARTITION,
} from '../../lambdas/aws/dynamodb-image-records.ts';
import {
  DynamoDbLifecycleImageRecords,
  REGISTRY_BACKFILL_MARKER_KEY,
} from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { Ec2ReplicaVolumes, ReplicaVolumesWithRegistered } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { RecordDirectories } from '../../lambdas/core/api/record-directories.ts';
import { DynamoDbGcCoordination } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { NotFoundError, RetryableError } from '../../lambdas/core/errors.ts';
import { INITIAL_FENCE } from '../../lambdas/core/lifecycle/gc-fence.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const TABLE = 'rbp-lifecycle';
/** A table of its own: the registry lists every volume a table has. */
const REGISTRY_TABLE = 'rbp-lifecycle-registry';
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

describe('the live set without EC2 on moto', () => {
  /** (volume, image, status, server) of every listed image. */
  const rows = (
    images: readonly { volumeId: string; imageId: string; status: string; serverId?: string }[],
  ) => images.map((i) => [i.volumeId, i.imageId, i.status, i.serverId]);

  it('keeps listing a committed image with its server after its volume is deleted or untagged; backfills older volumes once', async () => {
    const registryDocuments = await createCatalogTable(
      local.clientConfig({ maxAttempts: 3 }),
      REGISTRY_TABLE,
    );
    const store = new DynamoDbImageRecordStore(registryDocuments, REGISTRY_TABLE);
    /** Commit Image's write of a record of `serverId`'s volume (which registers the volume). */
    const commitOf = (volumeId: string, imageId: string, createdAt: string, serverId: string) =>
      store.putImageRecord(record(volumeId, imageId, createdAt), undefined, undefined, { serverId });
    let tagged = new Map<string, string | undefined>([
      ['vol-gone', 'srv-gone'],
      ['vol-bare', 'srv-bare'],
      ['vol-kept', 'srv-kept'],
    ]);
    const lifecycle = new DynamoDbLifecycleImageRecords(registryDocuments, REGISTRY_TABLE, () =>
      Promise.resolve(tagged),
    );
    expect(await commitOf('vol-gone', 'img-g', '2026-03-01T00:00:00.000Z', 'srv-gone')).toBe('created');
    await commitOf('vol-bare', 'img-b', '2026-03-02T00:00:00.000Z', 'srv-bare');
    await commitOf('vol-kept', 'img-k', '2026-03-03T00:00:00.000Z', 'srv-kept');
    // A re-run of a commit changes nothing (the record exists; the registry item stays).
    expect(await commitOf('vol-gone', 'img-g', '2026-03-01T00:00:00.000Z', 'srv-gone')).toBe('exists');
    expect(await lifecycle.registeredVolumes()).toEqual([
      { volumeId: 'vol-bare', serverId: 'srv-bare' },
      { volumeId: 'vol-gone', serverId: 'srv-gone' },
      { volumeId: 'vol-kept', serverId: 'srv-kept' },
    ]);

    // vol-gone's replica is deleted (DRS DisconnectSourceServer), vol-bare loses its server tag.
    tagged = new Map([
      ['vol-bare', undefined],
      ['vol-kept', 'srv-kept'],
    ]);
    expect(rows(await lifecycle.listImages())).toEqual([
      ['vol-bare', 'img-b', 'live', 'srv-bare'],
      ['vol-gone', 'img-g', 'live', 'srv-gone'],
      ['vol-kept', 'img-k', 'live', 'srv-kept'],
    ]);
    expect(rows(await lifecycle.listVolume('vol-gone'))).toEqual([['vol-gone', 'img-g', 'live', 'srv-gone']]);
    // Nothing is tagged any more: the images are all still there.
    tagged = new Map();
    expect((await lifecycle.listImages()).map((i) => i.imageId)).toEqual(['img-b', 'img-g', 'img-k']);

    // A volume whose records predate the registry: invisible to a listing without the backfill
    // once it is untagged, registered (server from its tag at the time) by the jobs' backfill.
    for (const [n, volumeId] of ['vol-old-1', 'vol-old-2', 'vol-old-3'].entries()) {
      await store.putImageRecord(record(volumeId, `img-o${n}`, `2026-02-0${n + 1}T00:00:00.000Z`));
      await registryDocuments.send(
        new DeleteCommand({
          TableName: REGISTRY_TABLE,
          Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: volumeId },
        }),
      );
    }
    expect((await lifecycle.listImages()).map((i) => i.imageId)).toEqual(['img-b', 'img-g', 'img-k']);
    tagged = new Map([['vol-old-1', 'srv-old']]);
    const jobs = new DynamoDbLifecycleImageRecords(
      registryDocuments,
      REGISTRY_TABLE,
      () => Promise.resolve(tagged),
      {
        backfill: true,
        // Two items a page: the backfill saves its position several times on the way.
        backfillScanItems: 2,
      },
    );
    expect(rows(await jobs.listImages())).toEqual([
      ['vol-bare', 'img-b', 'live', 'srv-bare'],
      ['vol-gone', 'img-g', 'live', 'srv-gone'],
      ['vol-kept', 'img-k', 'live', 'srv-kept'],
      ['vol-old-1', 'img-o0', 'live', 'srv-old'],
      ['vol-old-2', 'img-o1', 'live', undefined],
      ['vol-old-3', 'img-o2', 'live', undefined],
    ]);
    const marker = await registryDocuments.send(
      new GetCommand({ TableName: REGISTRY_TABLE, Key: REGISTRY_BACKFILL_MARKER_KEY, ConsistentRead: true }),
    );
    expect(marker.Item).toMatchObject({ done: true, next: '' });
    // Done once: the second call reads the marker and registers nothing.
    expect(await jobs.backfillRegistry(new Map())).toEqual({ registered: 0 });
    tagged = new Map();
    expect((await lifecycle.listImages()).map((i) => [i.imageId, i.serverId])).toEqual([
      ['img-b', 'srv-bare'],
      ['img-g', 'srv-gone'],
      ['img-k', 'srv-kept'],
      ['img-o0', 'srv-old'],
      ['img-o1', undefined],
      ['img-o2', undefined],
    ]);
  });

  it('resumes a backfill cut short from its saved position', async () => {
    const table = 'rbp-lifecycle-backfill';
    const docs = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), table);
    const store = new DynamoDbImageRecordStore(docs, table);
    for (let n = 0; n < 6; n += 1) {
      await store.putImageRecord(record(`vol-r${n}`, `img-r${n}`, '2026-02-01T00:00:00.000Z'));
      await docs.send(
        new DeleteCommand({ TableName: table, Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: `vol-r${n}` } }),
      );
    }
    /** The table's client, counting Scans, failing (a Lambda timeout) after `failAfter` of them. */
    const client = (failAfter = Infinity) => {
      const counted = { scans: 0 };
      const ddb = {
        send: (command: unknown) => {
          if (command instanceof ScanCommand && (counted.scans += 1) > failAfter)
            return Promise.reject(new Error('Task timed out'));
          return docs.send(command as never);
        },
      } as unknown as DynamoDBDocumentClient;
      return { counted, ddb };
    };
    const jobs = (ddb: DynamoDBDocumentClient) =>
      new DynamoDbLifecycleImageRecords(ddb, table, undefined, { backfill: true, backfillScanItems: 2 });
    const markerKey = { TableName: table, Key: REGISTRY_BACKFILL_MARKER_KEY, ConsistentRead: true };

    // An uninterrupted backfill, to count its pages; then its marker is removed to start over.
    const whole = client();
    expect((await jobs(whole.ddb).listImages()).length).toBe(6);
    await docs.send(new DeleteCommand({ TableName: table, Key: REGISTRY_BACKFILL_MARKER_KEY }));

    // The Lambda stops during the third Scan page: the marker keeps the position of the second.
    const cut = client(2);
    await expect(jobs(cut.ddb).listImages()).rejects.toThrow('Task timed out');
    const saved: Record<string, unknown> | undefined = (await docs.send(new GetCommand(markerKey))).Item;
    expect({ done: saved?.done, next: typeof saved?.next }).toEqual({ done: false, next: 'string' });

    // The next run reads only the pages that were left.
    const resumed = client();
    expect((await jobs(resumed.ddb).listImages()).map((i) => i.imageId)).toEqual([
      'img-r0',
      'img-r1',
      'img-r2',
      'img-r3',
      'img-r4',
      'img-r5',
    ]);
    expect(resumed.counted.scans).toBe(whole.counted.scans - 2);
    expect((await docs.send(new GetCommand(markerKey))).Item).toMatchObject({ done: true, next: '' });
  });

  it('files what the registry backfill writes on the index by server, also after the index backfill is done', async () => {
    const table = 'rbp-lifecycle-register-index';
    const docs = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), table);
    const store = new DynamoDbImageRecordStore(docs, table);
    // Volumes whose records predate the registry (their registry items removed), and one whose
    // item an older release wrote with a server but without index keys.
    for (const volumeId of ['vol-i1', 'vol-i2', 'vol-i3']) {
      await store.putImageRecord(record(volumeId, `img-${volumeId}`, '2026-02-01T00:00:00.000Z'));
      await docs.send(
        new DeleteCommand({ TableName: table, Key: { pk: PROTECTED_VOLUMES_PARTITION, sk: volumeId } }),
      );
    }
    const records = new DynamoDbLifecycleImageRecords(docs, table);
    // The index backfill finishes first (an empty registry): its marker says done.
    expect(await records.backfillServerIndex()).toEqual({ indexed: 0 });
    await docs.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: PROTECTED_VOLUMES_PARTITION,
          sk: 'vol-i3',
          entity: 'protected-volume',
          volumeId: 'vol-i3',
          serverId: 'srv-first',
        },
      }),
    );
    // The registry backfill then registers vol-i1 (tagged srv-a), vol-i2 (untagged) and vol-i3
    // (tagged srv-b now; the item keeps srv-first, the server it was registered with).
    expect(
      await records.backfillRegistry(
        new Map([
          ['vol-i1', 'srv-a'],
          ['vol-i3', 'srv-b'],
        ]),
      ),
    ).toEqual({ registered: 3 });
    expect(await records.pageRegisteredServers({ limit: 10 })).toEqual({
      servers: [
        { name: 'srv-a', volumeIds: ['vol-i1'] },
        { name: 'srv-first', volumeIds: ['vol-i3'] },
        { name: 'vol-i2', volumeIds: ['vol-i2'] },
      ],
      more: false,
    });
  });

  it('keeps a deleted replica volume in the whole listing (the file search), with its server and images', async () => {
    const table = 'rbp-lifecycle-directories';
    const docs = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), table);
    const ec2 = new EC2Client(local.clientConfig({ maxAttempts: 3 }));
    const tags = (serverId: string) => [
      {
        ResourceType: 'volume' as const,
        Tags: [
          { Key: 'rbp:replica', Value: 'true' },
          { Key: 'rbp:source-server', Value: serverId },
        ],
      },
    ];
    const create = async (serverId: string) =>
      (
        await ec2.send(
          new CreateVolumeCommand({
            AvailabilityZone: 'us-east-1a',
            Size: 1,
            TagSpecifications: tags(serverId),
          }),
        )
      ).VolumeId!;
    const kept = await create('srv-dir-kept');
    const gone = await create('srv-dir-gone');
    const store = new DynamoDbImageRecordStore(docs, table);
    await store.putImageRecord(record(kept, 'img-dk', '2026-04-01T00:00:00.000Z'), undefined, undefined, {
      serverId: 'srv-dir-kept',
    });
    for (const [n, at] of ['2026-04-01T00:00:00.000Z', '2026-04-02T00:00:00.000Z'].entries()) {
      await store.putImageRecord(record(gone, `img-dg${n}`, at), undefined, undefined, {
        serverId: 'srv-dir-gone',
      });
    }
    await ec2.send(new DeleteVolumeCommand({ VolumeId: gone }));
    const replicas = new Ec2ReplicaVolumes(ec2);
    const directories = new RecordDirectories({
      replicas: new ReplicaVolumesWithRegistered(replicas, () =>
        new DynamoDbLifecycleImageRecords(docs, table).registeredVolumes(),
      ),
      records: store,
      cataloged: () => Promise.resolve(false),
    });
    const ours = (await directories.listVolumes()).filter((v) => v.volumeId === kept || v.volumeId === gone);
    expect(ours.map((v) => [v.volumeId, v.serverId, v.imageCount, v.latestImageId, v.sizeGib])).toEqual(
      [
        [kept, 'srv-dir-kept', 1, 'img-dk', 1],
        [gone, 'srv-dir-gone', 2, 'img-dg1', undefined],
      ].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1)),
    );
    // What a backup may start on stays EC2's: the deleted volume is not a replica any more.
    await expect(directories.assertProtected(gone)).rejects.toThrow(
      `volume ${gone} is not a protected replica volume`,
    );
    // Its images stay listed by volume.
    expect((await directories.listImages(gone)).map((i) => i.imageId)).toEqual(['img-dg0', 'img-dg1']);
    ec2.destroy();
  });
});
