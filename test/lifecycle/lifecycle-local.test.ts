/**
 * The lifecycle's done-when on the local stack: four real backups of an ext4 replica with changes,
 * `rbp retention apply --keep-last 2` leaves two images that restore byte for byte; `rbp gc run`
 * (the lifecycle job Lambda on the gateway, started by the API) leaves exactly as many chunk
 * objects as the two manifests reference distinct chunks; a chunk overwritten with garbage is
 * reported by `rbp scrub run --all` with the images it breaks (and published as an event), and a
 * volume restore of such an image exits non-zero naming the chunk.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { DynamoDbGcCoordination, LIFECYCLE_JOBS } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { EventBridgePublisher } from '../../lambdas/aws/outcome-publishers.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { createSdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { createLifecycleApi } from '../../lambdas/aws/wiring.ts';
import type { RetentionResult } from '../../lambdas/core/api/lifecycle-api.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { DIGEST_BYTES, isZeroHash } from '../../lambdas/core/image/hashing.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { CHUNK_KEY_PREFIX, chunkKey, segmentEntryCount } from '../../lambdas/core/image/image-types.ts';
import type { CostReport } from '../../lambdas/core/lifecycle/cost.ts';
import type { LifecycleRunDeps } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { systemClock, type Clock } from '../../lambdas/core/ports.ts';
import { waitForSnapshotCompleted } from '../../lambdas/core/restore/volume-restore.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { LOCAL_API_NAMES, setUpLocalApi, type LocalApi } from '../api/local-api-fixture.ts';
import { noPacing } from '../engine/engine-fixture.ts';
import { debugfs, removeDir, scratchDir } from '../support/fs-images.ts';
import { useLocalStack } from '../support/local-stack.ts';

/** The lifecycle job function's name on this test's gateway. */
const LIFECYCLE_FUNCTION = 'rbp-lifecycle-job';
/**
 * The lifecycle jobs run "two hours later" than the backups: the collector deletes only objects
 * older than its start minus its one-hour safety margin, and every object here is minutes old.
 */
const LATER_MS = 2 * 60 * 60 * 1000;
const published: [string, unknown][] = [];
const RBP = new URL('../../bin/rbp', import.meta.url).pathname;
const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
/** The fixture's ext4 image is 32 MiB; the rest of the 1 GiB volume was never written. */
const DISK_BYTES = 32 * 1024 * 1024;
const NEW_FILE = '/docs/notes.txt';
let work: string;
let api: LocalApi;
/** The disk as of img-c and img-d. */
const disks = new Map<string, string>();

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function rbp(...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...api.env };
  delete env.RBP_API_URL;
  return new Promise((resolve) => {
    execFile(RBP, args, { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function json<T>(...args: string[]): Promise<T> {
  const run = await rbp(...args, '--json');
  expect(run, run.stderr).toMatchObject({ code: 0 });
  return JSON.parse(run.stdout) as T;
}

async function snapshotOf(volumeId: string): Promise<string> {
  const snapshot = await api.engine.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
  await waitForSnapshotCompleted(api.engine.snapshotState, snapshot.SnapshotId!, {
    intervalMs: 50,
    timeoutMs: 60_000,
    nowMs: () => performance.now(),
    sleep: realSleep,
  });
  return snapshot.SnapshotId!;
}

/** Writes the 512 KiB blocks of `next` that differ from `current` to the replica. */
async function replicate(current: string, next: string): Promise<void> {
  const [a, b] = [await readFile(current), await readFile(next)];
  for (let offset = 0; offset < b.length; offset += EBS_BLOCK_SIZE_BYTES) {
    const block = b.subarray(offset, offset + EBS_BLOCK_SIZE_BYTES);
    if (!block.equals(a.subarray(offset, offset + EBS_BLOCK_SIZE_BYTES))) {
      await local.stack.agent.write(api.volumeId, offset, block);
    }
  }
}

async function imageBytes(imageId: string): Promise<Buffer> {
  const record = await api.engine.records.getImageRecord(api.volumeId, imageId);
  const manifest = await api.engine.images.getManifest(api.volumeId, imageId, record.manifestSha256);
  return Buffer.from(await new ImageReader(api.engine.images, manifest).read(0, DISK_BYTES));
}

beforeAll(async () => {
  work = await scratchDir('lifecycle-local');
  api = await setUpLocalApi(local.stack, local.clientConfig(), work);
  const clientOptions = {
    endpoint: local.clientConfig().endpoint,
    region: local.clientConfig().region,
    credentials: { ...local.clientConfig().credentials },
  };
  const control = createSdkClients('control', clientOptions);
  const lifecycle = createLifecycleApi(
    { tableName: LOCAL_API_NAMES.table, imageBucket: LOCAL_API_NAMES.imageBucket },
    control,
    systemClock,
    LIFECYCLE_FUNCTION,
  );
  const later: Clock = { now: () => new Date(Date.now() + LATER_MS) };
  const records = new DynamoDbLifecycleImageRecords(control.documents, LOCAL_API_NAMES.table, () =>
    Promise.resolve(new Map([[api.volumeId, undefined]])),
  );
  const objects = new S3LifecycleObjectStore(control.s3, LOCAL_API_NAMES.imageBucket);
  const events = new EventBridgePublisher(control.eventBridge, 'default');
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
    scrub: { objects, records },
    events: {
      publish: async (detailType, detail) => {
        published.push([detailType, detail]);
        await events.publish(detailType, detail);
      },
    },
    recordFindings: () => undefined,
  };
  const job = createLifecycleJobHandler({ run: runDeps, relaunch: () => undefined });
  local.stack.gateway.registerFunction(LIFECYCLE_FUNCTION, (event, context) => job(event, context));
  local.stack.gateway.setApiHandler(createApiHandler({ ...api.deps, lifecycle }, () => undefined));

  // Two more backups, each after debugfs wrote a new version of NEW_FILE.
  const backupDeps = {
    ebs: api.engine.ebs,
    images: api.engine.images,
    records: api.engine.records,
    readPacer: noPacing,
    listPacer: noPacing,
  };
  let previous = path.join(work, 'changed.img');
  let parent = 'img-b';
  for (const [imageId, createdAt, text] of [
    ['img-c', '2026-03-03T00:00:00.000Z', 'third state\n'.repeat(500)],
    ['img-d', '2026-03-04T00:00:00.000Z', 'fourth state\n'.repeat(9000)],
  ] as const) {
    const disk = path.join(work, `${imageId}.img`);
    await copyFile(previous, disk);
    const content = path.join(work, `${imageId}.txt`);
    await writeFile(content, text);
    await debugfs(disk, [...(imageId === 'img-c' ? [] : [`rm ${NEW_FILE}`]), `write ${content} ${NEW_FILE}`]);
    await replicate(previous, disk);
    await runBackup(backupDeps, {
      volumeId: api.volumeId,
      imageId,
      snapshotId: await snapshotOf(api.volumeId),
      volumeSizeGib: 1,
      createdAt,
      parent: { imageId: parent },
    });
    disks.set(imageId, disk);
    previous = disk;
    parent = imageId;
  }
}, 300_000);

afterAll(async () => {
  api?.close();
  await removeDir(work);
});

/** Distinct chunk names the images' manifests reference. */
async function referencedChunks(imageIds: readonly string[]): Promise<Set<string>> {
  const names = new Set<string>();
  for (const imageId of imageIds) {
    const record = await api.engine.records.getImageRecord(api.volumeId, imageId);
    const manifest = await api.engine.images.getManifest(api.volumeId, imageId, record.manifestSha256);
    for (const [index, hash] of manifest.segments.entries()) {
      if (isZeroHash(hash)) continue;
      const table = await api.engine.images.getSegment(
        hash,
        segmentEntryCount(manifest.volumeSizeBytes, index),
      );
      for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
        const entry = table.subarray(offset, offset + DIGEST_BYTES);
        if (!entry.every((b) => b === 0)) names.add(entry.toString('hex'));
      }
    }
  }
  return names;
}

/** Non-zero chunk entries of one image (what it maps, shared or not). */
async function referencedChunkCount(imageId: string): Promise<number> {
  const record = await api.engine.records.getImageRecord(api.volumeId, imageId);
  const manifest = await api.engine.images.getManifest(api.volumeId, imageId, record.manifestSha256);
  let count = 0;
  for (const [index, hash] of manifest.segments.entries()) {
    if (isZeroHash(hash)) continue;
    const table = await api.engine.images.getSegment(
      hash,
      segmentEntryCount(manifest.volumeSizeBytes, index),
    );
    for (let offset = 0; offset < table.length; offset += DIGEST_BYTES) {
      if (!table.subarray(offset, offset + DIGEST_BYTES).every((b) => b === 0)) count += 1;
    }
  }
  return count;
}

async function chunkObjects(): Promise<string[]> {
  const objects = new S3LifecycleObjectStore(api.engine.s3Client, LOCAL_API_NAMES.imageBucket);
  const keys: string[] = [];
  let startAfter: string | undefined;
  for (;;) {
    const page = await objects.listPage(CHUNK_KEY_PREFIX, startAfter, 1000);
    keys.push(...page.objects.map((o) => o.key));
    if (!page.isTruncated || page.objects.length === 0) return keys;
    startAfter = page.objects.at(-1)!.key;
  }
}

describe('lifecycle done-when on the local stack', () => {
  it('retention --keep-last 2, then gc run, leaves two images and exactly their chunks', async () => {
    const result = await json<RetentionResult>(
      'retention',
      'apply',
      '--volume',
      api.volumeId,
      '--keep-last',
      '2',
    );
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual([
      ['img-d', 'kept'],
      ['img-c', 'kept'],
      ['img-b', 'deleted'],
      ['img-a', 'deleted'],
    ]);
    const before = (await chunkObjects()).length;
    const referenced = await referencedChunks(['img-c', 'img-d']);
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
      expect((await imageBytes(kept)).equals(await readFile(disks.get(kept)!)), kept).toBe(true);
    }
    // Retention (deletions and catalog pruning) and two collections through the CLI: well over a
    // minute on a loaded 2-core machine.
  }, 240_000);

  it('report cost: the two live images, the bucket as listed, and a monthly estimate', async () => {
    const report = await json<CostReport>('report', 'cost');
    const referenced = await referencedChunks(['img-c', 'img-d']);
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
    'scrub --all names a chunk overwritten with garbage and the images it breaks; a volume restore of them fails',
    { timeout: 300_000 },
    async () => {
      const clean = await json<{ status: string; chunksVerified: number }>(
        'scrub',
        'run',
        '--all',
        '--wait',
        '--poll-interval',
        '0.2',
      );
      expect(clean).toMatchObject({ status: 'ok', corrupt: [], missing: [] });
      const inD = await referencedChunks(['img-d']);
      const inC = await referencedChunks(['img-c']);
      expect(clean.chunksVerified).toBe(new Set([...inC, ...inD]).size);
      // A chunk only img-d references, overwritten with garbage of the same length.
      const victim = [...inD].find((name) => !inC.has(name))!;
      expect(victim).toBeDefined();
      const key = chunkKey(victim);
      await api.engine.s3Client.send(
        new PutObjectCommand({
          Bucket: LOCAL_API_NAMES.imageBucket,
          Key: key,
          Body: Buffer.alloc(4096, 0x5a),
        }),
      );
      const scrub = await json<{
        status: string;
        corrupt: { key: string; images: string[] }[];
        missing: unknown[];
      }>('scrub', 'run', '--all', '--wait', '--poll-interval', '0.2');
      expect(scrub.status).toBe('findings');
      expect(scrub.corrupt).toEqual([{ key, images: [`${api.volumeId}/img-d`] }]);
      expect(scrub.missing).toEqual([]);
      expect(published.map(([type]) => type)).toEqual(['Scrub Findings']);

      const restore = await rbp(
        'restore',
        'volume',
        '--image',
        'img-d',
        '--wait',
        '--json',
        '--poll-interval',
        '0.2',
      );
      expect(restore.code, restore.stdout + restore.stderr).not.toBe(EXIT.OK);
      expect(restore.stdout + restore.stderr).toContain(victim);
    },
  );
});
