/**
 * Catalogues one committed image the way the build-catalog step does: the image's record and
 * manifest give its bytes; the latest earlier image whose catalog finished gives the previous image
 * and, from the two manifests, the chunks that changed, so that unchanged subtrees are skipped
 * (docs/catalog.md, "Catalog cost that follows the change"). Without such an image (the first
 * catalog, or an earlier catalog that failed) everything is walked.
 */
import { NotFoundError } from '../errors.ts';
import { ImageReader } from '../image/image-reader.ts';
import type { ImageRecordStore } from '../image/image-records.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { buildCatalog, type PreviousImage } from './build-catalog.ts';
import type { CatalogStore } from './catalog-store.ts';
import { versionKeyOf, type ImageCatalogRecord, type ImageRef } from './catalog-types.ts';
import { changedChunksBetween } from './changed-chunks.ts';

export interface CatalogImageDeps {
  readonly records: Pick<ImageRecordStore, 'getImageRecord'>;
  readonly images: ImageStore;
  readonly catalog: CatalogStore;
}

export async function catalogImage(
  deps: CatalogImageDeps,
  request: { readonly volumeId: string; readonly imageId: string },
): Promise<ImageCatalogRecord> {
  const { volumeId, imageId } = request;
  const record = await deps.records.getImageRecord(volumeId, imageId);
  const manifest = await deps.images.getManifest(volumeId, imageId, record.manifestSha256);
  const image: ImageRef = { volumeId, imageId, createdAt: record.createdAt };
  const previous = await previousImageOf(deps, image, manifest);
  return buildCatalog(
    { store: deps.catalog },
    {
      image,
      disk: new ImageReader(deps.images, manifest),
      ...(previous === undefined ? {} : { previous }),
    },
  );
}

async function previousImageOf(
  deps: CatalogImageDeps,
  image: ImageRef,
  manifest: ImageManifest,
): Promise<PreviousImage | undefined> {
  const prior = await deps.catalog.latestImageCatalogBefore(image.volumeId, versionKeyOf(image));
  if (prior === undefined || (prior.status !== 'complete' && prior.status !== 'partial')) return undefined;
  let priorRecord;
  try {
    priorRecord = await deps.records.getImageRecord(image.volumeId, prior.imageId);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined; // the earlier image was deleted
    throw error;
  }
  const priorManifest = await deps.images.getManifest(
    image.volumeId,
    prior.imageId,
    priorRecord.manifestSha256,
  );
  const changedChunks = await changedChunksBetween(deps.images, priorManifest, manifest);
  if (changedChunks === undefined) return undefined; // the volume was resized: walk everything
  return {
    image: { volumeId: image.volumeId, imageId: prior.imageId, createdAt: priorRecord.createdAt },
    disk: new ImageReader(deps.images, priorManifest),
    changedChunks,
  };
}
