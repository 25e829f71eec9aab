/** What `backup status` and `images ls|show` show: the kind of a finished backup, what an image stored. */
import { describe, expect, it } from 'vitest';
import { describeImage, imageColumns } from '../../cli/commands/images.ts';
import { renderTable } from '../../cli/api/output.ts';
import { backupOf } from '../../lambdas/core/api/backup-launcher.ts';
import type { Image } from '../../lambdas/core/api/schemas.ts';

const started = {
  name: 'bk-20261120t120000000z-0a1b2c3d4e5f6071',
  startedAt: '2026-11-20T12:00:00.000Z',
  input: JSON.stringify({ volumeIds: ['vol-0123456789abcdef0'], full: false, trigger: 'api:t' }),
};

describe('backup status', () => {
  it("shows a Lambda task's error message as the cause, not the function's error JSON", () => {
    const message =
      'range 0-2048 of vol-0123456789abcdef0: GetSnapshotBlock throttled after every retry; within 14 days, rbp backup resume bk-1 resumes it at Back Up Volumes';
    const suspended = backupOf({
      ...started,
      status: 'FAILED',
      stoppedAt: '2026-11-20T12:01:00.000Z',
      error: 'BackupSuspendedError',
      cause: JSON.stringify({
        errorType: 'BackupSuspendedError',
        errorMessage: message,
        trace: ['at a (b.js:1:1)'],
      }),
    });
    expect({ error: suspended.error, cause: suspended.cause }).toEqual({
      error: 'BackupSuspendedError',
      cause: message,
    });
    const stopped = backupOf({ ...started, status: 'ABORTED', cause: 'cancelled by arn:aws:iam::1:user/op' });
    expect(stopped.cause).toBe('cancelled by arn:aws:iam::1:user/op');
  });

  it('says full for a finished backup whose image is full, though the request did not ask for one', () => {
    const backup = backupOf({
      ...started,
      status: 'SUCCEEDED',
      stoppedAt: '2026-11-20T12:01:00.000Z',
      output: JSON.stringify({ image: { result: { imageId: 'img-1', kind: 'full' } } }),
    });
    expect(backup).toMatchObject({ full: true, imageId: 'img-1' });
  });

  it('says what was asked while it runs, and incremental for an incremental image', () => {
    expect(backupOf({ ...started, status: 'RUNNING' }).full).toBe(false);
    const incremental = backupOf({
      ...started,
      status: 'SUCCEEDED',
      output: JSON.stringify({ image: { result: { imageId: 'img-2', kind: 'incremental' } } }),
    });
    expect(incremental.full).toBe(false);
  });
});

describe('images ls', () => {
  it('shows what the image stored, not the volume size', () => {
    const image: Image = {
      imageId: 'img-bk-20261120t120000000z-0a1b2c3d4e5f6071',
      volumeId: 'vol-0123456789abcdef0',
      createdAt: '2026-11-20T12:00:00.000Z',
      kind: 'incremental',
      status: 'cataloged',
      snapshotId: 'snap-0123456789abcdef0',
      volumeSizeBytes: 8 * 1024 ** 3,
      formatVersion: 1,
      stats: { chunksCreated: 3, bytesCreated: 3 * 1024 * 1024, blocksRead: 6 },
    };
    const table = renderTable([image], imageColumns);
    expect(table.split('\n')[0]).toContain('STORED');
    expect(table).toContain('3.0 MiB');
    expect(table).not.toContain('8.0 GiB');
  });
});

describe('images show', () => {
  const image: Image = {
    imageId: 'img-bk-20261120t120000000z-0a1b2c3d4e5f6071',
    volumeId: 'vol-0123456789abcdef0',
    createdAt: '2026-11-20T12:00:00.000Z',
    kind: 'full',
    status: 'cataloged',
    snapshotId: 'snap-0123456789abcdef0',
    volumeSizeBytes: 8 * 1024 ** 3,
    formatVersion: 1,
    stats: { bytesCreated: 1024 },
  };
  const fs = { files: 0, directories: 0, symlinks: 0, others: 0, bytes: 0, errorCount: 0 };

  it('shows the filesystems found and the warnings; unsupported and no filesystem read differently', () => {
    const text = describeImage({
      ...image,
      catalog: {
        status: 'partial',
        partitionScheme: 'gpt',
        errorCount: 1,
        filesystems: [
          { ...fs, partition: 1, type: 'ext4', label: 'root', status: 'partial', files: 12, errorCount: 1 },
          {
            ...fs,
            partition: 2,
            type: 'btrfs',
            status: 'unsupported',
            reason: 'btrfs filesystems are not read',
          },
          {
            ...fs,
            partition: 3,
            type: 'unknown',
            status: 'no-filesystem',
            reason: 'no known filesystem signature',
          },
        ],
        warnings: [{ partition: 1, path: '/srv/gone', message: 'application "web" lists /srv/gone' }],
      },
    });
    expect(text).toContain('catalog: partial (gpt disk), 1 errors');
    expect(text).toMatch(/^\s+1\s+ext4\s+root\s+partial\s+12\s/m);
    expect(text).toMatch(/^\s+2\s+btrfs\s+-?\s*unsupported\s.*btrfs filesystems are not read$/m);
    expect(text).toMatch(/^\s+3\s+unknown\s+-?\s*no-filesystem\s.*no known filesystem signature$/m);
    expect(text).toContain('  partition 1 /srv/gone: application "web" lists /srv/gone');
    expect(describeImage(image)).toContain('catalog: not built yet');
  });
});
