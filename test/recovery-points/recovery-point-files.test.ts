/**
 * `GET /recovery-points/{id}/files` (RecoveryPointService.listFiles) answers in the recovery
 * point's terms: the directories it makes up above its filesystems carry RECOVERY_POINT_DIRECTORY_MODE
 * (a read-only directory), a path missing inside a filesystem is named as the caller gave it with the
 * point's id (not the image's inner path and id), and a disk whose catalog holds nothing to list
 * says what it is and how to restore it instead of "is not in recovery point".
 */
import { describe, expect, it } from 'vitest';
import { CatalogPathNotFoundError } from '../../lambdas/core/api/catalog-reader.ts';
import type { DirectoryEntry, Image, ImageCatalog } from '../../lambdas/core/api/schemas.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import {
  RECOVERY_POINT_DIRECTORY_MODE,
  type RecoveryPointService,
  type ApiServices,
} from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { memoryApi, memoryRecoveryPoints } from '../fakes/memory-api-ports.ts';
import { MemoryRecoveryPointStore } from './memory-recovery-point-store.ts';

const RP = 'rp-bk-1';
const DATA_IMAGE = 'img-bk-1-vol-0b';
const RAW_IMAGE = 'img-bk-1-vol-0c';

/** web-01's point: /dev/xvda (ext4 on the whole disk), /dev/xvdb (partition 1: ext4), /dev/xvdc (no filesystem). */
const POINT: RecoveryPoint = {
  version: 1,
  recoveryPointId: RP,
  serverId: 'web-01',
  backupId: 'bk-1',
  createdAt: '2026-03-01T00:00:00.000Z',
  images: [
    ['vol-0a', '/dev/xvda'],
    ['vol-0b', '/dev/xvdb'],
    ['vol-0c', '/dev/xvdc'],
  ].map(([volumeId, device], n) => ({
    volumeId: volumeId!,
    device: device!,
    imageId: `img-bk-1-${volumeId}`,
    snapshotId: `snap-bk-1-${n}`,
    kind: 'full' as const,
  })),
};

function filesystem(partition: number, type: string, status: ImageCatalog['filesystems'][number]['status']) {
  return {
    partition,
    type,
    status,
    files: 0,
    directories: 0,
    symlinks: 0,
    others: 0,
    bytes: 0,
    errorCount: 0,
  };
}

const CATALOGS: Readonly<Record<string, ImageCatalog>> = {
  'img-bk-1-vol-0a': {
    status: 'complete',
    filesystems: [filesystem(0, 'ext4', 'complete')],
    errorCount: 0,
    warnings: [],
  },
  [DATA_IMAGE]: {
    status: 'complete',
    filesystems: [filesystem(1, 'ext4', 'complete')],
    errorCount: 0,
    warnings: [],
  },
  [RAW_IMAGE]: {
    status: 'no-filesystem',
    filesystems: [filesystem(0, 'unknown', 'no-filesystem')],
    errorCount: 0,
    warnings: [],
  },
};

/** The catalog of /dev/xvdb1: `/data` is a directory, `/data/motd` a file, nothing else is there. */
function listDirectory(image: Image, path: string): Promise<{ items: DirectoryEntry[] }> {
  if (image.imageId === DATA_IMAGE && path === '/data') {
    return Promise.resolve({ items: [{ name: 'motd', path: '/data/motd', type: 'file', sizeBytes: 8 }] });
  }
  const problem =
    image.imageId === DATA_IMAGE && path === '/data/motd' ? 'is not a directory' : 'does not exist';
  return Promise.reject(
    new CatalogPathNotFoundError(`${path} ${problem} in image ${image.imageId}`, problem, {
      context: { imageId: image.imageId, path },
    }),
  );
}

const api = {
  images: { getImage: (imageId: string) => Promise.resolve({ imageId } as Image) },
  catalog: {
    catalogOfImage: (image: Image) => Promise.resolve(CATALOGS[image.imageId]),
    listDirectory,
  },
} as unknown as ApiServices;

async function service(): Promise<RecoveryPointService> {
  const points = new MemoryRecoveryPointStore();
  await points.put(POINT);
  return memoryRecoveryPoints(memoryApi(), points);
}

async function refusal(path: string): Promise<NotFoundError> {
  const error = await (await service()).listFiles(api, RP, path, { limit: 10 }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(NotFoundError);
  return error as NotFoundError;
}

describe('a recovery point’s files', () => {
  it('gives the directories above its filesystems mode 0o40555, in the API’s answer', async () => {
    expect(RECOVERY_POINT_DIRECTORY_MODE).toBe(0o40555);
    const rp = await service();
    expect(await rp.listFiles(api, RP, '/', { limit: 10 })).toEqual({
      items: [{ name: 'dev', path: '/dev', type: 'directory', sizeBytes: 0, mode: 0o40555 }],
    });
    expect(await rp.listFiles(api, RP, '/dev', { limit: 10 })).toEqual({
      items: [
        { name: 'xvda', path: '/dev/xvda', type: 'directory', sizeBytes: 0, mode: 0o40555 },
        { name: 'xvdb1', path: '/dev/xvdb1', type: 'directory', sizeBytes: 0, mode: 0o40555 },
      ],
    });
  });

  it('lists a filesystem’s directory under its device name', async () => {
    expect(await (await service()).listFiles(api, RP, '/dev/xvdb1/data', { limit: 10 })).toEqual({
      items: [{ name: 'motd', path: '/dev/xvdb1/data/motd', type: 'file', sizeBytes: 8 }],
    });
  });

  it('names a missing path as given and the recovery point, not the image', async () => {
    const error = await refusal('/dev/xvdb1/data/nope');
    expect(error.message).toBe(`/dev/xvdb1/data/nope does not exist in recovery point ${RP}`);
    expect(error.context).toEqual({ recoveryPointId: RP, path: '/dev/xvdb1/data/nope' });
  });

  it('names a file listed as a directory as given and the recovery point', async () => {
    const error = await refusal('/dev/xvdb1/data/motd');
    expect(error.message).toBe(`/dev/xvdb1/data/motd is not a directory in recovery point ${RP}`);
  });

  it.each(['/dev/xvdc', '/dev/xvdc/etc'])(
    'says %s is a disk without a filesystem it reads, and how to restore it',
    async (path) => {
      const error = await refusal(path);
      expect(error.message).toBe(
        `/dev/xvdc in recovery point ${RP} holds no filesystem this product reads (catalog: no-filesystem); restore it whole: rbp restore server --recovery-point ${RP}, or rbp restore volume --image ${RAW_IMAGE}`,
      );
      expect(error.context).toEqual({
        recoveryPointId: RP,
        path: '/dev/xvdc',
        imageId: RAW_IMAGE,
        status: 'no-filesystem',
      });
    },
  );

  it('still says a path outside every filesystem is not in the recovery point', async () => {
    expect((await refusal('/dev/xvdz')).message).toBe(`/dev/xvdz is not in recovery point ${RP}`);
  });
});
