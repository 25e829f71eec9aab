/**
 * The chunk store: chunk, segment and manifest objects of the image format on top of an
 * ObjectStore, with encoding, verification on read and retries. Writes are conditional creates,
 * so writing the same content twice (a retry, a re-run range, another image or volume with the
 * same data) stores it once.
 */
import {
  ConflictError,
  CorruptObjectError,
  IntegrityError,
  ValidationError,
  isRetryable,
} from '../errors.ts';
import type { ObjectStore, PutIfAbsentResult } from '../store/object-store.ts';
import type { RetryObserver, RetryPolicy } from '../util/retry.ts';
import { DEFAULT_RETRY_POLICY, withRetry } from '../util/retry.ts';
import { DIGEST_BYTES, crc32Base64, isZeroHash, sha256Base64, sha256Hex } from './hashing.ts';
import type { DecodedChunk } from './image-format.ts';
import {
  WRITE_FORMAT_VERSION,
  decodeChunk,
  decodeManifest,
  decodeSegment,
  formatCodec,
} from './image-format.ts';
import type { ImageManifest } from './image-types.ts';
import { chunkKey, manifestKey, segmentKey } from './image-types.ts';

/** Reads of one object whose content fails verification before giving up: corruption in transit is rare. */
export const OBJECT_INTEGRITY_ATTEMPTS = 3;

export interface StoredObject {
  readonly result: PutIfAbsentResult;
  /** Bytes of the object as stored (compressed, with header). */
  readonly bytes: number;
}

export interface ImageStoreOptions extends RetryObserver {
  readonly retry?: RetryPolicy;
  /** Format version to write; tests set older versions to check that readers keep reading them. */
  readonly writeFormatVersion?: number;
}

export class ImageStore {
  private readonly retry: RetryPolicy;
  private readonly writeVersion: number;

  constructor(
    readonly objects: ObjectStore,
    private readonly options: ImageStoreOptions = {},
  ) {
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.writeVersion = options.writeFormatVersion ?? WRITE_FORMAT_VERSION;
  }

  /** Chunks and segments carry a CRC32 (their content is verified by name on every read). */
  private putContentAddressed(key: string, body: Uint8Array): Promise<PutIfAbsentResult> {
    const checksum = crc32Base64(body);
    return withRetry(
      this.retry,
      () =>
        this.objects.putIfAbsent({
          key,
          body,
          crc32Base64: checksum,
          contentType: 'application/octet-stream',
        }),
      this.options,
    );
  }

  private putManifestObject(key: string, body: Uint8Array): Promise<PutIfAbsentResult> {
    const checksum = sha256Base64(body);
    return withRetry(
      this.retry,
      () => this.objects.putIfAbsent({ key, body, sha256Base64: checksum, contentType: 'application/json' }),
      this.options,
    );
  }

  private get(key: string): Promise<Uint8Array> {
    return withRetry(this.retry, () => this.objects.get(key), this.options);
  }

  /**
   * GET + decode with retries; an object that fails verification is re-read a few times only, and
   * when every read fails it is corrupt at rest: a CorruptObjectError (not retryable) naming it.
   */
  private async getVerified<T>(key: string, decode: (bytes: Uint8Array) => Promise<T>): Promise<T> {
    let integrityFailures = 0;
    try {
      return await withRetry(this.retry, async () => decode(await this.objects.get(key)), {
        ...this.options,
        shouldRetry: (error) => {
          if (error instanceof IntegrityError) {
            integrityFailures += 1;
            return integrityFailures < OBJECT_INTEGRITY_ATTEMPTS;
          }
          return isRetryable(error);
        },
      });
    } catch (error) {
      if (!(error instanceof IntegrityError) || integrityFailures < OBJECT_INTEGRITY_ATTEMPTS) throw error;
      // The message stays the verification's own ("chunk <name> holds data named …"): it names the object.
      throw new CorruptObjectError(error.message, {
        cause: error,
        context: { ...error.context, key, reads: integrityFailures },
      });
    }
  }

  /** Stores 1 MiB of volume data under `name` (the caller computed it from the half digests). */
  async putChunk(name: string, data: Uint8Array): Promise<StoredObject> {
    const body = await formatCodec(this.writeVersion).encodeChunk(data);
    const result = await this.putContentAddressed(chunkKey(name), body);
    return { result, bytes: body.length };
  }

  /**
   * Writes a chunk again under `name` whatever the store holds there (a chunk quarantined by the
   * scrub: its stored bytes do not match its name, or it is missing), then reads it back and
   * verifies it: a CorruptObjectError when the store still answers other bytes. A ValidationError
   * when the store cannot overwrite.
   */
  async repairChunk(name: string, data: Uint8Array): Promise<StoredObject> {
    const replace = this.objects.replace?.bind(this.objects);
    if (replace === undefined) {
      throw new ValidationError(`chunk ${name} cannot be repaired: the object store cannot overwrite`, {
        context: { name },
      });
    }
    const body = await formatCodec(this.writeVersion).encodeChunk(data);
    const key = chunkKey(name);
    const checksum = crc32Base64(body);
    await withRetry(
      this.retry,
      () => replace({ key, body, crc32Base64: checksum, contentType: 'application/octet-stream' }),
      this.options,
    );
    await this.getChunk(name);
    return { result: 'created', bytes: body.length };
  }

  /** The verified 1 MiB chunk. A chunk whose content does not match its name is an IntegrityError. */
  getChunk(name: string): Promise<DecodedChunk> {
    return this.getVerified(chunkKey(name), (bytes) => decodeChunk(bytes, name));
  }

  /**
   * Stores a segment table (concatenated 32-byte entries) and returns its hash. An all-zero table
   * is never stored: its hash is the zero sentinel.
   */
  async putSegment(entries: Uint8Array): Promise<{ hash: string; stored?: StoredObject }> {
    if (entries.every((byte) => byte === 0)) return { hash: '0'.repeat(DIGEST_BYTES * 2) };
    const encoded = await formatCodec(this.writeVersion).encodeSegment(entries);
    const result = await this.putContentAddressed(segmentKey(encoded.hash), encoded.body);
    return { hash: encoded.hash, stored: { result, bytes: encoded.body.length } };
  }

  /** The entry table of a segment; `entryCount` zero entries for the zero sentinel (no request). */
  async getSegment(hash: string, entryCount: number): Promise<Buffer> {
    if (isZeroHash(hash)) return Buffer.alloc(entryCount * DIGEST_BYTES);
    const entries = await this.getVerified(segmentKey(hash), (bytes) => decodeSegment(bytes, hash));
    if (entries.length !== entryCount * DIGEST_BYTES) {
      throw new IntegrityError(
        `segment ${hash} has ${entries.length / DIGEST_BYTES} entries, expected ${entryCount}`,
        {
          context: { hash, entryCount },
        },
      );
    }
    return entries;
  }

  /**
   * Writes the manifest once. Re-writing identical bytes is success; different bytes under the same
   * image id is a ConflictError (an image id is never reused).
   */
  async putManifest(
    manifest: ImageManifest,
  ): Promise<{ key: string; sha256: string; result: PutIfAbsentResult }> {
    const key = manifestKey(manifest.volumeId, manifest.imageId);
    const body = formatCodec(this.writeVersion).encodeManifest(manifest);
    const digest = sha256Hex(body);
    const result = await this.putManifestObject(key, body);
    if (result === 'exists') {
      const existing = sha256Hex(await this.get(key));
      if (existing !== digest) {
        throw new ConflictError(
          `image ${manifest.imageId} of ${manifest.volumeId} already has a different manifest`,
          {
            context: { key, existing, attempted: digest },
          },
        );
      }
    }
    return { key, sha256: digest, result };
  }

  /** Loads and validates a manifest; with `expectedSha256` (from the image record) also verifies it. */
  async getManifest(volumeId: string, imageId: string, expectedSha256?: string): Promise<ImageManifest> {
    const key = manifestKey(volumeId, imageId);
    const bytes = await this.get(key);
    if (expectedSha256 !== undefined && sha256Hex(bytes) !== expectedSha256) {
      throw new IntegrityError(`manifest ${key} does not match the digest in its image record`, {
        context: { key, expectedSha256 },
      });
    }
    const manifest = decodeManifest(bytes, key);
    if (manifest.volumeId !== volumeId || manifest.imageId !== imageId) {
      throw new IntegrityError(`manifest ${key} describes ${manifest.volumeId}/${manifest.imageId}`, {
        context: { key },
      });
    }
    return manifest;
  }
}
