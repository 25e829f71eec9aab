/**
 * The object store port: a flat, write-once key space (S3 in production, a Map in tests).
 * Every object the image format writes is immutable and named by its content (or, for
 * manifests, by an id that is never reused), so writes are conditional creates and there is no
 * delete. The one overwrite is a repair: a chunk the scrub found corrupt at rest is written again
 * under its name (`replace`), which in a versioned bucket adds a version and keeps the bad one.
 */

/** Outcome of a conditional create. `exists` is success too: the same key holds the same content. */
export type PutIfAbsentResult = 'created' | 'exists';

/**
 * A PUT carries exactly one S3 checksum of its body, which S3 verifies on arrival: SHA-256
 * (x-amz-checksum-sha256) or, where the content is verified end to end by its name anyway and
 * hashing speed matters (chunks, segments), CRC32 (x-amz-checksum-crc32, ~2.5× cheaper here).
 */
export type PutObjectRequest = {
  readonly key: string;
  readonly body: Uint8Array;
  readonly contentType?: string;
} & (
  | { /** Base64 SHA-256 of `body`. */ readonly sha256Base64: string; readonly crc32Base64?: undefined }
  | {
      /** Base64 of the big-endian CRC32 of `body`. */ readonly crc32Base64: string;
      readonly sha256Base64?: undefined;
    }
);

export interface ObjectStore {
  /**
   * Creates the object unless the key exists (S3 `If-None-Match: *`). A 412 is reported as
   * `exists`, never as an error. Errors: ThrottledError / RetryableError (5xx, 409 conditional
   * conflict), AccessDeniedError, ValidationError.
   */
  putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult>;
  /**
   * Writes the object whether or not the key exists (S3 PutObject without a condition; in a
   * versioned bucket a new current version, the older ones kept under their locks). Only for
   * repairing a chunk whose stored bytes do not match its name; absent where the store cannot.
   */
  replace?(request: PutObjectRequest): Promise<void>;
  /** The whole object. NotFoundError when the key does not exist. */
  get(key: string): Promise<Uint8Array>;
  /** Keys under `prefix`, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
}
