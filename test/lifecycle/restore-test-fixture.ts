/** Where a file's data is stored: the chunk a restore test must trip over when it is corrupt. */
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import type { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { chunkKey } from '../../lambdas/core/image/image-types.ts';

/** The chunk (object key and name) that holds the first stored byte of `filePath` in the image. */
export async function chunkOfFile(
  images: ImageStore,
  image: { readonly volumeId: string; readonly imageId: string; readonly manifestSha256: string },
  filePath: string,
): Promise<{ key: string; name: string }> {
  const manifest = await images.getManifest(image.volumeId, image.imageId, image.manifestSha256);
  const reader = new ImageReader(images, manifest);
  const { fs, reader: partition } = await openImageFilesystem(reader);
  const inode = await fs.lookup(filePath);
  for await (const extent of fs.extents(inode)) {
    const diskOffset = partition.offsetInDisk + extent.physicalOffset;
    const name = await reader.chunkName(Math.floor(diskOffset / CHUNK_SIZE_BYTES));
    if (name !== undefined) return { key: chunkKey(name), name };
  }
  throw new Error(`${filePath} has no stored data in ${image.imageId}`);
}
