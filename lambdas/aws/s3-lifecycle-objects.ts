/**
 * S3 adapter of the lifecycle's LifecycleObjectStore port (lambdas/core/lifecycle/ports.ts) over
 * the image bucket: ListObjectsV2 pages with StartAfter, whole and ranged GETs, conditional creates,
 * DeleteObjects batches (at most 1,000 keys, quiet mode off so every key is reported) and Object
 * Lock retention extensions (HeadObject, then PutObjectRetention when the lock is shorter).
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { ValidationError } from '../core/errors.ts';
import type { ObjectLockConfig } from '../core/lifecycle/object-lock.ts';
import type { DeleteOutcome, LifecycleObjectStore, ListPage } from '../core/lifecycle/ports.ts';
import { DELETE_OBJECTS_MAX_KEYS, LIST_MAX_KEYS } from '../core/lifecycle/ports.ts';
import type { PutIfAbsentResult, PutObjectRequest } from '../core/store/object-store.ts';
import { mapWithConcurrency } from '../core/util/concurrency.ts';
import { extendObjectRetention } from './s3-object-lock.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { callSdk } from './sdk-errors.ts';

/**
 * Keys extended at once: an extension is a HeadObject and a PutObjectRetention (~20 ms each), so a
 * page of 1,000 live keys takes ~1.3 s instead of ~40 s; far below S3's 3,500 writes/s per prefix.
 */
export const RETENTION_CONCURRENCY = 32;

export class S3LifecycleObjectStore implements LifecycleObjectStore {
  private readonly objects: S3ObjectStore;

  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    /** The mode of the bucket's locks: what an extension gives an object that has no lock yet. */
    private readonly lockMode: ObjectLockConfig['mode'] = 'GOVERNANCE',
  ) {
    this.objects = new S3ObjectStore(s3, bucket);
  }

  listPage(prefix: string, startAfter: string | undefined, maxKeys: number): Promise<ListPage> {
    if (maxKeys < 1 || maxKeys > LIST_MAX_KEYS) {
      throw new ValidationError(`maxKeys ${maxKeys} is outside 1..${LIST_MAX_KEYS}`, {
        context: { maxKeys },
      });
    }
    return callSdk('ListObjectsV2', { bucket: this.bucket, prefix }, async () => {
      const out = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: maxKeys,
          ...(startAfter === undefined ? {} : { StartAfter: startAfter }),
        }),
      );
      return {
        objects: (out.Contents ?? []).map((object) => ({
          key: object.Key!,
          size: object.Size ?? 0,
          lastModified: object.LastModified ?? new Date(0),
        })),
        isTruncated: out.IsTruncated === true,
      };
    });
  }

  get(key: string): Promise<Uint8Array> {
    return this.objects.get(key);
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return Promise.resolve(new Uint8Array(0));
    return callSdk('GetObject', { bucket: this.bucket, key, start, end }, async () => {
      // HTTP Range is inclusive of its last byte.
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }),
      );
      return out.Body!.transformToByteArray();
    });
  }

  putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult> {
    return this.objects.putIfAbsent(request);
  }

  deleteObjects(keys: readonly string[]): Promise<DeleteOutcome> {
    if (keys.length === 0) return Promise.resolve({ deleted: [], failed: [] });
    if (keys.length > DELETE_OBJECTS_MAX_KEYS) {
      throw new ValidationError(
        `DeleteObjects takes at most ${DELETE_OBJECTS_MAX_KEYS} keys, not ${keys.length}`,
        {
          context: { count: keys.length },
        },
      );
    }
    return callSdk('DeleteObjects', { bucket: this.bucket, count: keys.length }, async () => {
      const out = await this.s3.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: false },
        }),
      );
      return {
        deleted: (out.Deleted ?? []).map((d) => d.Key!),
        failed: (out.Errors ?? []).map((e) => ({
          key: e.Key!,
          code: e.Code ?? 'Unknown',
          message: e.Message ?? '',
        })),
      };
    });
  }

  async extendRetention(keys: readonly string[], until: Date): Promise<void> {
    // Never shortens: a retain-until date already later than `until` stays (s3-object-lock.ts).
    await mapWithConcurrency(keys, RETENTION_CONCURRENCY, (key) =>
      extendObjectRetention(this.s3, this.bucket, key, until, this.lockMode),
    );
  }
}
