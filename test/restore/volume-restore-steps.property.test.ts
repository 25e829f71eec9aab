/**
 * The volume-restore steps (plan, ranges, complete, check, finish) on in-memory parts, with a
 * snapshot writer that behaves like the EBS direct API (parents, distinct-block counting, the
 * LINEAR checksum). Properties, for random sparse images:
 * - a full restore's snapshot equals the image; CompleteSnapshot gets the count of distinct blocks
 *   and SHA-256 over their digests in block order;
 * - a range worker cut off after any number of blocks and run again resumes: the result is the
 *   same, and it re-puts at most the segment it was in;
 * - a delta of image B onto the restore of image A equals B, with one PutSnapshotBlock per block
 *   of the chunks that differ (zeros where B dropped data A had).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type {
  CompleteSnapshotRequest,
  PutSnapshotBlockRequest,
  SnapshotBlockWriter,
  StartSnapshotRequest,
} from '../../lambdas/core/backup/snapshot-ports.ts';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { volumeRestoreJobs, startVolumeRestore } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import {
  checkVolumeRestoreSnapshot,
  completeVolumeRestore,
  finishVolumeRestore,
  planVolumeRestore,
  restoreRangeStep,
  restoreItemsKey,
  type VolumeRestoreStepDeps,
} from '../../lambdas/core/restore/volume-restore-steps.ts';
import type { RestoreRangeItem } from '../../lambdas/core/restore/volume-restore-state.ts';
import { FixedClock } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { buildTestImage, patternedChunk, slices } from './volume-restore-images.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { memoryStepDeps } from './restore-range-fixture.ts';
import { isZeroHash } from '../../lambdas/core/image/hashing.ts';

const VOLUME_ID = 'vol-0123456789abcdef0';
const ZERO_DIGEST = createHash('sha256').update(new Uint8Array(EBS_BLOCK_SIZE_BYTES)).digest();

class CutOff extends ValidationError {}

/** StartSnapshot/PutSnapshotBlock/CompleteSnapshot as EBS answers them, in memory. */
class FakeSnapshots implements SnapshotBlockWriter {
  readonly snapshots = new Map<
    string,
    {
      blocks: Map<number, Buffer>;
      puts: Map<number, Buffer>;
      completed?: CompleteSnapshotRequest;
      token: string;
    }
  >();
  puts = 0;
  /** Accepted puts left before every put fails (a cut-off writer). */
  cutOffAfter = Number.POSITIVE_INFINITY;

  startSnapshot(request: StartSnapshotRequest): Promise<{ snapshotId: string; blockSizeBytes: number }> {
    for (const [snapshotId, s] of this.snapshots)
      if (s.token === request.clientToken)
        return Promise.resolve({ snapshotId, blockSizeBytes: EBS_BLOCK_SIZE_BYTES });
    const parent =
      request.parentSnapshotId === undefined ? undefined : this.snapshots.get(request.parentSnapshotId);
    if (request.parentSnapshotId !== undefined && parent?.completed === undefined)
      return Promise.reject(new NotFoundError('no parent'));
    const snapshotId = `snap-${this.snapshots.size}`;
    this.snapshots.set(snapshotId, {
      blocks: new Map(parent?.blocks ?? []),
      puts: new Map(),
      token: request.clientToken,
    });
    return Promise.resolve({ snapshotId, blockSizeBytes: EBS_BLOCK_SIZE_BYTES });
  }

  putSnapshotBlock(request: PutSnapshotBlockRequest): Promise<void> {
    this.puts += 1;
    if (this.cutOffAfter <= 0) return Promise.reject(new CutOff('cut off'));
    this.cutOffAfter -= 1;
    const snapshot = this.snapshots.get(request.snapshotId)!;
    const data = Buffer.from(request.data);
    const digest = createHash('sha256').update(data).digest();
    if (digest.toString('base64') !== request.checksumBase64)
      return Promise.reject(new ValidationError('checksum'));
    snapshot.blocks.set(request.blockIndex, data);
    snapshot.puts.set(request.blockIndex, digest);
    return Promise.resolve();
  }

  completeSnapshot(request: CompleteSnapshotRequest): Promise<{ status: string }> {
    const snapshot = this.snapshots.get(request.snapshotId)!;
    const hash = createHash('sha256');
    for (const index of [...snapshot.puts.keys()].sort((a, b) => a - b))
      hash.update(snapshot.puts.get(index)!);
    if (request.changedBlocksCount !== snapshot.puts.size || request.checksumBase64 !== hash.digest('base64'))
      return Promise.reject(new ValidationError('count or checksum'));
    snapshot.completed = request;
    return Promise.resolve({ status: 'completed' });
  }

  /** Non-zero blocks of a snapshot (zero blocks read as holes). */
  content(snapshotId: string): Map<number, string> {
    const out = new Map<number, string>();
    for (const [index, data] of this.snapshots.get(snapshotId)!.blocks) {
      const digest = createHash('sha256').update(data).digest();
      if (!digest.equals(ZERO_DIGEST)) out.set(index, digest.toString('hex'));
    }
    return out;
  }
}

/** Expected non-zero blocks of an image given its chunk contents. */
function expectedContent(chunks: readonly number[], content: (chunk: number) => Buffer): Map<number, string> {
  const out = new Map<number, string>();
  for (const chunk of chunks) {
    const data = content(chunk);
    for (const half of [0, 1]) {
      const block = data.subarray(half * EBS_BLOCK_SIZE_BYTES, (half + 1) * EBS_BLOCK_SIZE_BYTES);
      const digest = createHash('sha256').update(block).digest();
      if (!digest.equals(ZERO_DIGEST)) out.set(chunk * 2 + half, digest.toString('hex'));
    }
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

function setUp() {
  const objects = new MemoryObjectStore();
  const images = new ImageStore(objects);
  const work = new MemoryObjectStore();
  const ebs = new FakeSnapshots();
  const clock = new FixedClock();
  const jobs = volumeRestoreJobs(new MemoryJobStore());
  /** Manifest digests by image id (what the image records hold). */
  const manifests = new Map<string, string>();
  const deps: VolumeRestoreStepDeps = memoryStepDeps({ images, work, writer: ebs, jobs, clock, manifests });
  const pacer = { acquire: () => Promise.resolve() };
  const launcher = { launch: () => Promise.resolve() };
  const addImage = async (
    imageId: string,
    chunks: number[],
    content: (chunk: number) => Buffer,
    gib: number,
  ) => {
    const built = await buildTestImage(images, {
      volumeId: VOLUME_ID,
      imageId,
      volumeSizeBytes: gib * GIB_BYTES,
      chunks,
      content,
    });
    manifests.set(imageId, built.manifestSha256);
  };
  /** Runs the state machine's steps in order; `beforeRange` may cut the writer off. */
  const run = async (
    restoreId: string,
    imageId: string,
    parentRestoreId?: string,
    cutOffAfter?: number,
    options: { readonly started?: boolean } = {},
  ) => {
    if (options.started !== true)
      await startVolumeRestore(
        { jobs, clock, launcher },
        {
          restoreId,
          volumeId: VOLUME_ID,
          imageId,
          ...(parentRestoreId === undefined ? {} : { parentRestoreId }),
        },
      );
    const plan = await planVolumeRestore(deps, restoreId);
    const items = JSON.parse(
      new TextDecoder().decode(await work.get(restoreItemsKey(restoreId))),
    ) as RestoreRangeItem[];
    let resumedPuts = 0;
    for (const range of items) {
      if (cutOffAfter !== undefined && range.index === 0) {
        ebs.cutOffAfter = cutOffAfter;
        const attempt = restoreRangeStep({ ...deps, writePacer: pacer }, { range, job: plan.job });
        // A cut-off inside the range fails it; one past its last block lets it finish.
        await attempt.then(
          () => undefined,
          (error: unknown) => {
            if (!(error instanceof CutOff)) throw error;
          },
        );
        ebs.cutOffAfter = Number.POSITIVE_INFINITY;
        const before = ebs.puts;
        await restoreRangeStep({ ...deps, writePacer: pacer }, { range, job: plan.job });
        resumedPuts = ebs.puts - before;
      } else {
        await restoreRangeStep({ ...deps, writePacer: pacer }, { range, job: plan.job });
      }
    }
    const completed = await completeVolumeRestore(deps, restoreId);
    expect((await checkVolumeRestoreSnapshot(deps, restoreId)).state).toBe('completed');
    await finishVolumeRestore(deps, restoreId);
    return { snapshotId: completed.snapshotId, items, resumedPuts, job: await jobs.get(restoreId) };
  };
  return { ebs, objects, deps, addImage, run };
}

const chunkSets = fc.uniqueArray(fc.integer({ min: 0, max: 3 * 1024 - 1 }), { minLength: 1, maxLength: 40 });

describe('volume restore steps', () => {
  it('restores any sparse image exactly; a cut-off range resumes and re-puts at most its current segment', async () => {
    await fc.assert(
      fc.asyncProperty(chunkSets, fc.integer({ min: 0, max: 30 }), async (chunks, cutOffAfter) => {
        const { ebs, addImage, run } = setUp();
        const content = (chunk: number) => patternedChunk(3, chunk);
        await addImage('img-a', chunks, content, 3);
        const done = await run('rs-a', 'img-a', undefined, cutOffAfter);
        expect(done.job.status).toBe('succeeded');
        expect(ebs.content(done.snapshotId)).toEqual(expectedContent(chunks, content));
        expect(done.resumedPuts).toBeLessThanOrEqual(2 * 1024);
        const firstRangeBlocks = chunks.filter((c) => c < 4 * 1024).length * 2;
        expect(done.resumedPuts).toBeLessThanOrEqual(firstRangeBlocks);
      }),
      { numRuns: 15 },
    );
  });

  it('a delta equals the new image and puts only the blocks of differing chunks', async () => {
    await fc.assert(
      fc.asyncProperty(
        chunkSets,
        chunkSets,
        fc.integer({ min: 1, max: 1000 }),
        async (chunksA, changed, seed) => {
          const { ebs, addImage, run } = setUp();
          const contentA = (chunk: number) => patternedChunk(seed, chunk);
          const chunksB = [
            ...new Set([...chunksA.filter((c) => !changed.includes(c) || c % 2 === 0), ...changed]),
          ];
          const contentB = (chunk: number) =>
            patternedChunk(changed.includes(chunk) ? seed + 1 : seed, chunk);
          await addImage('img-a', chunksA, contentA, 3);
          await addImage('img-b', chunksB, contentB, 3);
          const first = await run('rs-a', 'img-a');
          const putsBefore = ebs.puts;
          const delta = await run('rs-b', 'img-b', 'rs-a');
          expect(ebs.content(delta.snapshotId)).toEqual(expectedContent(chunksB, contentB));
          // Differing chunks: present in one image only, or changed; each is two puts.
          const inA = new Set(chunksA);
          const inB = new Set(chunksB);
          const differing = [...new Set([...chunksA, ...chunksB])].filter(
            (c) => inA.has(c) !== inB.has(c) || changed.includes(c),
          );
          expect(ebs.puts - putsBefore).toBe(differing.length * 2);
          expect(delta.job.parentSnapshotId).toBe(first.snapshotId);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('a plan that read a damaged manifest commits nothing: the next attempt restores the image exactly', async () => {
    await fc.assert(
      fc.asyncProperty(chunkSets, fc.nat(), async (chunks, pick) => {
        const { ebs, objects, deps, addImage, run } = setUp();
        const content = (chunk: number) => patternedChunk(5, chunk);
        await addImage('img-a', chunks, content, 3);
        // One data segment's hash read as another valid hash: the digest check fails at the end.
        const stored = Buffer.from(await objects.get(manifestKey(VOLUME_ID, 'img-a')));
        const text = stored.toString('utf8');
        const hashes = [...text.matchAll(/"([0-9a-f]{64})"/g)].filter(([, h]) => !isZeroHash(h!));
        const [, victim] = hashes[pick % hashes.length]!;
        const damaged = Buffer.from(
          text.replace(victim!, `${victim!.slice(0, 63)}${victim!.endsWith('0') ? '1' : '0'}`),
        );
        const honest = deps.openManifest;
        deps.openManifest = async (volumeId, imageId) => ({
          ...(await honest(volumeId, imageId)),
          pieces: slices(damaged, 700),
        });
        await startVolumeRestore(
          { jobs: deps.jobs, clock: deps.clock, launcher: { launch: () => Promise.resolve() } },
          { restoreId: 'rs-a', volumeId: VOLUME_ID, imageId: 'img-a' },
        );
        await expect(planVolumeRestore(deps, 'rs-a')).rejects.toThrow(
          'manifest images/vol-0123456789abcdef0/img-a.json does not match the digest in its image record',
        );
        expect(ebs.snapshots.size).toBe(0);
        expect((await deps.jobs.get('rs-a')).status).toBe('pending');
        deps.openManifest = honest;
        const done = await run('rs-a', 'img-a', undefined, undefined, { started: true });
        expect(done.job.status).toBe('succeeded');
        expect(ebs.content(done.snapshotId)).toEqual(expectedContent(chunks, content));
      }),
      { numRuns: 10 },
    );
  });

  it('refuses a delta onto a restore that has not succeeded', async () => {
    const { addImage, run } = setUp();
    await addImage('img-a', [1], (c) => patternedChunk(1, c), 1);
    await expect(run('rs-b', 'img-a', 'rs-missing')).rejects.toThrow(
      'parentRestoreId rs-missing is not a volume restore',
    );
  });
});
