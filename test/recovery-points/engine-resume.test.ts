/**
 * What makes a redrive of "Back Up Volumes" resume instead of redo (docs/recovery-points.md): Copy
 * Range skips a range whose summary an earlier attempt wrote (no block is read again), and Plan
 * Backup says when the volume's image is already committed (the iteration goes straight to its
 * catalog); a plan names only a volume of its own run.
 */
import { describe, expect, it } from 'vitest';
import { copyRangeStep, planBackup } from '../../lambdas/core/backup/backup-steps.ts';
import type { RangeSummary } from '../../lambdas/core/backup/range-worker.ts';
import { putJsonOnce, rangeSummaryKey } from '../../lambdas/core/backup/work-area.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { EMPTY_IMAGE_STATS } from '../../lambdas/core/image/image-types.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { silentLog } from '../../lambdas/core/ports.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { testBackupContext } from '../support/backup-context.ts';

const range = {
  volumeId: 'vol-0b',
  imageId: 'img-bk-1-vol-0b',
  snapshotId: 'snap-0b',
  firstBlock: 2048,
  endBlock: 4096,
};
const summary: RangeSummary = {
  firstBlock: 2048,
  endBlock: 4096,
  mode: 'full',
  volumeSizeBytes: 1 << 30,
  firstSegment: 1,
  segments: ['ab'.repeat(32)],
  stats: { ...EMPTY_IMAGE_STATS, blocksRead: 7, chunksCreated: 3, bytesCreated: 99 },
  requests: { list: 1, read: 7, retries: 0, integrityFailures: 0 },
};

describe('Copy Range on a redrive', () => {
  it('returns the summary an earlier attempt wrote and reads nothing', async () => {
    const work = new MemoryObjectStore();
    await putJsonOnce(work, rangeSummaryKey('bk-1', 'vol-0b', 2048), summary);
    let workers = 0;
    const out = await copyRangeStep(
      {
        work,
        worker: () => {
          workers += 1;
          throw new Error('no block may be read again');
        },
      },
      { range, job: { backupId: 'bk-1', readRequestsPerSecond: 10 } },
      silentLog,
    );
    expect(out).toEqual({
      firstBlock: 2048,
      endBlock: 4096,
      blocksRead: 7,
      chunksCreated: 3,
      bytesCreated: 99,
    });
    expect(workers).toBe(0);
  });
});

describe('Plan Backup of one volume of a server', () => {
  const backup = testBackupContext({
    backupId: 'bk-1',
    ownerId: 'arn:exec',
    serverId: 'web-01',
    volumeIds: ['vol-0a', 'vol-0b'],
    startedAt: '2026-05-01T00:00:00.000Z',
  });
  const snapshots = [
    { volumeId: 'vol-0a', snapshotId: 'snap-0a' },
    { volumeId: 'vol-0b', snapshotId: 'snap-0b' },
  ];
  const checkpoint = {
    checkpointId: 'bk-1-r1',
    requestedAt: '2026-05-01T00:00:00.000Z',
    deadline: '2026-05-01T01:00:00.000Z',
  };
  const deps = (records: MemoryImageRecordStore) => ({
    describeSnapshots: (ids: readonly string[]) =>
      Promise.resolve(
        ids.map((snapshotId) => ({
          snapshotId,
          volumeId: snapshotId.replace('snap', 'vol'),
          state: 'completed' as const,
          volumeSizeGib: 1,
          startTime: '2026-05-01T00:00:05.000Z',
          tags: {},
        })),
      ),
    records,
    getManifest: () => Promise.reject(new Error('no parent')),
    work: new MemoryObjectStore(),
    workBucket: 'work',
    snapshotReadBudget: 100,
    rangeWorkers: 2,
  });

  it('plans the volume its iteration names, and says when its image is already committed', async () => {
    const records = new MemoryImageRecordStore();
    const plan = await planBackup(
      deps(records),
      { backup, checkpoint, snapshots, volumeId: 'vol-0b' },
      silentLog,
    );
    expect(plan).toMatchObject({
      volumeId: 'vol-0b',
      imageId: 'img-bk-1-vol-0b',
      snapshotId: 'snap-0b',
      kind: 'full',
      workItems: { key: 'work/bk-1/vol-0b/items.json' },
    });
    expect(plan.committed).toBeUndefined();
    const record: ImageRecord = {
      volumeId: 'vol-0b',
      imageId: 'img-bk-1-vol-0b',
      createdAt: '2026-05-01T00:00:05.000Z',
      kind: 'full',
      formatVersion: 1,
      snapshotId: 'snap-0b',
      volumeSizeBytes: 1 << 30,
      manifestKey: 'images/vol-0b/img-bk-1-vol-0b.json',
      manifestSha256: 'cd'.repeat(32),
      stats: { chunksCreated: 1, bytesCreated: 1, blocksRead: 1 },
    };
    await records.putImageRecord(record);
    const again = await planBackup(
      deps(records),
      { backup, checkpoint, snapshots, volumeId: 'vol-0b' },
      silentLog,
    );
    expect(again).toEqual({ ...plan, committed: true });
  });

  it('refuses a volume that is not one of the run’s', async () => {
    const error = await planBackup(
      deps(new MemoryImageRecordStore()),
      { backup, checkpoint, snapshots, volumeId: 'vol-0c' },
      silentLog,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe("volume vol-0c is not one of this backup's volumes");
  });
});
