/**
 * The chunks whose content differs between two images of one volume, from their manifests alone:
 * segments with equal hashes are equal (no request); for the others both segment tables are read
 * (32 KiB each) and compared entry by entry. This is what the engine knows changed, and what the
 * incremental catalog compares byte for byte (docs/catalog.md, "Catalog cost that follows the change").
 */
import { DIGEST_BYTES } from '../image/hashing.ts';
import type { ImageStore } from '../image/image-store.ts';
import type { ImageManifest } from '../image/image-types.ts';
import { SEGMENT_CHUNKS, segmentEntryCount } from '../image/image-types.ts';

/** Chunk indexes (disk byte offset / 1 MiB) that differ; undefined when the volumes' sizes differ. */
export async function changedChunksBetween(
  images: Pick<ImageStore, 'getSegment'>,
  before: ImageManifest,
  after: ImageManifest,
): Promise<Set<number> | undefined> {
  if (before.volumeSizeBytes !== after.volumeSizeBytes) return undefined;
  const changed = new Set<number>();
  for (let segment = 0; segment < after.segments.length; segment += 1) {
    const a = before.segments[segment];
    const b = after.segments[segment]!;
    if (a === b) continue;
    const entries = segmentEntryCount(after.volumeSizeBytes, segment);
    const [x, y] = await Promise.all([images.getSegment(a!, entries), images.getSegment(b, entries)]);
    for (let i = 0; i < entries; i += 1) {
      const at = i * DIGEST_BYTES;
      if (Buffer.compare(x.subarray(at, at + DIGEST_BYTES), y.subarray(at, at + DIGEST_BYTES)) !== 0) {
        changed.add(segment * SEGMENT_CHUNKS + i);
      }
    }
  }
  return changed;
}
