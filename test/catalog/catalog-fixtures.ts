/** Small builders shared by the catalog tests. */
import type { ApiDeps, ImageDirectory } from '../../lambdas/core/api/api-ports.ts';
import { CatalogStoreReader } from '../../lambdas/core/api/catalog-reader.ts';
import type { Image } from '../../lambdas/core/api/schemas.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { seededMemoryApi } from '../fakes/memory-api-ports.ts';
import type {
  CatalogItem,
  CatalogStatus,
  FileMeta,
  ImageCatalogRecord,
  ImageRef,
} from '../../lambdas/core/catalog/catalog-types.ts';
import { emptyChanges, emptyCounts, versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { joinPath } from '../../lambdas/core/catalog/catalog-keys.ts';

export { imageAt } from './image-refs.ts';

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

/** The catalog record of `image` in `status`: no partitions, nothing counted, no problems, one application. */
export function imageCatalogRecord(image: ImageRef, status: CatalogStatus): ImageCatalogRecord {
  return {
    ...image,
    version: versionKeyOf(image),
    formatVersion: 3,
    status,
    partitions: [],
    counts: emptyCounts(),
    changes: emptyChanges(),
    errorCount: 0,
    errors: [],
    warnings: [],
    applicationCount: 1,
  };
}

/** The API's view of a catalogued full image at `ref` (GET /images/{id}), of a 64 MiB volume unless told. */
export function catalogedApiImage(ref: ImageRef, volumeSizeBytes = 64 * 1024 * 1024): Image {
  return {
    ...ref,
    kind: 'full',
    status: 'cataloged',
    snapshotId: 'snap-0123456789abcdef0',
    volumeSizeBytes,
    formatVersion: 1,
    stats: {},
  };
}

/** The API's images: a volume's images (404 for a volume without any), one image by id (404 when unknown). */
export function imageDirectoryOf(images: readonly Image[]): ImageDirectory {
  return {
    listImages: (volumeId) => {
      const ofVolume = images.filter((i) => i.volumeId === volumeId);
      return ofVolume.length === 0
        ? Promise.reject(
            new NotFoundError(`volume ${volumeId} is not a protected replica volume`, {
              context: { volumeId },
            }),
          )
        : Promise.resolve(ofVolume);
    },
    getImage: (imageId) => {
      const found = images.find((i) => i.imageId === imageId);
      return found === undefined
        ? Promise.reject(new NotFoundError(`image ${imageId} does not exist`))
        : Promise.resolve(found);
    },
  };
}

/** The API handler over `deps` (the seeded memory API's unless given), these images and the catalog in `store`. */
export function catalogApiHandler(
  store: CatalogStore,
  images: readonly Image[],
  deps: ApiDeps = seededMemoryApi().deps,
): ApiProxyHandler {
  const directory = imageDirectoryOf(images);
  return createApiHandler(
    { ...deps, images: directory, catalog: new CatalogStoreReader({ store, images: directory }) },
    () => undefined,
  );
}
