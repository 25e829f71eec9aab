/** What every JobStore must do: run against the in-memory fake, a faulty wrapper and DynamoDB on moto. */
import { describe, expect, it } from 'vitest';
import {
  JOB_RECORD_VERSION,
  JOB_TTL_SECONDS,
  jobExpiry,
  type JobRecord,
  type JobStatus,
  type JobStore,
} from '../../lambdas/core/jobs/job-store.ts';

const CREATED = '2026-01-01T00:00:00.000Z';

export function jobRecord(jobId: string, status: JobStatus, kind = 'file-restore'): JobRecord {
  const updatedAt = '2026-01-01T00:00:01.000Z';
  return {
    version: JOB_RECORD_VERSION,
    kind,
    jobId,
    status,
    params: { volumeId: 'vol-1', imageId: 'img-1', path: '/etc' },
    createdAt: CREATED,
    updatedAt,
    expiresAtEpochSeconds: jobExpiry(updatedAt),
  };
}

export function jobStoreContract(name: string, makeStore: () => Promise<JobStore>): void {
  describe(`JobStore contract: ${name}`, () => {
    it('creates once and reads back exactly what was written', async () => {
      const store = await makeStore();
      await store.create(jobRecord('job-a', 'PENDING'));
      await expect(store.create(jobRecord('job-a', 'PENDING'))).rejects.toThrow(
        'restore job-a already exists',
      );
      expect(await store.get('job-a')).toEqual(jobRecord('job-a', 'PENDING'));
      await expect(store.get('job-missing')).rejects.toThrow('no restore job-missing');
    });

    it('moves only from the expected statuses, and keeps progress, result and failure', async () => {
      const store = await makeStore();
      await store.create(jobRecord('job-b', 'PENDING'));
      const running = {
        ...jobRecord('job-b', 'RUNNING'),
        progress: { snapshotId: 'snap-1', written: false },
      };
      await store.update(running, ['PENDING', 'RUNNING']);
      expect(await store.get('job-b')).toEqual(running);
      await expect(store.update(jobRecord('job-b', 'SUCCEEDED'), ['PENDING'])).rejects.toThrow(
        'restore job-b is not pending',
      );
      const failed = {
        ...running,
        status: 'FAILED' as const,
        failure: { reason: 'no such path', errorName: 'NotFoundError' },
      };
      await store.update(failed, ['RUNNING']);
      expect(await store.get('job-b')).toEqual(failed);
      await expect(store.update(jobRecord('job-b', 'RUNNING'), ['PENDING', 'RUNNING'])).rejects.toThrow(
        'restore job-b is not pending or running',
      );
      await expect(store.update(jobRecord('job-none', 'RUNNING'), ['PENDING'])).rejects.toThrow(
        'restore job-none is not pending',
      );
    });

    it('keeps jobs of different kinds apart only by their ids (one key space)', async () => {
      const store = await makeStore();
      await store.create(jobRecord('job-c', 'PENDING', 'volume-restore'));
      await expect(store.create(jobRecord('job-c', 'PENDING', 'file-restore'))).rejects.toThrow(
        'restore job-c already exists',
      );
      expect((await store.get('job-c')).kind).toBe('volume-restore');
    });

    it('records expire JOB_TTL_SECONDS after their last change', () => {
      expect(jobRecord('x', 'PENDING').expiresAtEpochSeconds).toBe(
        Date.parse('2026-01-01T00:00:01.000Z') / 1000 + JOB_TTL_SECONDS,
      );
    });
  });
}
