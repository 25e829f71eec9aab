/**
 * Object Lock generations on the local stack (issue 10), with the real state machine, handlers and
 * API on an image bucket created with Object Lock (moto): a backup's chunks, segments and manifest
 * carry GOVERNANCE locks until end(g) + P of the generation they were written in; `rbp images
 * delete` of a locked image is refused with the date; `rbp gc run` leaves locked garbage and
 * reports it as `locked`; after a second backup, a collection in a later generation (the lifecycle
 * job's clock is injected) extends every live chunk and segment to end(g') + P, so no live image
 * has an object whose lock ends before the image's retention does. A PUT answered 412 extends the
 * existing object to the writer's generation and never shortens it. Deleting a locked key without a
 * version id adds a delete marker and keeps the locked version, as S3 does on a versioned bucket.
 * A chunk corrupt at rest (a locked version of other bytes over it) is found by `rbp scrub run
 * --all` and repaired by the next `rbp backup start` through the real state machine: a third,
 * locked, current version holds the right bytes, the bad one stays locked, the image says
 * QUARANTINED_CHUNK, the quarantine is empty and a second scrub finds nothing.
 */
import '../support/quiet-powertools.ts';
import {
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { DynamoDbChunkQuarantine } from '../../lambdas/aws/dynamodb-chunk-quarantine.ts';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { LambdaWiring } from '../../lambdas/aws/wiring.ts';
import { crc32Base64, sha256Hex } from '../../lambdas/core/image/hashing.ts';
import { chunkKey, manifestKey, segmentKey } from '../../lambdas/core/image/image-types.ts';
import {
  generationOf,
  imageLockedUntil,
  retainUntilForGeneration,
  type ObjectLockConfig,
} from '../../lambdas/core/lifecycle/object-lock.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { LOCAL_LIFECYCLE_FUNCTION } from '../../local/deploy.ts';
import { mappedChunks, scrubAll, useDeployedProduct } from '../support/local-product.ts';

const DAY_MS = 86_400_000;
/** Two days of retention, one-day generations: a collection a day later is in a new generation. */
const LOCK: ObjectLockConfig = { mode: 'GOVERNANCE', retentionDays: 2, generationDays: 1 };
/** The collector deletes only objects older than its start minus a one-hour margin: run it later. */
const LATER_MS = 2 * 60 * 60 * 1000;
/** A chunk name no image references: the leftover of a backup that died before its commit. */
const GARBAGE = sha256Hex(Buffer.from('garbage chunk of a failed backup'));

const product = useDeployedProduct('object-lock-local', {
  objectLock: LOCK,
  handlerEnv: { RANGE_WORKERS: '2' },
});
const { rbp } = product;
/** The lifecycle job's clock: real time plus this offset. */
let offsetMs = LATER_MS;
const shifted: Clock = { now: () => new Date(Date.now() + offsetMs) };
let volumeId: string;

interface BackupJson {
  readonly status: string;
  readonly images: { volumeId: string; imageId: string }[];
}

interface ImageJson {
  readonly imageId: string;
  readonly createdAt: string;
}

beforeAll(async () => {
  // The lifecycle job as deployed (its wiring reads OBJECT_LOCK), with a clock the test moves.
  const wiring = new (class extends LambdaWiring {
    override readonly clock: Clock = shifted;
  })(process.env);
  const job = createLifecycleJobHandler({
    run: { ...wiring.lifecycleRunDeps(), recordFindings: () => undefined },
    relaunch: () => undefined,
  });
  product.stack.gateway.registerFunction(LOCAL_LIFECYCLE_FUNCTION, (event, context) => job(event, context));
  ({ volumeId } = await product.makeReplica('disk', {
    'etc/hostname': 'locked-01\n',
    'data/a.bin': Buffer.alloc(1_500_000, 7),
  }));
}, 300_000);

async function backUp(): Promise<{ imageId: string; writtenFrom: Date; writtenTo: Date }> {
  const writtenFrom = new Date();
  const run = await rbp.json<BackupJson>(
    'backup',
    'start',
    '--volume',
    volumeId,
    '--wait',
    '--timeout',
    '600',
  );
  expect(run.status).toBe('SUCCEEDED');
  return { imageId: run.images[0]!.imageId, writtenFrom, writtenTo: new Date() };
}

/** The manifest, segment and chunk keys of an image. */
async function objectsOf(imageId: string): Promise<{ manifest: string; data: string[] }> {
  const { records, images } = product.engine;
  const record = await records.getImageRecord(volumeId, imageId);
  const manifest = await images.getManifest(volumeId, imageId, record.manifestSha256);
  const segments = manifest.segments.filter((hash) => !/^0+$/.test(hash)).map((hash) => segmentKey(hash));
  const chunks = (await mappedChunks(product.engine, volumeId, imageId)).map((name) => chunkKey(name));
  return { manifest: manifestKey(volumeId, imageId), data: [...new Set([...segments, ...chunks])].sort() };
}

function head(key: string): Promise<HeadObjectCommandOutput> {
  return product.engine.s3Client.send(
    new HeadObjectCommand({ Bucket: product.product.names.imageBucket, Key: key }),
  );
}

/** The retain-until dates a write between `from` and `to` may have been given (one, or two across a midnight). */
function writeLocks(from: Date, to: Date): number[] {
  return [...new Set([from, to].map((t) => retainUntilForGeneration(generationOf(t, LOCK), LOCK).getTime()))];
}

let first: { imageId: string; writtenFrom: Date; writtenTo: Date };
let firstCreatedAt: string;
let garbageLock: Date;

describe('Object Lock generations on the local stack', () => {
  it("locks a backup's chunks, segments and manifest until the end of its generation plus the retention", async () => {
    first = await backUp();
    const { manifest, data } = await objectsOf(first.imageId);
    expect(data.length).toBeGreaterThan(2);
    const allowed = writeLocks(first.writtenFrom, first.writtenTo);
    for (const key of [manifest, ...data]) {
      const object = await head(key);
      expect(object.ObjectLockMode, key).toBe('GOVERNANCE');
      expect(allowed, key).toContain(object.ObjectLockRetainUntilDate!.getTime());
    }
  }, 600_000);

  it('refuses rbp images delete of the locked image, naming the date', async () => {
    const image = await rbp.json<ImageJson>('images', 'show', first.imageId);
    firstCreatedAt = image.createdAt;
    const until = imageLockedUntil(firstCreatedAt, LOCK).toISOString();
    const run = await rbp('images', 'delete', first.imageId);
    expect(run.code).toBe(EXIT.CONFLICT);
    expect(run.stderr).toContain(
      `image ${first.imageId} of ${volumeId} is under Object Lock retention until ${until}; not deleted`,
    );
    expect((await rbp.json<ImageJson>('images', 'show', first.imageId)).imageId).toBe(first.imageId);
  }, 120_000);

  it('rbp gc run leaves locked garbage and reports it as locked', async () => {
    const bucket = product.product.names.imageBucket;
    const body = Buffer.from('not a chunk anybody references');
    await product.engine.s3Client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: chunkKey(GARBAGE),
        Body: body,
        ChecksumAlgorithm: 'CRC32',
      }),
    );
    const gc = await rbp.json<Record<string, unknown>>('gc', 'run', '--wait', '--poll-interval', '0.2');
    expect(gc).toMatchObject({
      status: 'complete',
      chunksDeleted: 0,
      segmentsDeleted: 0,
      locked: { objects: 1, bytes: body.length },
    });
    const kept = await head(chunkKey(GARBAGE));
    expect(kept.ContentLength).toBe(body.length);
    garbageLock = kept.ObjectLockRetainUntilDate!;
  }, 300_000);

  it('a collection in a later generation extends every live object: no live image has an unlocked one', async () => {
    // Free space near the end of the 32 MiB ext4 disk: new blocks, the filesystem stays intact.
    await product.stack.agent.write(volumeId, 28 * 1024 * 1024, Buffer.alloc(1024 * 1024, 9));
    const second = await backUp();
    expect(second.imageId).not.toBe(first.imageId);
    offsetMs = DAY_MS + LATER_MS;
    const gcAt = shifted.now();
    const gc = await rbp.json<Record<string, unknown>>('gc', 'run', '--wait', '--poll-interval', '0.2');
    expect(gc).toMatchObject({ status: 'complete', chunksDeleted: 0, locked: { objects: 1 } });
    // Both images are live and within their retention at the collection's time.
    const extendedTo = retainUntilForGeneration(generationOf(gcAt, LOCK), LOCK).getTime();
    for (const image of [first.imageId, second.imageId]) {
      const createdAt = (await rbp.json<ImageJson>('images', 'show', image)).createdAt;
      const { manifest, data } = await objectsOf(image);
      for (const key of data) {
        expect((await head(key)).ObjectLockRetainUntilDate!.getTime(), key).toBe(extendedTo);
      }
      const manifestLock = (await head(manifest)).ObjectLockRetainUntilDate!.getTime();
      expect(manifestLock).toBeGreaterThanOrEqual(Date.parse(createdAt) + LOCK.retentionDays * DAY_MS);
      expect(manifestLock).toBeGreaterThan(gcAt.getTime());
    }
    // The garbage keeps the lock it was written with (the bucket's default retention): it is not
    // live, so it is not extended.
    expect((await head(chunkKey(GARBAGE))).ObjectLockRetainUntilDate).toEqual(garbageLock);
  }, 600_000);

  it('a PUT answered 412 extends the existing object to its own generation, never shortening', async () => {
    const bucket = product.product.names.imageBucket;
    const key = chunkKey(sha256Hex(Buffer.from('a chunk two backups write')));
    const body = Buffer.from('chunk bytes');
    const crc32 = crc32Base64(body);
    // Fixed clocks: one generation apart whatever the time of day.
    const base = Date.now();
    const writerAt = (offset: number) =>
      new S3ObjectStore(product.engine.s3Client, bucket, '', {
        config: LOCK,
        clock: { now: () => new Date(base + offset) },
      });
    const lockOf = async () => (await head(key)).ObjectLockRetainUntilDate!.getTime();
    expect(await writerAt(0).putIfAbsent({ key, body, crc32Base64: crc32 })).toBe('created');
    const written = await lockOf();
    expect(written).toBe(retainUntilForGeneration(generationOf(new Date(base), LOCK), LOCK).getTime());
    // A backup one generation later finds it present (412) and extends it to its own end(g) + P.
    expect(await writerAt(DAY_MS).putIfAbsent({ key, body, crc32Base64: crc32 })).toBe('exists');
    const extended = await lockOf();
    expect(extended).toBe(written + DAY_MS);
    // One in the first generation again: the later lock stays.
    expect(await writerAt(0).putIfAbsent({ key, body, crc32Base64: crc32 })).toBe('exists');
    expect(await lockOf()).toBe(extended);
  }, 120_000);

  it('deleting a locked key without a version id hides it behind a delete marker; the locked version stays', async () => {
    const outcome = await product.objects.deleteObjects([chunkKey(GARBAGE)]);
    expect(outcome).toEqual({ deleted: [chunkKey(GARBAGE)], failed: [] });
    const versions = await product.engine.s3Client.send(
      new ListObjectVersionsCommand({ Bucket: product.product.names.imageBucket, Prefix: chunkKey(GARBAGE) }),
    );
    expect((versions.Versions ?? []).map((v) => v.IsLatest)).toEqual([false]);
    expect((versions.DeleteMarkers ?? []).map((m) => m.IsLatest)).toEqual([true]);
    await expect(head(chunkKey(GARBAGE))).rejects.toThrow();
  }, 120_000);

  it('a chunk corrupt at rest is found by the scrub and rewritten by the next backup as a new locked version', async () => {
    const bucket = product.product.names.imageBucket;
    const latest = await rbp.json<ImageJson[]>('images', 'ls', '--volume', volumeId);
    const last = [...latest].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1)).at(-1)!;
    const [victim] = await mappedChunks(product.engine, volumeId, last.imageId);
    const key = chunkKey(victim!);
    const good = (await product.engine.images.getChunk(victim!)).data;
    // Other bytes under the chunk's name: a new, locked version over the good one.
    const garbage = Buffer.alloc(4096, 0x5a);
    await new S3ObjectStore(product.engine.s3Client, bucket, '', {
      config: LOCK,
      clock: { now: () => new Date() },
    }).replace({ key, body: garbage, crc32Base64: crc32Base64(garbage) });
    const found = await scrubAll(rbp);
    expect(found.status).toBe('findings');
    expect(found.corrupt.map((c) => c.key)).toContain(key);
    const quarantine = new DynamoDbChunkQuarantine(product.engine.ddbClient, product.product.names.table);
    expect((await quarantine.list()).map((e) => e.name)).toContain(victim);

    const repaired = await backUp();
    const image = await rbp.json<{ fullReadReason?: string }>('images', 'show', repaired.imageId);
    expect(image.fullReadReason).toBe('QUARANTINED_CHUNK');
    expect((await product.engine.images.getChunk(victim!)).data.equals(good)).toBe(true);
    expect(await quarantine.list()).toEqual([]);
    const versions = await product.engine.s3Client.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }),
    );
    const mine = (versions.Versions ?? []).filter((v) => v.Key === key);
    expect(mine.map((v) => v.IsLatest)).toEqual([true, false, false]);
    for (const version of mine) {
      const object = await product.engine.s3Client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: version.VersionId }),
      );
      expect(object.ObjectLockMode, version.VersionId).toBe('GOVERNANCE');
    }
    const again = await scrubAll(rbp);
    expect(again.status).toBe('ok');
  }, 600_000);
});
