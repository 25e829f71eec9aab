/**
 * Volume restores up to their Restore Range items, in memory, for tests that run the range step
 * through the Lambda handler (lambdas/handlers/volume-restore-step.ts): a snapshot writer that
 * records every PutSnapshotBlock (and can throttle the next few), images of given chunks, and
 * `prepare`, which starts a restore and runs its plan step.
 */
import type {
  CompleteSnapshotRequest,
  PutSnapshotBlockRequest,
  SnapshotBlockWriter,
  StartSnapshotRequest,
} from '../../lambdas/core/backup/snapshot-ports.ts';
import { ThrottledError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { fileRestoreJobs } from '../../lambdas/core/file-restore/restore-jobs.ts';
import { startVolumeRestore, volumeRestoreJobs } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import type {
  RestorePlan,
  RestoreRangeItem,
  RestoreRangeJob,
} from '../../lambdas/core/restore/volume-restore-state.ts';
import {
  planVolumeRestore,
  restoreItemsKey,
  type VolumeRestoreStepDeps,
} from '../../lambdas/core/restore/volume-restore-steps.ts';
import { FixedClock } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { buildTestImage, patternedChunk, storedManifestPieces } from './volume-restore-images.ts';

export const RESTORE_VOLUME_ID = 'vol-0123456789abcdef0';

/**
 * The volume-restore step deps over in-memory ports: snapshots always completed, three range
 * workers, fast retries, and manifests read from `images` with the digests `manifests` holds by
 * image id (what the image records hold).
 */
export function memoryStepDeps(parts: {
  readonly images: ImageStore;
  readonly work: MemoryObjectStore;
  readonly writer: SnapshotBlockWriter;
  readonly jobs: VolumeRestoreStepDeps['jobs'];
  readonly clock: FixedClock;
  readonly manifests: ReadonlyMap<string, string>;
}): VolumeRestoreStepDeps {
  const { images, work, writer, jobs, clock, manifests } = parts;
  return {
    jobs,
    clock,
    images,
    writer,
    snapshots: { describeSnapshot: () => Promise.resolve({ state: 'completed' as const }) },
    work,
    workBucket: 'work',
    openManifest: storedManifestPieces(images, (imageId) => manifests.get(imageId)!),
    rangeWorkers: 3,
    retry: fastRetry(),
  };
}

/** StartSnapshot/PutSnapshotBlock/CompleteSnapshot that record the puts (wall-clock ms of each). */
export class RecordingSnapshotWriter implements SnapshotBlockWriter {
  readonly puts: { readonly snapshotId: string; readonly blockIndex: number; readonly atMs: number }[] = [];
  /** PutSnapshotBlock requests still to be answered with a throttle. */
  throttleNext = 0;
  private readonly tokens = new Map<string, string>();

  startSnapshot(request: StartSnapshotRequest): Promise<{ snapshotId: string; blockSizeBytes: number }> {
    const snapshotId = this.tokens.get(request.clientToken) ?? `snap-${this.tokens.size}`;
    this.tokens.set(request.clientToken, snapshotId);
    return Promise.resolve({ snapshotId, blockSizeBytes: EBS_BLOCK_SIZE_BYTES });
  }

  putSnapshotBlock(request: PutSnapshotBlockRequest): Promise<void> {
    if (this.throttleNext > 0) {
      this.throttleNext -= 1;
      return Promise.reject(new ThrottledError('Rate exceeded'));
    }
    this.puts.push({
      snapshotId: request.snapshotId,
      blockIndex: request.blockIndex,
      atMs: performance.now(),
    });
    return Promise.resolve();
  }

  completeSnapshot(_request: CompleteSnapshotRequest): Promise<{ status: string }> {
    return Promise.resolve({ status: 'completed' });
  }
}

export function restoreRangeSetUp() {
  const images = new ImageStore(new MemoryObjectStore());
  const work = new MemoryObjectStore();
  const writer = new RecordingSnapshotWriter();
  const clock = new FixedClock();
  const store = new MemoryJobStore();
  const jobs = volumeRestoreJobs(store);
  /** Manifest digests by image id (what the image records hold). */
  const manifests = new Map<string, string>();
  const deps: VolumeRestoreStepDeps & { fileJobs: ReturnType<typeof fileRestoreJobs> } = {
    ...memoryStepDeps({ images, work, writer, jobs, clock, manifests }),
    fileJobs: fileRestoreJobs(store),
  };
  /** An image of a 3 GiB volume holding `chunks` (every block non-zero, so 2 blocks a chunk). */
  const addImage = async (imageId: string, chunks: number[]): Promise<void> => {
    const built = await buildTestImage(images, {
      volumeId: RESTORE_VOLUME_ID,
      imageId,
      volumeSizeBytes: 3 * GIB_BYTES,
      chunks,
      content: (chunk) => patternedChunk(7, chunk),
    });
    manifests.set(imageId, built.manifestSha256);
  };
  /** Starts a restore of `imageId` and plans it: Plan Restore's answer, its job and the range items the Map would run. */
  const prepare = async (
    restoreId: string,
    imageId: string,
  ): Promise<{ plan: RestorePlan; job: RestoreRangeJob; items: RestoreRangeItem[] }> => {
    await startVolumeRestore(
      { jobs, clock, launcher: { launch: () => Promise.resolve() } },
      { restoreId, volumeId: RESTORE_VOLUME_ID, imageId },
    );
    const plan = await planVolumeRestore(deps, restoreId);
    const items = JSON.parse(
      new TextDecoder().decode(await work.get(restoreItemsKey(restoreId))),
    ) as RestoreRangeItem[];
    return { plan, job: plan.job, items };
  };
  return { deps, writer, addImage, prepare };
}
