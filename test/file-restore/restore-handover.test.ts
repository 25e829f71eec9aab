/**
 * File and directory restores that cannot finish in one invocation (issue 12): the worker stops
 * between two upload parts when its time is nearly up, keeps its progress in the job record and a
 * new invocation resumes after the stored parts. Time is a manual clock that moves one second per
 * part written, so where an invocation stops is exact. Checked on a real ext4 image (mke2fs -d):
 * the object is byte-identical to the one a single invocation writes (and, for the archive, GNU tar
 * unpacks the source tree from it), every part is written exactly once, the progress is recorded,
 * and the resumed invocations do not read again the file data they skip. Once more with the S3
 * adapter on moto (CreateMultipartUpload / UploadPart / ListParts / CompleteMultipartUpload).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ThrottledError } from '../../lambdas/core/errors.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import {
  runRestoreJob,
  type RestoreDeps,
  type RestoreJob,
  type RestoreKind,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { ResumableUploads } from '../../lambdas/core/file-restore/restore-ports.ts';
import { readFileBytes, RESTORE_PIECE_BYTES } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { tarArchive } from '../../lambdas/core/file-restore/tar-archive.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { S3RestoreObjectStore } from '../../lambdas/aws/s3-restore.ts';
import { createRestoreWorkerHandler } from '../../lambdas/handlers/restore-worker.ts';
import type { RestoreWorkerDeps } from '../../lambdas/aws/wiring.ts';
import type { RestoreWorkerEvent } from '../../lambdas/core/api/restore-service.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { removeDir, scratchDir } from '../support/fs-images.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { MemoryRestoreJobs, MemoryRestoreObjects } from './memory-restore.ts';
import { Invocations, MultipartMemoryObjects } from './handover-fixture.ts';
import { createRestore, expectArchiveEqualsSource, makeRestoreSource } from './restore-fixture.ts';

const MIB = 1024 * 1024;
/** Parts of the in-memory store: small, so the archive is many parts. */
const MEMORY_PART_BYTES = MIB;
/** S3's smallest part but the last (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html). */
const S3_PART_BYTES = 5 * MIB;
/** Virtual time each part takes to write. */
const PART_MS = 1_000;
/** Parts an invocation starts before its deadline comes within the handover margin. */
const PARTS_PER_INVOCATION = 5;
const BUCKET = 'restore-handover';

const local = useLocalStack();
const image = imageAt('vol-handover', 1);
const clock = new ManualClock();
let work: string;
let source: string;
let disk: FileByteRangeReader;
let catalog: MemoryCatalogStore;
let s3: S3Client | undefined;

/** The disk, counting the bytes read through it. */
class CountingReader implements ByteRangeReader {
  bytes = 0;
  constructor(private readonly inner: ByteRangeReader) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.bytes += length;
    return this.inner.read(offset, length);
  }
}

function depsWith<O extends RestoreDeps['objects']>(objects: O, reader: ByteRangeReader) {
  return {
    jobs: new MemoryRestoreJobs(),
    objects,
    catalog,
    openImage: () => Promise.resolve(reader),
    clock,
  } satisfies RestoreDeps;
}

const target = (kind: RestoreKind) => (kind === 'file' ? '/sparse.bin' : '/');

function create(deps: RestoreDeps, kind: RestoreKind): Promise<string> {
  return createRestore(deps, image, {
    restoreId: `rs-${kind}`,
    kind,
    target: target(kind),
    keyToken: 'token',
  });
}

const invocations = new Invocations(clock, PARTS_PER_INVOCATION, PART_MS);
const deadlineOfNewInvocation = () => invocations.deadline();
const runToEnd = (deps: RestoreDeps, restoreId: string) => invocations.runToEnd(deps, restoreId);

/** What one invocation without a deadline writes, and the bytes it reads. */
async function singleInvocation(kind: RestoreKind): Promise<{ body: Buffer; read: number }> {
  const reader = new CountingReader(disk);
  const deps = depsWith(new MemoryRestoreObjects(), reader);
  const job = await runRestoreJob(deps, await create(deps, kind));
  expect(job.status, job.failure?.reason).toBe('succeeded');
  return { body: deps.objects.objects.get(job.result!.key)!.body, read: reader.bytes };
}

/** What a resumed invocation reads when it skips the whole object: the filesystem, the walk, no file data. */
async function walkOnly(kind: RestoreKind): Promise<number> {
  const reader = new CountingReader(disk);
  const opened = await openImageFilesystem(reader);
  const everything = Number.MAX_SAFE_INTEGER;
  const body =
    kind === 'file'
      ? readFileBytes(
          opened.fs,
          opened.reader,
          await opened.fs.lookup(target(kind)),
          undefined,
          undefined,
          everything,
        )
      : tarArchive(opened.fs, opened.reader, [target(kind)], everything).stream;
  for await (const piece of body)
    expect(piece.every((byte) => byte === 0) || kind === 'directory').toBe(true);
  return reader.bytes;
}

beforeAll(async () => {
  work = await scratchDir('restore-handover');
  let imageFile: string;
  ({ source, image: imageFile } = await makeRestoreSource(work, 150));
  disk = await FileByteRangeReader.open(imageFile);
  catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image, disk });
}, 180_000);

afterAll(async () => {
  s3?.destroy();
  await disk.close();
  await removeDir(work);
});

describe('a restore that cannot finish in one invocation', () => {
  it.each(['directory', 'file'] as const)(
    'a %s restore stops between parts, records its progress and resumes: same bytes, each part written once, skipped data not read again',
    async (kind) => {
      const single = await singleInvocation(kind);
      const reader = new CountingReader(disk);
      const objects = new MultipartMemoryObjects(() => clock.advance(PART_MS), MEMORY_PART_BYTES);
      const deps = depsWith(objects, reader);
      const restoreId = await create(deps, kind);

      const after = await runToEnd(deps, restoreId);

      const parts = Math.ceil(single.body.length / MEMORY_PART_BYTES);
      expect(parts).toBeGreaterThan(3 * PARTS_PER_INVOCATION);
      expect(after.length).toBeGreaterThanOrEqual(Math.floor(parts / (PARTS_PER_INVOCATION + 3)));
      // Every invocation but the last left the job running with the parts it had stored.
      const paused = after.slice(0, -1);
      expect(paused.every((job) => job.status === 'running')).toBe(true);
      expect(paused.map((job) => job.progress!.handovers)).toEqual(paused.map((_, i) => i + 1));
      for (const job of paused) {
        expect(job.progress!.uploadId).toBe('upload-1');
        expect(job.progress!.bytes).toBe(job.progress!.parts * MEMORY_PART_BYTES);
      }
      const stored = paused.map((job) => job.progress!.parts);
      expect(stored).toEqual([...stored].sort((a, b) => a - b));
      expect(new Set(stored).size).toBe(stored.length);
      // Each part written once, in order, across all invocations.
      expect(objects.partLog).toEqual(Array.from({ length: parts }, (_, i) => `upload-1:${i + 1}`));

      const done = after.at(-1)!;
      expect(done.status, done.failure?.reason).toBe('succeeded');
      const body = objects.objects.get(done.result!.key)!.body;
      expect(body.length).toBe(single.body.length);
      expect(body.equals(single.body)).toBe(true);
      expect(done.result!.bytes).toBe(single.body.length);
      if (kind === 'file') {
        expect(body.equals(await readFile(path.join(source, 'sparse.bin')))).toBe(true);
      } else {
        await expectArchiveEqualsSource(body, work, source, ['/']);
      }
      // A resumed invocation walks again (its metadata reads are repeated) but does not read the
      // data it drops: all invocations together read what one invocation reads, plus per handover
      // one walk that skips every body and the pieces that straddle the resume point (a piece is
      // at most one chunk, read through pages of the same size: two of them).
      const perHandover = (await walkOnly(kind)) + 2 * 2 * RESTORE_PIECE_BYTES;
      const bound = single.read + (after.length - 1) * perHandover;
      expect(reader.bytes).toBeLessThanOrEqual(bound);
      // Where file data dominates (the archive), reading it all again per invocation would break the bound.
      if (kind === 'directory') expect(bound).toBeLessThan(after.length * single.read * 0.8);
    },
    180_000,
  );

  it('the worker Lambda hands over to a new invocation of itself while the restore runs, and stops when it ends', async () => {
    const objects = new MultipartMemoryObjects(() => clock.advance(PART_MS), MEMORY_PART_BYTES);
    const files = depsWith(objects, disk);
    const restoreId = await create(files, 'file');
    const relaunched: RestoreWorkerEvent[] = [];
    const handler = createRestoreWorkerHandler({
      files,
      volumes: undefined as unknown as RestoreWorkerDeps['volumes'],
      relaunch: (functionName) => {
        expect(functionName).toBe('restore-worker');
        return { launch: (event) => Promise.resolve(void relaunched.push(event)) };
      },
    });
    const context = {
      functionName: 'restore-worker',
      getRemainingTimeInMillis: () => deadlineOfNewInvocation() - clock.now().getTime(),
    } as unknown as Parameters<typeof handler>[1];
    const event = { restoreId, kind: 'files' } as const;
    const outcomes = [await handler(event, context)];
    while (relaunched.length === outcomes.length) outcomes.push(await handler(relaunched.at(-1), context));
    expect(outcomes.length).toBeGreaterThan(2);
    expect(outcomes.slice(0, -1).every((o) => o.status === 'running')).toBe(true);
    expect(outcomes.at(-1)).toEqual({ restoreId, status: 'succeeded' });
    expect(relaunched).toEqual(outcomes.slice(0, -1).map(() => event));
    const job = await files.jobs.get(restoreId);
    const body = objects.objects.get(job.result!.key)!.body;
    expect(body.equals(await readFile(path.join(source, 'sparse.bin')))).toBe(true);
  }, 120_000);

  it('on S3 (moto): the open upload outlives the invocations and completes from its listed parts', async () => {
    s3 ??= new S3Client({ ...local.clientConfig(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const single = await singleInvocation('directory');
    let partsWritten = 0;
    const store = new S3RestoreObjectStore(s3, BUCKET, { partBytes: S3_PART_BYTES });
    const putPart = store.parts.putPart;
    const counted: ResumableUploads = {
      ...store.parts,
      putPart: (...args) => {
        partsWritten += 1;
        clock.advance(PART_MS);
        return putPart(...args);
      },
    };
    const objects = Object.assign(Object.create(store) as S3RestoreObjectStore, { parts: counted });
    const deps = depsWith(objects, disk);
    const after = await runToEnd(deps, await create(deps, 'directory'));
    expect(after.length).toBeGreaterThan(1);
    const done = after.at(-1)!;
    expect(done.status, done.failure?.reason).toBe('succeeded');
    expect(partsWritten).toBe(Math.ceil(single.body.length / S3_PART_BYTES));
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: done.result!.key }));
    const body = Buffer.from(await got.Body!.transformToByteArray());
    expect(body.equals(single.body)).toBe(true);
  }, 180_000);
});

/** The job store in memory, whose first write of a succeeded job is throttled (a DynamoDB throttle on the final update). */
class ThrottledOnceJobs extends MemoryRestoreJobs {
  throttled = 0;
  override update(job: RestoreJob, from: Parameters<MemoryRestoreJobs['update']>[1]): Promise<void> {
    if (job.status === 'succeeded' && this.throttled === 0) {
      this.throttled += 1;
      return Promise.reject(new ThrottledError('ProvisionedThroughputExceededException'));
    }
    return super.update(job, from);
  }
}

/**
 * Runs a file restore whose upload is completed but whose final job update is throttled: the run
 * throws, the job stays running with every part in its progress.
 */
async function completedButNotRecorded(objects: RestoreDeps['objects']) {
  const deps = { ...depsWith(objects, disk), jobs: new ThrottledOnceJobs() };
  const restoreId = await create(deps, 'file');
  await expect(runRestoreJob(deps, restoreId)).rejects.toThrow(ThrottledError);
  const left = await deps.jobs.get(restoreId);
  expect(left.status).toBe('running');
  const sourceBytes = await readFile(path.join(source, 'sparse.bin'));
  expect(left.progress!.bytes).toBe(sourceBytes.length);
  return { deps, restoreId, sourceBytes };
}

describe('a restore whose upload was completed but whose job was not marked succeeded', () => {
  it('runs again to succeeded from the completed object, writing no part again (in memory)', async () => {
    const objects = new MultipartMemoryObjects(() => undefined, MEMORY_PART_BYTES);
    const { deps, restoreId, sourceBytes } = await completedButNotRecorded(objects);
    const written = objects.partLog.length;

    const again = await runRestoreJob(deps, restoreId);

    expect(again.status, again.failure?.reason).toBe('succeeded');
    expect(again.result!.bytes).toBe(sourceBytes.length);
    expect(objects.partLog.length).toBe(written);
    expect(objects.objects.get(again.result!.key)!.body.equals(sourceBytes)).toBe(true);
  }, 120_000);

  it('fails with a clear message when the upload is gone and the object is absent (in memory)', async () => {
    const objects = new MultipartMemoryObjects(() => undefined, MEMORY_PART_BYTES);
    const { deps, restoreId } = await completedButNotRecorded(objects);
    const [key] = [...objects.objects.keys()];
    objects.objects.delete(key!);

    const again = await runRestoreJob(deps, restoreId);

    expect(again.status).toBe('failed');
    expect(again.failure!.reason).toContain(
      `the multipart upload of ${key} no longer exists and the object is absent (aborted, or expired by the bucket's lifecycle rule); start the restore again`,
    );
  }, 120_000);

  it('on S3 (moto): ListParts answers NoSuchUpload, HeadObject finds the object, the job succeeds', async () => {
    s3 ??= new S3Client({ ...local.clientConfig(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: `${BUCKET}-completed` }));
    const store = new S3RestoreObjectStore(s3, `${BUCKET}-completed`, { partBytes: S3_PART_BYTES });
    const heads: (number | undefined)[] = [];
    const objectBytes = store.parts.objectBytes;
    const counted: ResumableUploads = {
      ...store.parts,
      objectBytes: async (key) => {
        heads.push(await objectBytes(key));
        return heads.at(-1);
      },
    };
    const objects = Object.assign(Object.create(store) as S3RestoreObjectStore, { parts: counted });
    const { deps, restoreId, sourceBytes } = await completedButNotRecorded(objects);
    expect(heads).toEqual([]);

    const again = await runRestoreJob(deps, restoreId);

    expect(again.status, again.failure?.reason).toBe('succeeded');
    expect(again.result!.bytes).toBe(sourceBytes.length);
    expect(heads).toEqual([sourceBytes.length]);
    const got = await s3.send(
      new GetObjectCommand({ Bucket: `${BUCKET}-completed`, Key: again.result!.key }),
    );
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(sourceBytes)).toBe(true);
  }, 180_000);
});
