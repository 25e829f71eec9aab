/**
 * Volume restore jobs: created pending, run to a completed snapshot; a wait that times out leaves
 * the job running with its snapshot recorded, and the next run only waits (no second
 * StartSnapshot); a permanent failure ends the job as failed with its reason.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import { EMPTY_IMAGE_STATS } from '../../lambdas/core/image/image-types.ts';
import { GIB_BYTES } from '../../lambdas/core/geometry.ts';
import {
  createVolumeRestoreJob,
  runVolumeRestoreJob,
  type VolumeRestoreDeps,
  type VolumeRestoreJob,
  type VolumeRestoreJobStore,
  type VolumeRestoreStatus,
} from '../../lambdas/core/restore/volume-restore-jobs.ts';
import type { SnapshotState } from '../../lambdas/core/backup/snapshot-ports.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { FixedClock } from '../fakes/memory-api-ports.ts';
import { fastRetry } from '../engine/engine-fixture.ts';

class MemoryVolumeJobs implements VolumeRestoreJobStore {
  readonly jobs = new Map<string, VolumeRestoreJob>();
  create(job: VolumeRestoreJob): Promise<void> {
    if (this.jobs.has(job.restoreId)) return Promise.reject(new ConflictError('exists'));
    this.jobs.set(job.restoreId, job);
    return Promise.resolve();
  }
  get(restoreId: string): Promise<VolumeRestoreJob> {
    const job = this.jobs.get(restoreId);
    return job ? Promise.resolve(job) : Promise.reject(new NotFoundError(`no volume restore ${restoreId}`));
  }
  update(job: VolumeRestoreJob, from: readonly VolumeRestoreStatus[]): Promise<void> {
    const stored = this.jobs.get(job.restoreId);
    if (!stored || !from.includes(stored.status)) return Promise.reject(new ConflictError('wrong state'));
    this.jobs.set(job.restoreId, job);
    return Promise.resolve();
  }
}

/** A 1 GiB image whose chunks are all zeros: StartSnapshot and CompleteSnapshot, no blocks. */
const manifest: ImageManifest = {
  formatVersion: 1,
  volumeId: 'vol-0123456789abcdef0',
  imageId: 'img-1',
  createdAt: '2026-11-01T00:00:00.000Z',
  kind: 'full',
  snapshotId: 'snap-00000000000000001',
  volumeSizeBytes: GIB_BYTES,
  blockSizeBytes: 524_288,
  chunkSizeBytes: 1_048_576,
  segmentChunks: 1024,
  segments: ['0'.repeat(64)],
  stats: EMPTY_IMAGE_STATS,
};

function setUp(stateOverride: () => SnapshotState | undefined) {
  const ebs = new MemoryEbs();
  const jobs = new MemoryVolumeJobs();
  const clock = new FixedClock();
  let loads = 0;
  const deps: VolumeRestoreDeps = {
    jobs,
    clock,
    images: new ImageStore(new MemoryObjectStore()),
    writer: ebs,
    snapshots: {
      describeSnapshot: async (id) => {
        const real = await ebs.describeSnapshot(id);
        return { ...real, state: stateOverride() ?? real.state };
      },
    },
    nowMs: () => clock.now().getTime(),
    sleep: (ms) => {
      clock.advance(ms);
      return Promise.resolve();
    },
    retry: fastRetry(),
    completionWaitMs: 10_000,
    pollIntervalMs: 1_000,
    loadManifest: (volumeId, imageId) => {
      loads += 1;
      return imageId === 'img-1'
        ? Promise.resolve(manifest)
        : Promise.reject(new NotFoundError(`image ${imageId} of ${volumeId} does not exist`));
    },
  };
  return { ebs, jobs, deps, loads: () => loads };
}

describe('volume restore jobs', () => {
  it('run to a completed snapshot', async () => {
    const { ebs, deps } = setUp(() => undefined);
    await createVolumeRestoreJob(deps, { restoreId: 'rv-1', volumeId: manifest.volumeId, imageId: 'img-1' });
    const done = await runVolumeRestoreJob(deps, 'rv-1');
    expect(done).toMatchObject({ status: 'succeeded', written: true, changedBlocksCount: 0 });
    expect(ebs.snapshots.get(done.snapshotId!)?.state).toBe('completed');
    expect(ebs.counters).toMatchObject({ startSnapshot: 1, putSnapshotBlock: 0, completeSnapshot: 1 });
    expect(await runVolumeRestoreJob(deps, 'rv-1')).toEqual(done);
    expect(ebs.counters.startSnapshot).toBe(1);
  });

  it('a wait that times out keeps the job running; the next run only waits', async () => {
    let state: SnapshotState | undefined = 'pending';
    const { ebs, jobs, deps, loads } = setUp(() => state);
    await createVolumeRestoreJob(deps, { restoreId: 'rv-2', volumeId: manifest.volumeId, imageId: 'img-1' });
    await expect(runVolumeRestoreJob(deps, 'rv-2')).rejects.toThrow(/is still pending after 10000 ms/);
    const interrupted = jobs.jobs.get('rv-2')!;
    expect(interrupted).toMatchObject({ status: 'running', written: true });
    state = undefined;
    const done = await runVolumeRestoreJob(deps, 'rv-2');
    expect(done).toMatchObject({ status: 'succeeded', snapshotId: interrupted.snapshotId });
    expect(ebs.counters.startSnapshot).toBe(1);
    expect(loads()).toBe(1);
  });

  it('a permanent failure ends the job as failed with the reason', async () => {
    const { jobs, deps } = setUp(() => undefined);
    await createVolumeRestoreJob(deps, {
      restoreId: 'rv-3',
      volumeId: manifest.volumeId,
      imageId: 'img-gone',
    });
    const failed = await runVolumeRestoreJob(deps, 'rv-3');
    expect(failed).toMatchObject({
      status: 'failed',
      failure: {
        reason: `image img-gone of ${manifest.volumeId} does not exist`,
        errorName: 'NotFoundError',
      },
    });
    expect(jobs.jobs.get('rv-3')).toEqual(failed);
  });
});
