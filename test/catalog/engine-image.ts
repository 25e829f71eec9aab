/** Backs an image file up with the engine into in-memory stores (MemoryEbs → runBackup → ImageStore). */
import { readFile } from 'node:fs/promises';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import { fastRetry, noPacing } from '../engine/engine-fixture.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';

export async function backUpImageFile(
  file: string,
  volumeId: string,
  imageId: string,
): Promise<{ images: ImageStore; records: MemoryImageRecordStore; record: ImageRecord }> {
  const ebs = new MemoryEbs();
  ebs.createVolume(volumeId, 1);
  const bytes = await readFile(file);
  for (let off = 0; off < bytes.length; off += EBS_BLOCK_SIZE_BYTES) {
    const block = bytes.subarray(off, off + EBS_BLOCK_SIZE_BYTES);
    if (block.some((b) => b !== 0)) ebs.write(volumeId, off, block);
  }
  const snapshotId = ebs.createSnapshot(volumeId);
  const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
  const records = new MemoryImageRecordStore();
  const { record } = await runBackup(
    { ebs, images, records, readPacer: noPacing, listPacer: noPacing },
    { volumeId, imageId, snapshotId, volumeSizeGib: 1, createdAt: '2026-04-01T00:00:00.000Z' },
  );
  return { images, records, record };
}
