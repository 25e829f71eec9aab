/**
 * The object store port: a flat, write-once key space (S3 in production, a Map in tests).
 * Every object the image format writes is immutable and named by its content (or, for
 * manifests, by an id that is never reused), so the port needs no overwrite and no delete.
 */

/** Outcome of a conditional create. `exists` is success too: the same key holds the same content. */
export type PutIfAbsentResult = 'created' | 'exists';

export interface PutObjectRequest {
  readonly key: string;
  readonly body: Uint8Array;
  /** Base64 SHA-256 of `body`; S3 verifies it on arrival (x-amz-checksum-sha256). */
  readonly sha256Base64: string;
  readonly contentType?: string;
}

export interface ObjectStore {
  /**
   * Creates the object unless the key exists (S3 `If-None-Match: *`). A 412 is reported as
   * `exists`, never as an error. Errors: ThrottledError / RetryableError (5xx, 409 conditional
   * conflict), AccessDeniedError, ValidationError.
   */
  putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult>;
  /** The whole object. NotFoundError when the key does not exist. */
  get(key: string): Promise<Uint8Array>;
  /** Keys under `prefix`, in lexicographic order. */
  list(prefix: string): Promise<string[]>;
}
