/**
 * The contract of the VolumeRestoreJobStore (lambdas/core/restore/volume-restore-jobs.ts): the
 * volume-restore codec over a JobStore, as the API, the worker and the volume-restore state
 * machine's steps use it. Every field a step records must read back (a lost snapshotId or
 * `written` would make a retried step start a second snapshot); a job id of another kind in the
 * same key space (a file restore) is not a volume restore; updates move only from the statuses
 * named. Run against the codec over MemoryJobStore (plainly and behind injected, retried faults)
 * and over DynamoDbJobStore on moto.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { fileRestoreJobs, type RestoreJob } from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { JobStore } from '../../lambdas/core/jobs/job-store.ts';
import { volumeRestoreJobs, type VolumeRestoreJob } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

const CREATED_AT = '2026-12-03T09:00:00.000Z';

const pending = (restoreId: string): VolumeRestoreJob => ({
  restoreId,
  volumeId: 'vol-0123456789abcdef0',
  imageId: 'img-1',
  status: 'pending',
  createdAt: CREATED_AT,
  updatedAt: CREATED_AT,
});

/** A delta restore part-way through, with every optional field a step records. */
const everyField = (restoreId: string): VolumeRestoreJob => ({
  ...pending(restoreId),
  kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0',
  parentRestoreId: 'rs-parent',
  status: 'running',
  updatedAt: '2026-12-03T09:00:05.000Z',
  snapshotId: 'snap-0aaaaaaaaaaaaaaaa',
  changedBlocksCount: 12,
  written: true,
  snapshotStartedAt: '2026-12-03T09:00:01.000Z',
  parentSnapshotId: 'snap-0bbbbbbbbbbbbbbbb',
  parentImageId: 'img-0',
  rangeCount: 3,
});

export function volumeRestoreJobStoreContract(name: string, openJobStore: () => Promise<JobStore>): void {
  describe(`VolumeRestoreJobStore contract: ${name}`, () => {
    it('creates once and reads back every field a step records', async () => {
      const jobs = volumeRestoreJobs(await openJobStore());
      await jobs.create(pending('rs-vol-1'));
      const again = await rejectionOf(jobs.create(pending('rs-vol-1')));
      expect(again).toBeInstanceOf(ConflictError);
      expect(again.message).toBe('restore rs-vol-1 already exists');
      expect(await jobs.get('rs-vol-1')).toEqual(pending('rs-vol-1'));
      await jobs.update(everyField('rs-vol-1'), ['pending']);
      expect(await jobs.get('rs-vol-1')).toEqual(everyField('rs-vol-1'));
    });

    it('moves only from the statuses named, and keeps a failure', async () => {
      const jobs = volumeRestoreJobs(await openJobStore());
      await jobs.create(pending('rs-vol-2'));
      const wrong = await rejectionOf(
        jobs.update({ ...pending('rs-vol-2'), status: 'succeeded' }, ['running']),
      );
      expect(wrong).toBeInstanceOf(ConflictError);
      expect(wrong.message).toBe('restore rs-vol-2 is not running');
      const failed: VolumeRestoreJob = {
        ...pending('rs-vol-2'),
        status: 'failed',
        failure: {
          reason: 'snapshot snap-0aaaaaaaaaaaaaaaa failed: no message',
          errorName: 'PermanentError',
        },
      };
      await jobs.update(failed, ['pending', 'running']);
      expect(await jobs.get('rs-vol-2')).toEqual(failed);
    });

    it('an unknown id, and the id of a file restore, are no volume restore', async () => {
      const store = await openJobStore();
      const jobs = volumeRestoreJobs(store);
      const unknown = await rejectionOf(jobs.get('rs-vol-none'));
      expect(unknown).toBeInstanceOf(NotFoundError);
      const file: RestoreJob = {
        restoreId: 'rs-file-1',
        volumeId: 'vol-0123456789abcdef0',
        imageId: 'img-1',
        kind: 'file',
        path: '/etc/hosts',
        keyToken: 'abc123',
        status: 'pending',
        createdAt: CREATED_AT,
        updatedAt: CREATED_AT,
      };
      await fileRestoreJobs(store).create(file);
      const other = await rejectionOf(jobs.get('rs-file-1'));
      expect(other).toBeInstanceOf(NotFoundError);
      expect([unknown.message, other.message]).toEqual(['no restore rs-vol-none', 'no restore rs-file-1']);
    });
  });
}
