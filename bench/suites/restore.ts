/**
 * Volume restore benchmark (issue 12): restore MiB/s against backup MiB/s of the same image in
 * the same run (goal: a restore is at least as fast as the backup, since operators wait for it).
 *
 * A 1 GiB volume (half random, half log-like text; unique chunks) is backed up by the engine
 * (runBackup) and the image restored by the volume-restore state machine's steps (plan, every
 * range with the Map's concurrency, complete), in process. EBS and S3 are in-process fakes, and
 * EBS's own work (hashing a received block, S3 verifying a checksum) is kept out of both sides, as
 * in the engine suite: the figures compare the product's two data paths. Interleaved, best of
 * three each, in wall time and in the process's CPU time (which a loaded machine moves less: the
 * wall-time ratio ranged 0.65-0.83 at load 10 while the CPU one stayed above 1). Run alone:
 * `npm run bench restore`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import type {
  CompleteSnapshotRequest,
  PutSnapshotBlockRequest,
  SnapshotBlockWriter,
  StartSnapshotRequest,
} from '../../lambdas/core/backup/snapshot-ports.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { manifestKey, type ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { sha256Hex } from '../../lambdas/core/image/hashing.ts';
import { startVolumeRestore, volumeRestoreJobs } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import type { RestoreRangeItem } from '../../lambdas/core/restore/volume-restore-state.ts';
import {
  completeVolumeRestore,
  DEFAULT_RESTORE_RANGE_WORKERS,
  planVolumeRestore,
  restoreItemsKey,
  restoreRangeStep,
  type VolumeRestoreStepDeps,
} from '../../lambdas/core/restore/volume-restore-steps.ts';
import { mapWithConcurrency } from '../../lambdas/core/util/concurrency.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { MemoryEbs } from '../../test/fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../../test/fakes/memory-image-records.ts';
import { MemoryJobStore } from '../../test/fakes/memory-job-store.ts';
import { MemoryObjectStore } from '../../test/fakes/memory-object-store.ts';
import { storedManifestPieces } from '../../test/restore/volume-restore-images.ts';
import { round, shareOfBaseline, type BenchResult, type BenchSuite } from '../harness.ts';

const MiB = 1_048_576;
const VOLUME_GIB = 1;
const VOLUME_ID = 'vol-0123456789abcdef0';
/** Interleaved runs of each side; the best counts (the machine is shared and its load moves). */
const ROUNDS = 3;
const noPacing = { acquire: (): Promise<void> => Promise.resolve() };

/** Log-like text: compresses about 4:1 with zstd level 1. */
function textChunk(chunk: number): Buffer {
  const words = 'error warn info debug request response user session cache disk volume snapshot'.split(' ');
  let x = chunk * 7919 + 1;
  const lines: string[] = [];
  let size = 0;
  while (size < CHUNK_SIZE_BYTES) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const line = `2026-12-03T04:${x % 60} chunk=${chunk} ${words[x % words.length]} id=${x.toString(16)} took=${x % 5000}ms\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, CHUNK_SIZE_BYTES);
}

/** A snapshot writer that keeps the blocks and does no work EBS would do (no checksum verification). */
class BenchSnapshotWriter implements SnapshotBlockWriter {
  readonly blocks = new Map<number, Uint8Array>();
  private started = 0;

  startSnapshot(request: StartSnapshotRequest): Promise<{ snapshotId: string; blockSizeBytes: number }> {
    this.started += 1;
    return Promise.resolve({
      snapshotId: `snap-${createHash('sha256').update(request.clientToken).digest('hex').slice(0, 17)}`,
      blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    });
  }

  putSnapshotBlock(request: PutSnapshotBlockRequest): Promise<void> {
    this.blocks.set(request.blockIndex, request.data);
    return Promise.resolve();
  }

  completeSnapshot(_request: CompleteSnapshotRequest): Promise<{ status: string }> {
    return Promise.resolve({ status: 'completed' });
  }
}

/** Pieces of the manifest Plan Restore reads: about what one read of an S3 response body gives. */
const BENCH_MANIFEST_PIECE_BYTES = 64 * 1024;

async function restoreOnce(
  images: ImageStore,
  manifest: ImageManifest,
  restoreId: string,
): Promise<{ seconds: number; writer: BenchSnapshotWriter }> {
  const writer = new BenchSnapshotWriter();
  const manifestSha256 = sha256Hex(await images.objects.get(manifestKey(VOLUME_ID, manifest.imageId)));
  const work = new MemoryObjectStore({ verifyChecksums: false });
  const jobs = volumeRestoreJobs(new MemoryJobStore());
  const deps: VolumeRestoreStepDeps = {
    jobs,
    clock: systemClock,
    images,
    writer,
    snapshots: { describeSnapshot: () => Promise.resolve({ state: 'completed' as const }) },
    work,
    workBucket: 'bench-work',
    // The image record's digest: the stored object's (the bench trusts its own backup).
    openManifest: storedManifestPieces(images, () => manifestSha256, BENCH_MANIFEST_PIECE_BYTES),
  };
  const start = performance.now();
  await startVolumeRestore(
    { jobs, clock: systemClock, launcher: { launch: () => Promise.resolve() } },
    { restoreId, volumeId: VOLUME_ID, imageId: manifest.imageId },
  );
  const plan = await planVolumeRestore(deps, restoreId);
  const items = JSON.parse(
    new TextDecoder().decode(await work.get(restoreItemsKey(restoreId))),
  ) as RestoreRangeItem[];
  await mapWithConcurrency(items, plan.maxConcurrency, (range) =>
    restoreRangeStep({ ...deps, writePacer: noPacing }, { range, job: plan.job }),
  );
  await completeVolumeRestore(deps, restoreId);
  return { seconds: (performance.now() - start) / 1000, writer };
}

async function restoreAgainstBackup(): Promise<BenchResult[]> {
  const ebs = new MemoryEbs();
  ebs.createVolume(VOLUME_ID, VOLUME_GIB);
  const chunks = (VOLUME_GIB * GIB_BYTES) / CHUNK_SIZE_BYTES;
  for (let chunk = 0; chunk < chunks; chunk += 1) {
    ebs.write(
      VOLUME_ID,
      chunk * CHUNK_SIZE_BYTES,
      chunk % 2 === 0 ? randomBytes(CHUNK_SIZE_BYTES) : textChunk(chunk),
    );
  }
  const snapshotId = ebs.createSnapshot(VOLUME_ID);
  ebs.precomputeChecksums(snapshotId);
  const source = ebs.snapshotBlocks(snapshotId);
  const dataMiB = (source.size * EBS_BLOCK_SIZE_BYTES) / MiB;

  const backupSeconds: number[] = [];
  const restoreSeconds: number[] = [];
  const backupCpuSeconds: number[] = [];
  const restoreCpuSeconds: number[] = [];
  let verified = false;
  for (let at = 0; at < ROUNDS; at += 1) {
    const images = new ImageStore(new MemoryObjectStore({ verifyChecksums: false }));
    const backupCpu = process.cpuUsage();
    const start = performance.now();
    const backup = await runBackup(
      { ebs, images, records: new MemoryImageRecordStore(), readPacer: noPacing, listPacer: noPacing },
      {
        volumeId: VOLUME_ID,
        imageId: `img-bench-${at}`,
        snapshotId,
        volumeSizeGib: VOLUME_GIB,
        createdAt: new Date().toISOString(),
      },
    );
    backupSeconds.push((performance.now() - start) / 1000);
    backupCpuSeconds.push(cpuSecondsSince(backupCpu));
    const restoreCpu = process.cpuUsage();
    const restored = await restoreOnce(images, backup.manifest, `rs-bench-${at}`);
    restoreSeconds.push(restored.seconds);
    restoreCpuSeconds.push(cpuSecondsSince(restoreCpu));
    if (!verified) {
      // The restore is right, not just fast: every block equals the source.
      for (const [index, data] of source) {
        const got = restored.writer.blocks.get(index);
        if (got === undefined || !Buffer.from(got).equals(data))
          throw new Error(`restored block ${index} differs`);
      }
      verified = restored.writer.blocks.size === source.size;
      if (!verified) throw new Error('the restore wrote blocks the source does not have');
    }
  }
  const backupMiBps = dataMiB / Math.min(...backupSeconds);
  const restoreMiBps = dataMiB / Math.min(...restoreSeconds);
  const cpu = shareOfBaseline({
    name: 'restore/volume-restore-vs-backup-1GiB-cpu',
    unit: 'MiB/cpu-s',
    value: dataMiB / Math.min(...restoreCpuSeconds),
    baseline: dataMiB / Math.min(...backupCpuSeconds),
    digits: 1,
    share: 1,
    goal: '>= 1.0 of the backup of the same image (MiB per CPU-second of the process, same run)',
    details: {
      restoreCpuSeconds: round(Math.min(...restoreCpuSeconds), 2),
      backupCpuSeconds: round(Math.min(...backupCpuSeconds), 2),
    },
  });
  const wall = shareOfBaseline({
    name: 'restore/volume-restore-vs-backup-1GiB',
    unit: 'MiB/s',
    value: restoreMiBps,
    baseline: backupMiBps,
    digits: 1,
    share: 1,
    goal: '>= 1.0 of the backup of the same image (MiB/s, same run)',
    details: {
      volume: '1 GiB: half random, half log text; unique chunks',
      dataMiB: round(dataMiB, 0),
      restoreSeconds: round(Math.min(...restoreSeconds), 2),
      backupSeconds: round(Math.min(...backupSeconds), 2),
      restoreRangeWorkers: DEFAULT_RESTORE_RANGE_WORKERS,
      runs: `interleaved, best of ${ROUNDS} each`,
    },
  });
  return [wall, cpu];
}

/** User + system CPU seconds of this process since `start` (all restore and backup work runs in it). */
function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

export const suite: BenchSuite = {
  name: 'restore',
  async run() {
    return restoreAgainstBackup();
  },
};
