/**
 * Format-version dispatch. Writers use WRITE_FORMAT_VERSION; readers look at the version each
 * object carries (byte 4 of chunk and segment objects, `formatVersion` of a manifest) and use the
 * codec of that version. Adding version 2 = a format-v2.ts plus one entry in FORMAT_CODECS; the
 * version 1 entry stays for as long as any image written with it may exist (for ever).
 */
import { IntegrityError, ValidationError } from '../errors.ts';
import type { DecodedChunk, EncodedSegment } from './format-v1.ts';
import {
  FORMAT_V1,
  OBJECT_HEADER_BYTES,
  decodeChunkSyncV1,
  decodeChunkV1,
  decodeManifestV1,
  decodeSegmentV1,
  encodeChunkV1,
  encodeManifestV1,
  encodeSegmentV1,
} from './format-v1.ts';
import type { ImageManifest } from './image-types.ts';

export type { DecodedChunk, EncodedSegment } from './format-v1.ts';

/** The version new images are written in. */
export const WRITE_FORMAT_VERSION = FORMAT_V1;

export interface FormatCodec {
  readonly version: number;
  encodeChunk(data: Uint8Array): Promise<Uint8Array>;
  decodeChunk(bytes: Uint8Array, expectedName: string): Promise<DecodedChunk>;
  /**
   * The same decode and check, returning (or throwing) at once: for a scrub, which verifies and
   * drops each chunk, a Promise per chunk costs ~15% more CPU (bench/suites/lifecycle.ts).
   */
  decodeChunkSync(bytes: Uint8Array, expectedName: string): DecodedChunk;
  encodeSegment(entries: Uint8Array): Promise<EncodedSegment>;
  decodeSegment(bytes: Uint8Array, expectedHash: string): Promise<Buffer>;
  encodeManifest(manifest: ImageManifest): Uint8Array;
  decodeManifest(document: unknown, key: string): ImageManifest;
}

const FORMAT_CODECS: ReadonlyMap<number, FormatCodec> = new Map([
  [
    FORMAT_V1,
    {
      version: FORMAT_V1,
      encodeChunk: encodeChunkV1,
      decodeChunk: decodeChunkV1,
      decodeChunkSync: decodeChunkSyncV1,
      encodeSegment: encodeSegmentV1,
      decodeSegment: decodeSegmentV1,
      encodeManifest: encodeManifestV1,
      decodeManifest: decodeManifestV1,
    },
  ],
]);

/** Every version a reader understands: every version ever written. */
export const READABLE_FORMAT_VERSIONS: readonly number[] = [...FORMAT_CODECS.keys()];

export function formatCodec(version: number): FormatCodec {
  const codec = FORMAT_CODECS.get(version);
  if (codec === undefined) {
    throw new ValidationError(`image format version ${version} is not supported by this reader`, {
      context: { version, readable: READABLE_FORMAT_VERSIONS.join(',') },
    });
  }
  return codec;
}

function objectVersion(bytes: Uint8Array, what: string, name: string): number {
  if (bytes.length < OBJECT_HEADER_BYTES) {
    throw new IntegrityError(`${what} ${name} is ${bytes.length} bytes, shorter than its header`, {
      context: { name },
    });
  }
  const version = bytes[4]!;
  // An unknown version byte in a stored object is damage (or a newer writer): name the object, so a
  // restore or scrub that meets it says which one. Permanent: reading it again cannot help.
  if (!FORMAT_CODECS.has(version)) {
    throw new ValidationError(
      `${what} ${name} names format version ${version}, which this reader does not know (corrupt, or written by a newer release)`,
      { context: { name, version } },
    );
  }
  return version;
}

export async function decodeChunk(bytes: Uint8Array, expectedName: string): Promise<DecodedChunk> {
  return formatCodec(objectVersion(bytes, 'chunk', expectedName)).decodeChunk(bytes, expectedName);
}

/** decodeChunk without the Promise: a damaged or unreadable chunk throws. */
export function decodeChunkSync(bytes: Uint8Array, expectedName: string): DecodedChunk {
  return formatCodec(objectVersion(bytes, 'chunk', expectedName)).decodeChunkSync(bytes, expectedName);
}

export async function decodeSegment(bytes: Uint8Array, expectedHash: string): Promise<Buffer> {
  return formatCodec(objectVersion(bytes, 'segment', expectedHash)).decodeSegment(bytes, expectedHash);
}

export function decodeManifest(bytes: Uint8Array, key: string): ImageManifest {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (error) {
    throw new IntegrityError(`manifest ${key} is not JSON`, { cause: error, context: { key } });
  }
  const version =
    typeof document === 'object' && document !== null
      ? (document as { formatVersion?: unknown }).formatVersion
      : undefined;
  if (typeof version !== 'number') {
    throw new IntegrityError(`manifest ${key} has no formatVersion`, { context: { key } });
  }
  return formatCodec(version).decodeManifest(document, key);
}
