/** In-memory ImageRecordStore with the DynamoDB adapter's semantics. */
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import type {
  ImageRecord,
  ImageRecordPage,
  ImageRecordQuery,
  ImageRecordStore,
  ImageSource,
} from '../../lambdas/core/image/image-records.ts';
import { sameImageRecord } from '../../lambdas/core/image/image-records.ts';

/** A committed full image's record (1 GiB volume), for tests that need records, not their values. */
export function fullImageRecord(volumeId: string, imageId: string, createdAt: string): ImageRecord {
  return {
    volumeId,
    imageId,
    createdAt,
    kind: 'full',
    formatVersion: 1,
    snapshotId: `snap-${imageId}`,
    volumeSizeBytes: 1 << 30,
    manifestKey: `images/${volumeId}/${imageId}.json`,
    manifestSha256: 'ab'.repeat(32),
    stats: { chunksCreated: 1, bytesCreated: 2, blocksRead: 3 },
  };
}

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

  /** The token is the last record's sort position (createdAt#imageId), as the adapter's key is. */
  async pageImageRecords(volumeId: string, query: ImageRecordQuery): Promise<ImageRecordPage> {
    const position = (r: ImageRecord) => `${r.createdAt}#${r.imageId}`;
    let all = (await this.listImageRecords(volumeId)).filter(
      (r) =>
        (query.from === undefined || r.createdAt >= query.from) &&
        (query.to === undefined || r.createdAt <= query.to) &&
        (query.kind === undefined || r.kind === query.kind),
    );
    if (query.newestFirst === true) all = all.reverse();
    const after = query.token;
    const rest =
      after === undefined
        ? all
        : all.filter((r) => (query.newestFirst === true ? position(r) < after : position(r) > after));
    const records = rest.slice(0, query.limit);
    return rest.length > query.limit ? { records, nextToken: position(records.at(-1)!) } : { records };
  }

  async latestImageRecord(
    volumeId: string,
    source: ImageSource,
    excludeImageId?: string,
  ): Promise<ImageRecord | undefined> {
    return (await this.listImageRecords(volumeId))
      .filter((r) => r.imageId !== excludeImageId && (r.source ?? 'replica') === source)
      .at(-1);
  }

  async countImageRecords(volumeId: string): Promise<number> {
    return (await this.listImageRecords(volumeId)).length;
  }
}
