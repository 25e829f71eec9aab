/**
 * Child process of volume-restore-memory.test.ts (run with --expose-gc through bench-child.ts):
 * builds a sparse image of the volume size it is given in the in-memory stores, then runs a volume
 * restore's Plan Restore, every Restore Range and Complete Restore with the in-memory ports. At
 * each call a step makes to the snapshot writer or the work bucket, and at each piece of the
 * manifest Plan Restore reads, a full GC runs and the heap in use is read: what is reachable then,
 * beyond what was reachable before the step (the stores, the stored manifest's bytes), is what the
 * step holds. Prints `RESULT <json>` (VolumeRestoreMemory).
 */
import type { SnapshotBlockWriter } from '../../lambdas/core/backup/snapshot-ports.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES, CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { decodeManifest } from '../../lambdas/core/image/image-format.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { startVolumeRestore, volumeRestoreJobs } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import type { RestoreRangeItem } from '../../lambdas/core/restore/volume-restore-state.ts';
import {
  completeVolumeRestore,
  planVolumeRestore,
  restoreItemsKey,
  restoreRangeStep,
  type RestoreRangeDeps,
} from '../../lambdas/core/restore/volume-restore-steps.ts';
import type { ObjectStore } from '../../lambdas/core/store/object-store.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { FixedClock } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { buildTestImage, patternedChunk, slices } from './volume-restore-images.ts';

export interface VolumeRestoreMemoryTask {
  readonly volumeGiB: number;
  /** Non-zero chunks, spread evenly over the volume. */
  readonly dataChunks: number;
}

/** Bytes of heap in use beyond the baseline, at the most of a step's port calls. */
export interface VolumeRestoreMemory {
  readonly volumeGiB: number;
  /** Entries of the manifest's segment list (one per GiB). */
  readonly manifestSegments: number;
  /** Heap that one parsed manifest takes. */
  readonly manifestHeapBytes: number;
  readonly rangeItems: number;
  readonly blocksPut: number;
  readonly planHeldBytes: number;
  readonly rangeHeldBytes: number;
  readonly completeHeldBytes: number;
}

const VOLUME_ID = 'vol-0123456789abcdef0';
/** Pieces of the manifest as Plan Restore gets them: about one read of an S3 response body. */
const MANIFEST_PIECE_BYTES = 16 * 1024;

declare const gc: () => void;

function heapAfterGc(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** The most heap in use at the sampled calls, beyond `baseline`. */
class HeapPeak {
  private peak = 0;
  constructor(private readonly baseline: number) {}
  sample(): void {
    this.peak = Math.max(this.peak, heapAfterGc() - this.baseline);
  }
  held(): number {
    return this.peak;
  }
}

/** `store` with a heap sample at every call. */
function sampledStore(store: ObjectStore, onCall: () => void): ObjectStore {
  return new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        onCall();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** `pieces` with a heap sample before each piece is handed on (the plan's parsing is measured too). */
async function* sampledPieces(
  pieces: AsyncIterable<Uint8Array>,
  onPiece: () => void,
): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces) {
    onPiece();
    yield piece;
  }
}

async function measure(task: VolumeRestoreMemoryTask): Promise<VolumeRestoreMemory> {
  const volumeSizeBytes = task.volumeGiB * GIB_BYTES;
  const totalChunks = volumeSizeBytes / CHUNK_SIZE_BYTES;
  const chunks = Array.from({ length: task.dataChunks }, (_, i) =>
    Math.floor((i * totalChunks) / task.dataChunks),
  );
  const images = new ImageStore(new MemoryObjectStore());
  const built = await buildTestImage(images, {
    volumeId: VOLUME_ID,
    imageId: 'img-memory',
    volumeSizeBytes,
    chunks,
    content: (chunk) => patternedChunk(7, chunk),
  });
  // What S3 holds (part of the baseline): Plan Restore reads it in pieces, as the S3 body arrives.
  const manifestBytes = await images.objects.get(manifestKey(VOLUME_ID, 'img-memory'));
  const beforeManifest = heapAfterGc();
  // As the steps loaded it before they read it as a stream (ImageStore.getManifest).
  const parsed = decodeManifest(manifestBytes, 'manifest');
  const manifestHeapBytes = heapAfterGc() - beforeManifest;
  if (parsed.segments.length !== built.manifest.segments.length) throw new Error('manifest did not parse');
  /** The stored manifests' bytes and digests (what the image records hold), by image id. */
  const manifests = new Map([['img-memory', { bytes: manifestBytes, sha256Hex: built.manifestSha256 }]]);
  const work = new MemoryObjectStore();
  const store = new MemoryJobStore();
  const jobs = volumeRestoreJobs(store);
  const clock = new FixedClock();
  let sample = () => undefined as void;
  const writer: SnapshotBlockWriter = {
    startSnapshot: () => {
      sample();
      return Promise.resolve({ snapshotId: 'snap-memory', blockSizeBytes: EBS_BLOCK_SIZE_BYTES });
    },
    putSnapshotBlock: () => {
      sample();
      blocksPut += 1;
      return Promise.resolve();
    },
    completeSnapshot: () => {
      sample();
      return Promise.resolve({ status: 'completed' });
    },
  };
  let blocksPut = 0;
  const deps: RestoreRangeDeps = {
    jobs,
    clock,
    images,
    writer,
    snapshots: { describeSnapshot: () => Promise.resolve({ state: 'completed' as const }) },
    work: sampledStore(work, () => sample()),
    workBucket: 'work',
    openManifest: (volumeId, imageId) =>
      Promise.resolve({
        key: manifestKey(volumeId, imageId),
        sha256Hex: manifests.get(imageId)!.sha256Hex,
        pieces: sampledPieces(slices(manifests.get(imageId)!.bytes, MANIFEST_PIECE_BYTES), () => sample()),
      }),
    rangeWorkers: 1,
    retry: fastRetry(),
    writePacer: { acquire: () => Promise.resolve() },
  };
  const launcher = { launch: () => Promise.resolve() };
  await startVolumeRestore(
    { jobs, clock, launcher },
    { restoreId: 'rs-memory', volumeId: VOLUME_ID, imageId: 'img-memory' },
  );
  const stepPeak = async (step: () => Promise<unknown>): Promise<number> => {
    const peak = new HeapPeak(heapAfterGc());
    sample = () => peak.sample();
    await step();
    sample = () => undefined;
    return peak.held();
  };
  let plan!: Awaited<ReturnType<typeof planVolumeRestore>>;
  const planHeldBytes = await stepPeak(async () => {
    plan = await planVolumeRestore(deps, 'rs-memory');
  });
  const items = JSON.parse(
    new TextDecoder().decode(await work.get(restoreItemsKey('rs-memory'))),
  ) as RestoreRangeItem[];
  let rangeHeldBytes = 0;
  for (const range of items) {
    rangeHeldBytes = Math.max(
      rangeHeldBytes,
      await stepPeak(() => restoreRangeStep(deps, { range, job: plan.job })),
    );
  }
  const completeHeldBytes = await stepPeak(() => completeVolumeRestore(deps, 'rs-memory'));
  return {
    volumeGiB: task.volumeGiB,
    manifestSegments: built.manifest.segments.length,
    manifestHeapBytes,
    rangeItems: items.length,
    blocksPut,
    planHeldBytes,
    rangeHeldBytes,
    completeHeldBytes,
  };
}

const childTask = process.env.RBP_VOLUME_RESTORE_MEMORY_CHILD;
if (childTask !== undefined) {
  console.log(`RESULT ${JSON.stringify(await measure(JSON.parse(childTask) as VolumeRestoreMemoryTask))}`);
}
