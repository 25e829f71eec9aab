/** What every RestoreJobStore must do: run against the in-memory fake and DynamoDB on moto. */
import { describe, expect, it } from 'vitest';
import type { RestoreJob, RestoreJobStore } from '../../lambdas/core/file-restore/restore-jobs.ts';

function job(restoreId: string, status: RestoreJob['status']): RestoreJob {
  return {
    restoreId,
    volumeId: 'vol-1',
    imageId: 'img-1',
    kind: 'directory',
    path: '/etc',
    keyToken: 'abc123',
    status,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:01.000Z',
  };
}

export function restoreJobStoreContract(name: string, makeStore: () => Promise<RestoreJobStore>): void {
  describe(`RestoreJobStore contract: ${name}`, () => {
    it('creates once, reads back, and moves only from the expected status', async () => {
      const store = await makeStore();
      await store.create(job('rs-a', 'pending'));
      await expect(store.create(job('rs-a', 'pending'))).rejects.toThrow('restore rs-a already exists');
      expect(await store.get('rs-a')).toEqual(job('rs-a', 'pending'));
      await store.update(job('rs-a', 'running'), ['pending', 'running']);
      await expect(store.update(job('rs-a', 'succeeded'), ['pending'])).rejects.toThrow(
        'restore rs-a is not pending',
      );
      const done = {
        ...job('rs-a', 'succeeded'),
        result: {
          key: 'k',
          fileName: 'f',
          contentType: 'x',
          bytes: 1,
          files: 1,
          problemCount: 0,
          problems: [],
        },
      };
      await store.update(done, ['running']);
      expect(await store.get('rs-a')).toEqual(done);
      await expect(store.get('rs-missing')).rejects.toThrow('no restore rs-missing');
      await expect(store.update(job('rs-missing', 'running'), ['pending'])).rejects.toThrow(
        'restore rs-missing is not pending',
      );
    });
  });
}
