/**
 * The engine-step handlers' own decisions, over in-memory stores: what the plan hands to the Map
 * and the commit, and the checks around them. (The whole chain runs against moto in
 * test/statemachines/backup-local-stack.test.ts.)
 */
import '../support/quiet-powertools.ts';
import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import type { ImageManifest } from '../../lambdas/core/image/image-types.ts';
import type { SnapshotView } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { createCommitImageHandler } from '../../lambdas/handlers/commit-image.ts';
import { imageIdFor } from '../../lambdas/core/backup/backup-steps.ts';
import { createPlanBackupHandler } from '../../lambdas/handlers/plan-backup.ts';
import { getJson, itemsKey, putJsonOnce, rangeSummaryKey } from '../../lambdas/core/backup/work-area.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { testBackupContext } from '../support/backup-context.ts';

const backup = testBackupContext({
  backupId: 'bk-7',
  ownerId: 'arn:aws:states:eu-west-1:1:execution:m:bk-7',
  serverId: 'vol-1',
  volumeIds: ['vol-1'],
  startedAt: '2026-03-01T00:00:00.000Z',
});
const checkpoint = {
  checkpointId: 'bk-7-r1',
  requestedAt: '2026-03-01T00:00:01.000Z',
  deadline: '2026-03-01T00:01:01.000Z',
};
const snapshotView = (snapshotId: string, state: SnapshotView['state'] = 'completed'): SnapshotView => ({
  snapshotId,
  volumeId: 'vol-1',
  state,
  startTime: '2026-03-01T00:00:05.000Z',
  volumeSizeGib: 10,
  tags: {},
});

function planDeps(snapshots: Record<string, SnapshotView>, records = new MemoryImageRecordStore()) {
  const work = new MemoryObjectStore();
  const manifests: string[] = [];
  return {
    work,
    manifests,
    deps: {
      describeSnapshots: (ids: readonly string[]) =>
        Promise.resolve(ids.flatMap((id) => (snapshots[id] ? [snapshots[id]] : []))),
      records,
      getManifest: (volumeId: string, imageId: string) => {
        manifests.push(`${volumeId}/${imageId}`);
        return Promise.resolve({
          imageId,
          snapshotId: 'snap-parent',
          volumeSizeBytes: 10 * 1_073_741_824,
        } as ImageManifest);
      },
      work,
      workBucket: 'work-bucket',
      snapshotReadBudget: 500,
      rangeWorkers: 8,
    },
  };
}

describe('plan-backup', () => {
  it('plans a full image of a 10 GiB volume in 3 ranges of 4 GiB, written to the work bucket', async () => {
    const { deps, work } = planDeps({ 'snap-new': snapshotView('snap-new') });
    const plan = await createPlanBackupHandler(deps)({
      backup,
      checkpoint,
      snapshots: [{ volumeId: 'vol-1', snapshotId: 'snap-new' }],
    });
    expect(plan).toEqual({
      volumeId: 'vol-1',
      imageId: 'img-bk-7',
      snapshotId: 'snap-new',
      kind: 'full',
      createdAt: '2026-03-01T00:00:05.000Z',
      workItems: { bucket: 'work-bucket', key: 'work/bk-7/vol-1/items.json' },
      rangeCount: 3,
      maxConcurrency: 3,
      job: { backupId: 'bk-7', readRequestsPerSecond: 500 / 3 },
    });
    const items = (await getJson(work, itemsKey('bk-7', 'vol-1'))) as {
      firstBlock: number;
      endBlock: number;
    }[];
    expect(items.map((i) => [i.firstBlock, i.endBlock])).toEqual([
      [0, 8192],
      [8192, 16384],
      [16384, 20480],
    ]);
  });

  it('plans an incremental from the latest image whose snapshot still exists, and a full read when it is gone', async () => {
    const records = new MemoryImageRecordStore();
    await records.putImageRecord({
      volumeId: 'vol-1',
      imageId: 'img-old',
      createdAt: '2026-02-01T00:00:00.000Z',
      kind: 'full',
      formatVersion: 1,
      snapshotId: 'snap-parent',
      volumeSizeBytes: 10 * 1_073_741_824,
      manifestKey: 'images/vol-1/img-old.json',
      manifestSha256: 'x',
      stats: { nonZeroChunks: 0, chunksCreated: 0, bytesCreated: 0, blocksRead: 0 },
    } as ImageRecord);
    const snapshots = [{ volumeId: 'vol-1', snapshotId: 'snap-new' }];
    const withParent = planDeps(
      { 'snap-new': snapshotView('snap-new'), 'snap-parent': snapshotView('snap-parent') },
      records,
    );
    expect(await createPlanBackupHandler(withParent.deps)({ backup, checkpoint, snapshots })).toMatchObject({
      kind: 'incremental',
      parentImageId: 'img-old',
      parentSnapshotId: 'snap-parent',
    });
    const parentGone = planDeps({ 'snap-new': snapshotView('snap-new') }, records);
    const plan = await createPlanBackupHandler(parentGone.deps)({ backup, checkpoint, snapshots });
    expect(plan).toMatchObject({
      kind: 'full',
      parentImageId: 'img-old',
      fullReadReason: 'PARENT_SNAPSHOT_NOT_FOUND',
    });
    expect('parentSnapshotId' in plan).toBe(false);
    const forced = planDeps(
      { 'snap-new': snapshotView('snap-new'), 'snap-parent': snapshotView('snap-parent') },
      records,
    );
    expect(
      await createPlanBackupHandler(forced.deps)({
        backup: { ...backup, full: true },
        checkpoint,
        snapshots,
      }),
    ).toMatchObject({ kind: 'full' });
    expect(forced.manifests).toEqual([]);
  });

  it('refuses a snapshot that vanished or is not completed', async () => {
    const snapshots = [{ volumeId: 'vol-1', snapshotId: 'snap-new' }];
    await expect(
      createPlanBackupHandler(planDeps({}).deps)({ backup, checkpoint, snapshots }),
    ).rejects.toThrow(NotFoundError);
    await expect(
      createPlanBackupHandler(planDeps({ 'snap-new': snapshotView('snap-new', 'pending') }).deps)({
        backup,
        checkpoint,
        snapshots,
      }),
    ).rejects.toThrow(
      new ValidationError('snapshot snap-new is pending, not a completed snapshot with a size').message,
    );
  });

  it('names images after the backup, per volume in a group', () => {
    expect(imageIdFor('bk-7', 'vol-1', 1)).toBe('img-bk-7');
    expect(imageIdFor('bk-7', 'vol-2', 3)).toBe('img-bk-7-vol-2');
  });
});

describe('commit-image', () => {
  it('refuses to commit while a range summary is missing, and commits nothing', async () => {
    const work = new MemoryObjectStore();
    const records = new MemoryImageRecordStore();
    await putJsonOnce(work, rangeSummaryKey('bk-7', 'vol-1', 0), { firstBlock: 0 });
    const commit = createCommitImageHandler({
      images: new ImageStore(new MemoryObjectStore()),
      records,
      work,
    });
    await expect(
      commit({
        backup,
        plan: {
          volumeId: 'vol-1',
          imageId: 'img-bk-7',
          snapshotId: 'snap-new',
          createdAt: '2026-03-01T00:00:05.000Z',
          rangeCount: 3,
        },
      }),
    ).rejects.toThrow('image img-bk-7: 1 of 3 range summaries found; not committing');
    expect(await records.listImageRecords('vol-1')).toEqual([]);
  });

  it('keys range summaries so that a listing returns them in block order', () => {
    expect(rangeSummaryKey('bk', 'vol-1', 8192)).toBe('work/bk/vol-1/ranges/000000008192.json');
    expect([16384, 0, 8192].map((b) => rangeSummaryKey('bk', 'v', b)).sort()).toEqual(
      [0, 8192, 16384].map((b) => rangeSummaryKey('bk', 'v', b)),
    );
  });
});
