/**
 * The lifecycle's done-when on the local stack: four real backups of an ext4 replica with changes,
 * `rbp retention apply --keep-last 2` leaves two images that restore byte for byte; `rbp gc run`
 * (the lifecycle job Lambda on the gateway, started by the API) leaves exactly as many chunk
 * objects as the two manifests reference distinct chunks; a chunk overwritten with garbage is
 * reported by `rbp scrub run --all` with the images it breaks (and published as an event) and
 * quarantined, and a volume restore of such an image exits non-zero naming the chunk; the next
 * backup of the volume reads it in full (QUARANTINED_CHUNK), writes the chunk again (an
 * unconditional PUT on moto) and clears the entry, after which `rbp restore volume` of the broken
 * image succeeds, both images read back byte for byte and a second scrub finds nothing.
 */
import { readFile } from 'node:fs/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { DynamoDbChunkQuarantine } from '../../lambdas/aws/dynamodb-chunk-quarantine.ts';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { DynamoDbGcCoordination, LIFECYCLE_JOBS } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { EventBridgePublisher } from '../../lambdas/aws/outcome-publishers.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import type { RetentionResult } from '../../lambdas/core/api/lifecycle-api.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { QUARANTINED_CHUNK } from '../../lambdas/core/backup/plan.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { chunkKey } from '../../lambdas/core/image/image-types.ts';
import type { CostReport } from '../../lambdas/core/lifecycle/cost.ts';
import type { LifecycleRunDeps } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { LOCAL_API_NAMES, snapshotOf } from '../api/local-api-fixture.ts';
import { unpacedBackupDeps } from '../engine/local-engine.ts';
import type { CliResult } from '../support/cli.ts';
import {
  chunkObjectKeys,
  mappedChunks,
  referencedChunks,
  scrubAll,
  useLocalApiProduct,
} from '../support/local-product.ts';
import {
  KEEP_LAST_TWO_OUTCOMES,
  keepLastTwo,
  NEW_FILE,
  NEW_FILE_VERSIONS,
} from './lifecycle-local-fixture.ts';

/** The lifecycle job function's name on this test's gateway. */
const LIFECYCLE_FUNCTION = 'rbp-lifecycle-job';
/**
 * The lifecycle jobs run "two hours later" than the backups: the collector deletes only objects
 * older than its start minus its one-hour safety margin, and every object here is minutes old.
 */
const LATER_MS = 2 * 60 * 60 * 1000;
const published: [string, unknown][] = [];
const product = useLocalApiProduct('lifecycle-local');
const { rbp } = product;
const json = rbp.json;
/** The disk as of img-c and img-d. */
let disks: Map<string, string>;
/** The scrub's quarantine in the product table (the scrub writes it, the backup clears it). */
let quarantine: DynamoDbChunkQuarantine;

beforeAll(async () => {
  const control = product.serveLifecycleApi(LIFECYCLE_FUNCTION);
  const later: Clock = { now: () => new Date(Date.now() + LATER_MS) };
  const records = new DynamoDbLifecycleImageRecords(control.documents, LOCAL_API_NAMES.table, () =>
    Promise.resolve(new Map([[product.api.volumeId, undefined]])),
  );
  const objects = new S3LifecycleObjectStore(control.s3, LOCAL_API_NAMES.imageBucket);
  const events = new EventBridgePublisher(control.eventBridge, 'default');
  quarantine = new DynamoDbChunkQuarantine(control.documents, LOCAL_API_NAMES.table);
  let runs = 0;
  const runDeps: LifecycleRunDeps = {
    jobs: new DynamoDbJobStore(control.documents, LOCAL_API_NAMES.table, LIFECYCLE_JOBS),
    clock: later,
    newRunId: (kind) => `${kind}-${(runs += 1)}`,
    gc: {
      objects,
      records,
      coordination: new DynamoDbGcCoordination(control.documents, LOCAL_API_NAMES.table),
      clock: later,
    },
    scrub: { objects, records, quarantine },
    events: {
      publish: async (detailType, detail) => {
        published.push([detailType, detail]);
        await events.publish(detailType, detail);
      },
    },
    recordFindings: () => undefined,
  };
  const job = createLifecycleJobHandler({ run: runDeps, relaunch: () => undefined });
  product.stack.gateway.registerFunction(LIFECYCLE_FUNCTION, (event, context) => job(event, context));
  disks = await product.backUpVersions(NEW_FILE, NEW_FILE_VERSIONS);
}, 300_000);

/** Distinct chunk names the images' manifests reference. */
function referencedBy(imageIds: readonly string[]): Promise<Set<string>> {
  return referencedChunks(product.api.engine, product.api.volumeId, imageIds);
}

/** Non-zero chunk entries of one image (what it maps, shared or not). */
async function referencedChunkCount(imageId: string): Promise<number> {
  return (await mappedChunks(product.api.engine, product.api.volumeId, imageId)).length;
}

function chunkObjects(): Promise<string[]> {
  return chunkObjectKeys(
    new S3LifecycleObjectStore(product.api.engine.s3Client, LOCAL_API_NAMES.imageBucket),
  );
}

/** `rbp restore volume --image IMAGE --json`, waited for (polling every 0.2 s); it may fail. */
function restoreVolume(imageId: string): Promise<CliResult> {
  return rbp('restore', 'volume', '--image', imageId, '--wait', '--json', '--poll-interval', '0.2');
}

describe('lifecycle done-when on the local stack', () => {
  it('retention --keep-last 2, then gc run, leaves two images and exactly their chunks', async () => {
    const result = await json<RetentionResult>(...keepLastTwo(product));
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual(KEEP_LAST_TWO_OUTCOMES);
    const before = (await chunkObjects()).length;
    const referenced = await referencedBy(['img-c', 'img-d']);
    expect(before).toBeGreaterThan(referenced.size);

    const dry = await json<Record<string, unknown>>(
      'gc',
      'run',
      '--dry-run',
      '--wait',
      '--poll-interval',
      '0.2',
    );
    expect(Object.keys(dry)).toEqual([
      'status',
      'chunksLive',
      'chunksDeleted',
      'segmentsDeleted',
      'bytesFreed',
    ]);
    expect(dry).toMatchObject({
      status: 'dry-run',
      chunksLive: referenced.size,
      chunksDeleted: before - referenced.size,
    });
    expect((await chunkObjects()).length).toBe(before);

    const gc = await json<Record<string, unknown>>('gc', 'run', '--wait', '--poll-interval', '0.2');
    expect(gc).toMatchObject({
      status: 'complete',
      chunksLive: referenced.size,
      chunksDeleted: before - referenced.size,
    });
    expect(gc.bytesFreed).toBeGreaterThan(0);
    const after = await chunkObjects();
    expect(after.length).toBe(referenced.size);
    expect(after.sort()).toEqual([...referenced].map((n) => chunkKey(n)).sort());
    for (const kept of ['img-c', 'img-d']) {
      expect((await product.imageBytes(kept)).equals(await readFile(disks.get(kept)!)), kept).toBe(true);
    }
    // Retention (deletions and catalog pruning) and two collections through the CLI: well over a
    // minute on a loaded 2-core machine.
  }, 240_000);

  it('report cost: the two live images, the bucket as listed, and a monthly estimate', async () => {
    const report = await json<CostReport>('report', 'cost');
    const referenced = await referencedBy(['img-c', 'img-d']);
    const logical = (await referencedChunkCount('img-c')) + (await referencedChunkCount('img-d'));
    expect(report.storageClass).toBe('STANDARD');
    expect(report.total).toMatchObject({
      scope: 'total',
      images: 2,
      logicalBytes: logical * CHUNK_SIZE_BYTES,
    });
    expect(report.total.dedupRatio).toBe(Math.round((logical / referenced.size) * 1000) / 1000);
    expect(report.total.compressionRatio).toBeGreaterThan(1);
    expect(report.servers.map((l) => l.images)).toEqual([2]);
    const unknown = await rbp('report', 'cost', '--server', 'srv-none', '--json');
    expect(unknown.code).toBe(EXIT.NOT_FOUND);
  });

  it(
    'scrub --all names a chunk overwritten with garbage and the images it breaks; a volume restore of them fails until the next backup repairs it',
    { timeout: 300_000 },
    async () => {
      const clean = await scrubAll(rbp);
      expect(clean).toMatchObject({ status: 'ok', corrupt: [], missing: [] });
      const inD = await referencedBy(['img-d']);
      const inC = await referencedBy(['img-c']);
      expect(clean.chunksVerified).toBe(new Set([...inC, ...inD]).size);
      // A chunk only img-d references, overwritten with garbage of the same length.
      const victim = [...inD].find((name) => !inC.has(name))!;
      expect(victim).toBeDefined();
      const key = chunkKey(victim);
      await product.api.engine.s3Client.send(
        new PutObjectCommand({
          Bucket: LOCAL_API_NAMES.imageBucket,
          Key: key,
          Body: Buffer.alloc(4096, 0x5a),
        }),
      );
      const scrub = await scrubAll(rbp);
      expect(scrub.status).toBe('findings');
      expect(scrub.corrupt).toEqual([{ key, images: [`${product.api.volumeId}/img-d`] }]);
      expect(scrub.missing).toEqual([]);
      expect(published.map(([type]) => type)).toEqual(['Scrub Findings']);

      const restore = await restoreVolume('img-d');
      expect(restore.code, restore.stdout + restore.stderr).not.toBe(EXIT.OK);
      expect(restore.stdout + restore.stderr).toContain(victim);

      // The finding is quarantined; the next backup of the volume (nothing changed on it) reads it
      // in full, writes the chunk again and clears the entry.
      const { engine, volumeId } = product.api;
      expect((await quarantine.list()).map((e) => [e.name, e.volumeIds])).toEqual([[victim, [volumeId]]]);
      const { manifest } = await runBackup(
        { ...unpacedBackupDeps(engine), quarantine },
        {
          volumeId,
          imageId: 'img-e',
          snapshotId: await snapshotOf(engine, volumeId),
          volumeSizeGib: 1,
          createdAt: new Date().toISOString(),
          parent: { imageId: 'img-d' },
        },
      );
      expect(manifest).toMatchObject({ kind: 'full', fullReadReason: QUARANTINED_CHUNK });
      expect(await quarantine.list()).toEqual([]);
      const repaired = await restoreVolume('img-d');
      expect(repaired.code, repaired.stdout + repaired.stderr).toBe(EXIT.OK);
      const source = await readFile(disks.get('img-d')!);
      expect((await product.imageBytes('img-d')).equals(source)).toBe(true);
      expect((await product.imageBytes('img-e')).equals(source)).toBe(true);
      const again = await scrubAll(rbp);
      expect(again).toMatchObject({ status: 'ok', corrupt: [], missing: [] });
      expect(again.chunksVerified).toBe(new Set([...inC, ...inD]).size);
      expect(published.map(([type]) => type)).toEqual(['Scrub Findings']);
    },
  );
});
