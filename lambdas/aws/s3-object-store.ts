/**
 * S3 adapter of the ObjectStore port: conditional creates (If-None-Match: *) with SHA-256 or CRC32
 * checksums, and the unconditional write of a chunk repair (`replace`).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ObjectStore, PutIfAbsentResult, PutObjectRequest } from '../core/store/object-store.ts';
import type { ObjectLockWrites } from './s3-object-lock.ts';
import { extendObjectRetention, objectLockPutParameters } from './s3-object-lock.ts';
import { callSdk } from './sdk-errors.ts';

interface S3ErrorShape {
  readonly name?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

export class S3ObjectStore implements ObjectStore {
  /** `prefix` (e.g. "store/") is prepended to every key. */
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix = '',
    /**
     * On a bucket with Object Lock: every PUT locks its object to the generation's date, and a key
     * that already exists (412) is extended to it (s3-object-lock.ts).
     */
    private readonly lock?: ObjectLockWrites,
  ) {}

  /** The PutObject of `request` (conditional on the key's absence unless `replace`). */
  private putCommand(request: PutObjectRequest, key: string, replace: boolean): PutObjectCommand {
    const lock = this.lock === undefined ? undefined : objectLockPutParameters(this.lock);
    return new PutObjectCommand({
      Bucket: this.bucket,
      Key: key,
      Body: request.body,
      ContentLength: request.body.length,
      ...(replace ? {} : { IfNoneMatch: '*' }),
      // The algorithm named too: S3 requires it (or Content-MD5) for any PUT into a bucket
      // with Object Lock retention; the SDK keeps the value given and computes nothing.
      ...(request.sha256Base64 === undefined
        ? { ChecksumCRC32: request.crc32Base64, ChecksumAlgorithm: 'CRC32' as const }
        : { ChecksumSHA256: request.sha256Base64, ChecksumAlgorithm: 'SHA256' as const }),
      ...(request.contentType === undefined ? {} : { ContentType: request.contentType }),
      ...lock,
    });
  }

  /**
   * An unconditional PUT: in a versioned bucket (every Object Lock bucket is one) it adds a new
   * current version, locked like any new object, and the older versions stay under their own
   * retention (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html). Needs
   * s3:PutObject only, as a conditional create does.
   */
  async replace(request: PutObjectRequest): Promise<void> {
    const key = this.prefix + request.key;
    await callSdk('PutObject (replace)', { bucket: this.bucket, key }, () =>
      this.s3.send(this.putCommand(request, key, true)),
    );
  }

  putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult> {
    const key = this.prefix + request.key;
    const lock = this.lock === undefined ? undefined : objectLockPutParameters(this.lock);
    const put = callSdk('PutObject', { bucket: this.bucket, key }, async (): Promise<PutIfAbsentResult> => {
      try {
        await this.s3.send(this.putCommand(request, key, false));
        return 'created';
      } catch (error) {
        const shape = error as S3ErrorShape;
        if (shape.name === 'PreconditionFailed' || shape.$metadata?.httpStatusCode === 412) return 'exists';
        throw error;
      }
    });
    if (lock === undefined) return put;
    // A reused object may hold an older generation's lock: extend it before an image uses it.
    return put.then(async (result) => {
      if (result === 'exists')
        await extendObjectRetention(
          this.s3,
          this.bucket,
          key,
          lock.ObjectLockRetainUntilDate,
          lock.ObjectLockMode,
        );
      return result;
    });
  }

  get(key: string): Promise<Uint8Array> {
    const fullKey = this.prefix + key;
    return callSdk('GetObject', { bucket: this.bucket, key: fullKey }, async () => {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: fullKey }));
      return out.Body!.transformToByteArray();
    });
  }

  list(prefix: string): Promise<string[]> {
    return callSdk('ListObjectsV2', { bucket: this.bucket, prefix }, async () => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = await this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
        for (const object of out.Contents ?? []) keys.push(object.Key!.slice(this.prefix.length));
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token !== undefined);
      return keys.sort();
    });
  }
}
