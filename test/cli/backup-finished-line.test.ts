/** The line `rbp backup start|status --wait` prints when a backup has finished. */
import { describe, expect, it } from 'vitest';
import type { Backup } from '../../lambdas/core/api/schemas.ts';
import { finishedBackupLine } from '../../cli/commands/backup.ts';

const base = {
  backupId: 'bk-1',
  volumeId: 'vol-b',
  status: 'SUCCEEDED',
  startedAt: '2026-12-04T10:29:02.954Z',
} as const;

describe('the finished backup line', () => {
  it('names the recovery point and its image count for a backup of several volumes', () => {
    const backup = {
      ...base,
      serverId: 'WEB1',
      recoveryPointId: 'rp-bk-1',
      imageId: 'img-bk-1-vol-b',
      images: [
        { volumeId: 'vol-a', device: '/dev/xvda', imageId: 'img-bk-1-vol-a' },
        { volumeId: 'vol-b', device: '/dev/xvdb', imageId: 'img-bk-1-vol-b' },
      ],
    } as Backup;
    expect(finishedBackupLine(backup, 'bk-1')).toBe(
      'backup bk-1: SUCCEEDED (recovery point rp-bk-1: 2 images)',
    );
  });

  it('names the image for a backup of one volume, and nothing when there is none', () => {
    const one = {
      ...base,
      recoveryPointId: 'rp-bk-1',
      imageId: 'img-bk-1',
      images: [{ volumeId: 'vol-b', device: '/dev/xvda', imageId: 'img-bk-1' }],
    } as Backup;
    expect(finishedBackupLine(one, 'bk-1')).toBe('backup bk-1: SUCCEEDED (image img-bk-1)');
    expect(finishedBackupLine({ ...base, status: 'FAILED' }, 'bk-1')).toBe('backup bk-1: FAILED');
  });
});
