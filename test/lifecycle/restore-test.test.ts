/**
 * Restore tests (lambdas/core/lifecycle/restore-test.ts) over a real ext4 image backed up by the
 * engine into the in-memory image store and catalogued by the real catalog builder: a sample of
 * files restores byte for byte and is the same for the same run id, a chunk overwritten with
 * garbage fails the test naming the file and the chunk, a catalog size that disagrees fails it,
 * and the whole-volume read verifies every chunk. The job (lifecycle-jobs.ts) records the result,
 * counts failed servers and publishes them.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { versionKeyOf, type ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import type { ImageStore } from '../../lambdas/core/image/image-store.ts';
import {
  RESTORE_TEST_JOB_KIND,
  RESTORE_TEST_FAILED_EVENT,
  runLifecycleJob,
  startRestoreTestRun,
  type LifecycleJobEvent,
  type LifecycleRunDeps,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { LifecycleImage } from '../../lambdas/core/lifecycle/ports.ts';
import {
  RESTORE_TEST_SIZE_CLASS_BOUNDS,
  pickSample,
  runRestoreTest,
  sizeClassOf,
  type RestoreTestDeps,
  type SampleCandidate,
} from '../../lambdas/core/lifecycle/restore-test.ts';
import { backUpImageFile } from '../catalog/engine-image.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { ManualClock, MemoryLifecycleRecords } from '../fakes/memory-lifecycle.ts';
import type { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { generateTree, makeExtImage, removeDir, scratchDir, writeSparseFile } from '../support/fs-images.ts';
import { newWorld } from './lifecycle-fixture.ts';
import { chunkOfFile as chunkOfImageFile } from './restore-test-fixture.ts';

const MIB = 1024 * 1024;
const VOLUME = 'vol-0123456789abcdef0';
const IMAGE = 'img-rt-0001';
const SERVER = 'web-01';

let work: string;
let source: string;
let images: ImageStore;
let objects: MemoryObjectStore;
let catalog: MemoryCatalogStore;
let record: LifecycleImage;
const clock = new ManualClock(Date.UTC(2026, 3, 2));

function depsOf(catalogStore = catalog): RestoreTestDeps {
  const records = new MemoryLifecycleRecords();
  records.put(record);
  return { records, catalog: catalogStore, images, clock };
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

beforeAll(async () => {
  work = await scratchDir('restore-test');
  source = path.join(work, 'src');
  await generateTree(source, { seed: 31, files: 80, maxFileBytes: 2 * MIB });
  // One file per size class above the generated ones, so the mix has every class.
  await writeFile(path.join(source, 'large.bin'), Buffer.alloc(5 * MIB, 0x5a));
  await writeSparseFile(path.join(source, 'huge-sparse.bin'), 20 * MIB, [
    { offset: 3 * MIB + 7, data: Buffer.alloc(2 * MIB, 0x11) },
  ]);
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: 64 * MIB, blockSize: 4096, sourceDir: source });
  const backup = await backUpImageFile(imageFile, VOLUME, IMAGE);
  images = backup.images;
  objects = images.objects as MemoryObjectStore;
  record = {
    volumeId: VOLUME,
    imageId: IMAGE,
    createdAt: backup.record.createdAt,
    manifestKey: backup.record.manifestKey,
    manifestSha256: backup.record.manifestSha256,
    volumeSizeBytes: backup.record.volumeSizeBytes,
    status: 'live',
    serverId: SERVER,
  };
  catalog = new MemoryCatalogStore();
  const ref: ImageRef = { volumeId: VOLUME, imageId: IMAGE, createdAt: record.createdAt };
  const manifest = await images.getManifest(VOLUME, IMAGE, record.manifestSha256);
  await buildCatalog({ store: catalog }, { image: ref, disk: new ImageReader(images, manifest) });
}, 180_000);

afterAll(async () => {
  await removeDir(work);
});

/** The chunk that holds the first stored byte of `filePath` in the test's image. */
const chunkOfFile = (filePath: string) => chunkOfImageFile(images, record, filePath);

describe('restore test', () => {
  it('restores a mixed sample of files byte for byte and passes', async () => {
    const result = await runRestoreTest(depsOf(), { runId: 'restore-test-1' });
    expect(result.status).toBe('passed');
    const [server] = result.servers;
    expect(server).toMatchObject({
      server: SERVER,
      imageId: IMAGE,
      images: [`${VOLUME}/${IMAGE}`],
      filesChecked: 16,
      result: 'Passed',
      failures: [],
    });
    for (const file of server!.files) {
      const original = await readFile(path.join(source, file.path));
      expect(file.size).toBe(original.length);
      expect(file.sha256).toBe(sha256(original));
    }
    expect(server!.bytesChecked).toBe(server!.files.reduce((sum, f) => sum + f.size, 0));
    // Every size class the tree has is in the sample.
    const classes = new Set(server!.files.map((f) => sizeClassOf(f.size)));
    expect(classes.size).toBe(RESTORE_TEST_SIZE_CLASS_BOUNDS.length + 1);
  });

  it('checks the same files for the same run id, other files for another', async () => {
    const paths = async (runId: string) =>
      (await runRestoreTest(depsOf(), { runId, files: 8 })).servers[0]!.files.map((f) => f.path);
    const first = await paths('restore-test-a');
    expect(await paths('restore-test-a')).toEqual(first);
    expect(await paths('restore-test-b')).not.toEqual(first);
  });

  it('reads the whole volume and verifies every chunk', async () => {
    const result = await runRestoreTest(depsOf(), { runId: 'restore-test-w', files: 2, wholeVolume: true });
    const manifest = await images.getManifest(VOLUME, IMAGE, record.manifestSha256);
    const reader = new ImageReader(images, manifest);
    let chunks = 0;
    for (let i = 0; i < Math.ceil(manifest.volumeSizeBytes / CHUNK_SIZE_BYTES); i += 1) {
      if ((await reader.chunkName(i)) !== undefined) chunks += 1;
    }
    expect(result.servers[0]!.wholeVolume).toEqual({
      chunksVerified: chunks,
      bytes: chunks * CHUNK_SIZE_BYTES,
    });
    expect(result.status).toBe('passed');
  });

  it('fails naming the file and the chunk when a chunk holds garbage', async () => {
    // The largest file of the run's sample (the same run id samples the same files).
    const passed = await runRestoreTest(depsOf(), { runId: 'restore-test-1' });
    const file = passed.servers[0]!.files.reduce((a, b) => (b.size > a.size ? b : a)).path;
    const { key, name } = await chunkOfFile(file);
    const original = objects.objects.get(key)!;
    objects.objects.set(key, Buffer.alloc(original.length, 0x42));
    try {
      const result = await runRestoreTest(depsOf(), { runId: 'restore-test-1', wholeVolume: true });
      expect(result.status).toBe('failed');
      const [server] = result.servers;
      expect(server!.result).toBe('Failed');
      const fileFailure = server!.failures.find((f) => f.startsWith(`file ${file} `));
      expect(fileFailure).toContain(`partition`);
      expect(fileFailure).toContain(name);
      expect(server!.failures.find((f) => f.startsWith(`whole volume ${VOLUME}/${IMAGE}:`))).toContain(name);
      expect(server!.files.find((f) => f.path === file)!.sha256).toBeUndefined();
    } finally {
      objects.objects.set(key, original);
    }
  });

  it('fails when the catalog records another size than the image holds', async () => {
    const run = await runRestoreTest(depsOf(), { runId: 'restore-test-s', files: 4 });
    const victim = run.servers[0]!.files[0]!;
    const changed = new MemoryCatalogStore();
    for (const [pk, items] of catalog.items) changed.items.set(pk, new Map(items));
    for (const [key, value] of catalog.records) changed.records.set(key, value);
    const page = await changed.queryDirectory({
      volumeId: VOLUME,
      partition: victim.partition,
      dir: path.posix.dirname(victim.path),
      upTo: { version: versionKeyOf(record), inclusive: true },
      pageSize: 1000,
    });
    const item = page.items.find((i) => i.path === victim.path)!;
    await changed.putItems([{ ...item, meta: { ...item.meta!, size: victim.size + 1 } }]);
    const result = await runRestoreTest(depsOf(changed), { runId: 'restore-test-s', files: 4 });
    expect(result.servers[0]!.result).toBe('Failed');
    expect(result.servers[0]!.failures).toEqual([
      `file ${victim.path} (partition ${victim.partition} of ${VOLUME}/${IMAGE}): the filesystem says ${victim.size} bytes, the catalog ${victim.size + 1}`,
    ]);
  });

  it('refuses a server that has no live image', async () => {
    await expect(runRestoreTest(depsOf(), { runId: 'r', server: 'db-9' })).rejects.toThrow(
      'server db-9 has no live images to test',
    );
  });
});

describe('the sample', () => {
  const candidates = fc.uniqueArray(
    fc.record({
      volumeId: fc.constantFrom('vol-a', 'vol-b'),
      partition: fc.integer({ min: 0, max: 2 }),
      path: fc.stringMatching(/^\/[a-z]{1,6}(\/[a-z]{1,6}){0,2}$/),
      size: fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 40 * MIB })),
    }),
    { selector: (c) => `${c.volumeId}#${c.partition}#${c.path}`, maxLength: 200 },
  );

  it('stays within the file and byte bounds, is stable for a seed and independent of order', () => {
    fc.assert(
      fc.property(
        candidates,
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 64 * MIB }),
        (list: SampleCandidate[], seed, files, maxBytes) => {
          const sample = pickSample(seed, list, files, maxBytes);
          expect(sample.length).toBeLessThanOrEqual(files);
          expect(sample.reduce((sum, c) => sum + c.size, 0)).toBeLessThanOrEqual(maxBytes);
          expect(new Set(sample.map((c) => `${c.volumeId}#${c.partition}#${c.path}`)).size).toBe(
            sample.length,
          );
          for (const c of sample) expect(list).toContainEqual(c);
          expect(pickSample(seed, [...list].reverse(), files, maxBytes)).toEqual(sample);
          // Nothing that would still fit was left out while fewer than `files` were picked.
          if (sample.length < files) {
            const used = sample.reduce((sum, c) => sum + c.size, 0);
            const keyOf = (c: SampleCandidate) => `${c.volumeId}#${c.partition}#${c.path}`;
            const picked = new Set(sample.map(keyOf));
            const left = list.filter((c) => !picked.has(keyOf(c)));
            const fitting = left.filter((c) => used + c.size <= maxBytes);
            // Each class keeps at most `files` candidates: a left-out fitting one lost to a kept one.
            for (const c of fitting) {
              expect(list.filter((o) => sizeClassOf(o.size) === sizeClassOf(c.size)).length).toBeGreaterThan(
                files,
              );
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('restore test job', () => {
  it('records the result, counts failed servers and publishes them', async () => {
    const world = newWorld();
    const jobs = new MemoryJobStore('run');
    const published: [string, object][] = [];
    const failures: number[] = [];
    const launched: LifecycleJobEvent[] = [];
    let n = 0;
    const newRunId = (kind: string) => `${kind}-${(n += 1)}`;
    const run: LifecycleRunDeps = {
      jobs,
      clock,
      newRunId,
      gc: { objects: world.bucket, records: world.records, coordination: world.coordination, clock },
      scrub: { objects: world.bucket, records: world.records },
      events: {
        publish: (type, detail) => {
          published.push([type, detail]);
          return Promise.resolve();
        },
      },
      recordFindings: () => undefined,
      restoreTest: depsOf(),
      recordRestoreTestFailures: (count) => failures.push(count),
    };
    const started = await startRestoreTestRun(
      {
        jobs,
        clock,
        newRunId,
        coordination: world.coordination,
        launcher: { launch: (event) => Promise.resolve(void launched.push(event)) },
      },
      { files: 3, wholeVolume: false },
    );
    expect(started).toMatchObject({ status: 'pending', files: 3, wholeVolume: false, servers: [] });
    expect(launched).toEqual([{ kind: RESTORE_TEST_JOB_KIND, runId: started.runId }]);
    const passed = await runLifecycleJob(run, launched[0]!, Number.MAX_SAFE_INTEGER);
    expect(passed.run).toMatchObject({ status: 'passed', servers: [{ server: SERVER, filesChecked: 3 }] });
    expect(failures).toEqual([0]);
    expect(published).toEqual([]);

    // A scheduled run (no run id, so a new seed) with every chunk overwritten: whatever it samples fails.
    const saved = new Map(objects.objects);
    for (const key of saved.keys()) {
      if (key.startsWith('chunks/')) objects.objects.set(key, Buffer.alloc(saved.get(key)!.length, 0x42));
    }
    try {
      const failed = await runLifecycleJob(
        run,
        { kind: RESTORE_TEST_JOB_KIND, wholeVolume: true, files: 1 },
        Number.MAX_SAFE_INTEGER,
      );
      expect(failed.run.status).toBe('failed');
      expect(failures).toEqual([0, 1]);
      expect(published).toHaveLength(1);
      const [type, detail] = published[0]!;
      expect(type).toBe(RESTORE_TEST_FAILED_EVENT);
      expect(detail).toMatchObject({
        runId: failed.run.runId,
        servers: [{ server: SERVER, imageId: IMAGE }],
      });
      expect(JSON.stringify(detail)).toContain('whole volume');
    } finally {
      for (const [key, value] of saved) objects.objects.set(key, value);
    }
  });
});
