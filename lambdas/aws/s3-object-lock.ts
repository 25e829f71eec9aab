/**
 * Object Lock requests on the image bucket, shared by the engine's writes (S3ObjectStore) and the
 * collector's extensions (S3LifecycleObjectStore).
 *
 * - A PUT carries `x-amz-object-lock-mode` and `x-amz-object-lock-retain-until-date`; S3 requires
 *   Content-MD5 or `x-amz-sdk-checksum-algorithm` on such a PUT (S3ObjectStore always names its
 *   checksum's algorithm), and the s3:PutObjectRetention permission
 *   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html).
 * - An extension reads the current retain-until date with HeadObject (returned only to a caller
 *   with s3:GetObjectRetention; https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html)
 *   and sends PutObjectRetention only when it is earlier: S3 refuses to shorten a lock without
 *   s3:BypassGovernanceRetention, which no role of the product has
 *   (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObjectRetention.html). The object's
 *   own mode is kept (a COMPLIANCE lock cannot become GOVERNANCE).
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { HeadObjectCommand, PutObjectRetentionCommand } from '@aws-sdk/client-s3';
import { NotFoundError } from '../core/errors.ts';
import type { ObjectLockConfig } from '../core/lifecycle/object-lock.ts';
import { retainUntilForNewObject } from '../core/lifecycle/object-lock.ts';
import type { Clock } from '../core/ports.ts';
import { callSdk } from './sdk-errors.ts';

/** What a writer of the locked bucket needs: the configuration and the time of each PUT. */
export interface ObjectLockWrites {
  readonly config: ObjectLockConfig;
  readonly clock: Clock;
}

/** The PutObject parameters that lock a new object to end(g) + P (object-lock.ts). */
export function objectLockPutParameters(lock: ObjectLockWrites): {
  ObjectLockMode: ObjectLockConfig['mode'];
  ObjectLockRetainUntilDate: Date;
} {
  return {
    ObjectLockMode: lock.config.mode,
    ObjectLockRetainUntilDate: retainUntilForNewObject(lock.clock.now(), lock.config),
  };
}

/**
 * Extends the lock of `key` to `until` unless it is already locked that long. Returns whether a
 * PutObjectRetention was sent; an absent key is skipped (false).
 */
export async function extendObjectRetention(
  s3: S3Client,
  bucket: string,
  key: string,
  until: Date,
  mode: ObjectLockConfig['mode'],
): Promise<boolean> {
  let current: { mode?: string; until?: Date };
  try {
    current = await callSdk('HeadObject', { bucket, key }, async () => {
      const out = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return {
        ...(out.ObjectLockMode === undefined ? {} : { mode: out.ObjectLockMode }),
        ...(out.ObjectLockRetainUntilDate === undefined ? {} : { until: out.ObjectLockRetainUntilDate }),
      };
    });
  } catch (error) {
    if (error instanceof NotFoundError) return false;
    throw error;
  }
  if (current.until !== undefined && current.until.getTime() >= until.getTime()) return false;
  const keptMode = current.mode === 'COMPLIANCE' || current.mode === 'GOVERNANCE' ? current.mode : mode;
  await callSdk('PutObjectRetention', { bucket, key }, () =>
    s3.send(
      new PutObjectRetentionCommand({
        Bucket: bucket,
        Key: key,
        Retention: { Mode: keptMode, RetainUntilDate: until },
      }),
    ),
  );
  return true;
}
