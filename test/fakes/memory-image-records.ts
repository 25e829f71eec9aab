/** In-memory ImageRecordStore with the DynamoDB adapter's semantics. */
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import type { ImageRecord, ImageRecordStore } from '../../lambdas/core/image/image-records.ts';
import { sameImageRecord } from '../../lambdas/core/image/image-records.ts';

export class MemoryImageRecordStore implements ImageRecordStore {
  readonly records = new Map<string, ImageRecord>();

  putImageRecord(record: ImageRecord): Promise<'created' | 'exists'> {
    const key = `${record.volumeId}/${record.imageId}`;
    const existing = this.records.get(key);
    if (existing === undefined) {
      this.records.set(key, structuredClone(record));
      return Promise.resolve('created');
    }
    if (sameImageRecord(existing, record)) return Promise.resolve('exists');
    return Promise.reject(
      new ConflictError(`image ${record.imageId} of ${record.volumeId} already has a different record`, {
        context: { volumeId: record.volumeId, imageId: record.imageId },
      }),
    );
  }

  getImageRecord(volumeId: string, imageId: string): Promise<ImageRecord> {
    const record = this.records.get(`${volumeId}/${imageId}`);
    if (record === undefined) {
      return Promise.reject(
        new NotFoundError(`image ${imageId} of ${volumeId} does not exist`, {
          context: { volumeId, imageId },
        }),
      );
    }
    return Promise.resolve(structuredClone(record));
  }

  findImageRecord(imageId: string): Promise<ImageRecord | undefined> {
    const record = [...this.records.values()].find((r) => r.imageId === imageId);
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }

  listImageRecords(volumeId: string): Promise<ImageRecord[]> {
    return Promise.resolve(
      [...this.records.values()]
        .filter((r) => r.volumeId === volumeId)
        .sort((a, b) =>
          a.createdAt === b.createdAt ? (a.imageId < b.imageId ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1,
        )
        .map((r) => structuredClone(r)),
    );
  }
}
