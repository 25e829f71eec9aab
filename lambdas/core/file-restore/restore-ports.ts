/** Ports of file, directory and application restores (adapters: lambdas/aws/s3-restore.ts, test fakes). */

/** Where restored files and archives go: a bucket of short-lived objects, handed out by presigned URL. */
export interface RestoreObjectStore {
  /**
   * Streams `body` into one object (multipart for large bodies), holding a bounded amount of it
   * in memory. Returns the bytes written.
   */
  upload(key: string, body: AsyncIterable<Uint8Array>, options: UploadOptions): Promise<{ bytes: number }>;
  /** A GET URL for `key` that expires after `expiresInSeconds` (at most RESTORE_URL_MAX_SECONDS). */
  presignDownload(key: string, expiresInSeconds: number, fileName: string): Promise<string>;
  /**
   * Uploads that can be resumed in a later invocation; a store without them writes each restore in
   * one go (`upload`).
   */
  readonly parts?: ResumableUploads;
}

export interface UploadOptions {
  readonly contentType: string;
}

/** Presigned URLs live 15 minutes at most: long enough to start a download, short enough to leak little. */
export const RESTORE_URL_MAX_SECONDS = 900;

/**
 * Multipart uploads that outlive an invocation: a restore that runs out of time leaves its upload
 * open, records how many parts are stored, and the next invocation adds the rest. S3 keeps an
 * open upload's parts until it is completed or aborted
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html).
 */
export interface ResumableUploads {
  /** The size of every part but the last, before growth (resumable-upload.ts partBytesOf). */
  readonly partBytes: number;
  /** CreateMultipartUpload: the upload id. */
  start(key: string, options: UploadOptions): Promise<string>;
  /** UploadPart: stores (or replaces) part `partNumber` (1-based). */
  putPart(key: string, uploadId: string, partNumber: number, body: Uint8Array): Promise<void>;
  /** CompleteMultipartUpload of every stored part, in order (the store lists them itself). */
  complete(key: string, uploadId: string): Promise<void>;
  /**
   * HeadObject: the size of the object at `key`, undefined when there is none. Tells a resumed
   * restore whose upload no longer exists whether an earlier invocation completed it.
   */
  objectBytes(key: string): Promise<number | undefined>;
}
