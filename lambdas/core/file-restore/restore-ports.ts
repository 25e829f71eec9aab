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
}

export interface UploadOptions {
  readonly contentType: string;
}

/** Presigned URLs live 15 minutes at most: long enough to start a download, short enough to leak little. */
export const RESTORE_URL_MAX_SECONDS = 900;
