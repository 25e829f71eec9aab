/** Small builders shared by the catalog tests. */
import type { Image } from '../../lambdas/core/api/schemas.ts';
import type { CatalogItem, FileMeta, ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { joinPath } from '../../lambdas/core/catalog/catalog-keys.ts';

export function imageAt(volumeId: string, n: number): ImageRef {
  const createdAt = new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
  return { volumeId, imageId: `img-${String(n).padStart(4, '0')}`, createdAt };
}

export function meta(overrides: Partial<FileMeta> = {}): FileMeta {
  const t = { seconds: 1_700_000_000, nanoseconds: 0 };
  return {
    type: 'file',
    inode: 12,
    size: 100,
    mode: 0o100644,
    uid: 0,
    gid: 0,
    nlink: 1,
    mtime: t,
    ctime: t,
    atime: t,
    ...overrides,
  };
}

export function version(
  image: ImageRef,
  partition: number,
  dir: string,
  name: string,
  fileMeta: FileMeta | 'removed',
): CatalogItem {
  return {
    volumeId: image.volumeId,
    partition,
    dir,
    name,
    path: joinPath(dir, name),
    version: versionKeyOf(image),
    imageId: image.imageId,
    createdAt: image.createdAt,
    ...(fileMeta === 'removed' ? { removed: true as const } : { meta: fileMeta }),
  };
}

/** The API's view of a catalogued full image of a 64 MiB volume at `ref` (GET /images/{id}). */
export function catalogedApiImage(ref: ImageRef): Image {
  return {
    ...ref,
    kind: 'full',
    status: 'cataloged',
    snapshotId: 'snap-0123456789abcdef0',
    volumeSizeBytes: 64 * 1024 * 1024,
    formatVersion: 1,
    stats: {},
  };
}
