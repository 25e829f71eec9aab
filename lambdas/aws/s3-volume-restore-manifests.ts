/**
 * The manifests Plan Restore reads (lambdas/core/restore/volume-restore-manifest.ts) on S3: the
 * digest from the image record, and one GetObject of the manifest whose body is read as the stream
 * it is (in Node.js the SDK's body is an IncomingMessage: iterating it holds what the socket has
 * delivered, not the object).
 * https://docs.aws.amazon.com/AWSJavaScriptSDK/v3/latest/Package/-aws-sdk-client-s3/Interface/GetObjectCommandOutput/
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { ImageRecordStore } from '../core/image/image-records.ts';
import { manifestKey } from '../core/image/image-types.ts';
import type { ManifestPieces } from '../core/restore/volume-restore-manifest.ts';
import { callSdk, translateSdkError } from './sdk-errors.ts';

/** `openManifest` of the volume-restore steps: the manifest of `imageId` in the image bucket. */
export function s3ManifestPieces(
  s3: S3Client,
  imageBucket: string,
  records: Pick<ImageRecordStore, 'getImageRecord'>,
): (volumeId: string, imageId: string) => Promise<ManifestPieces> {
  return async (volumeId, imageId) => {
    const record = await records.getImageRecord(volumeId, imageId);
    const key = manifestKey(volumeId, imageId);
    return { key, sha256Hex: record.manifestSha256, pieces: objectBody(s3, imageBucket, key) };
  };
}

async function* objectBody(s3: S3Client, bucket: string, key: string): AsyncGenerator<Uint8Array> {
  const context = { bucket, key };
  // A failure here or mid-stream ends Plan Restore with the translated error, which the state
  // machine retries (RetryableError, ThrottledError): the read starts again from the first byte.
  const out = await callSdk('GetObject', context, () =>
    s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })),
  );
  try {
    for await (const piece of out.Body as AsyncIterable<Uint8Array>) yield piece;
  } catch (error) {
    throw translateSdkError(error, 'GetObject', context);
  }
}
