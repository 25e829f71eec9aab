/**
 * Image format version 1: byte layouts of chunk objects, segment objects and manifests.
 * The normative description is docs/image-format.md; keep the two in step. Version 1 is frozen:
 * a change to any layout is a new version with its own file, and this reader stays.
 */
import { constants as zlibConstants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { z } from 'zod';
import { IntegrityError, ValidationError } from '../errors.ts';
import { CHUNK_SIZE_BYTES, EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';
import { DIGEST_BYTES, HEX_HASH_PATTERN, chunkNameFromDigests, sha256, sha256Hex } from './hashing.ts';
import type { ImageManifest } from './image-types.ts';
import { SEGMENT_CHUNKS } from './image-types.ts';

export const FORMAT_V1 = 1;

/** zstd level 1: ~1.1 GiB/s per core on text here against ~140 MiB/s at level 3, for 15% more bytes. */
export const CHUNK_ZSTD_LEVEL = 1;

/**
 * Output buffer of one zlib call: larger than any chunk's compressed or decompressed size, so zlib
 * returns one buffer instead of 64 pieces of 16 KiB (2× less CPU per decompressed MiB, measured).
 * Compression and decompression run synchronously: on the thread-pool path the hand-offs cost more
 * CPU than they save wall time on a 1-vCPU Lambda (bench/suites/engine.ts: compression 2.7 s → 2.0 s
 * per GiB; bench/suites/lifecycle.ts: a scrub's decode + verify ~1.8× more MiB per CPU second).
 */
export const ZSTD_OUTPUT_CHUNK_BYTES = 2 * CHUNK_SIZE_BYTES;

/** Object header: magic(4) version(1) codec(1) reserved(2) uncompressedLength(4, LE). */
export const OBJECT_HEADER_BYTES = 12;
export const CHUNK_MAGIC = 'RBPC';
export const SEGMENT_MAGIC = 'RBPS';

export const CODEC_NONE = 0;
export const CODEC_ZSTD = 1;

function writeHeader(magic: string, codec: number, uncompressedLength: number): Buffer {
  const header = Buffer.alloc(OBJECT_HEADER_BYTES);
  header.write(magic, 0, 'latin1');
  header.writeUInt8(FORMAT_V1, 4);
  header.writeUInt8(codec, 5);
  header.writeUInt32LE(uncompressedLength, 8);
  return header;
}

interface ParsedHeader {
  readonly codec: number;
  readonly uncompressedLength: number;
  readonly payload: Buffer;
}

function readHeader(bytes: Uint8Array, magic: string, what: string, name: string): ParsedHeader {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < OBJECT_HEADER_BYTES || buffer.toString('latin1', 0, 4) !== magic) {
    throw new IntegrityError(`${what} ${name} has no ${magic} header`, {
      context: { name, bytes: buffer.length },
    });
  }
  return {
    codec: buffer.readUInt8(5),
    uncompressedLength: buffer.readUInt32LE(8),
    payload: buffer.subarray(OBJECT_HEADER_BYTES),
  };
}

/** Compresses with zstd when that saves bytes, else stores the payload as is. */
function packPayload(magic: string, payload: Uint8Array): Uint8Array {
  const compressed = zstdCompressSync(payload, {
    chunkSize: ZSTD_OUTPUT_CHUNK_BYTES,
    params: { [zlibConstants.ZSTD_c_compressionLevel]: CHUNK_ZSTD_LEVEL },
  });
  const useZstd = compressed.length < payload.length;
  const header = writeHeader(magic, useZstd ? CODEC_ZSTD : CODEC_NONE, payload.length);
  return Buffer.concat([header, useZstd ? compressed : payload]);
}

/**
 * The payload of an object, at most `maxBytes` long: zstd output beyond it is refused as it is
 * produced (zlib's maxOutputLength), so a small hostile frame cannot inflate to gigabytes.
 */
function unpackPayload(header: ParsedHeader, what: string, name: string, maxBytes: number): Buffer {
  let payload: Buffer;
  if (header.codec === CODEC_NONE) payload = header.payload;
  else if (header.codec === CODEC_ZSTD) {
    try {
      payload = zstdDecompressSync(header.payload, {
        chunkSize: ZSTD_OUTPUT_CHUNK_BYTES,
        maxOutputLength: maxBytes,
      });
    } catch (error) {
      throw new IntegrityError(`${what} ${name} does not decompress`, { cause: error, context: { name } });
    }
  } else {
    throw new ValidationError(`${what} ${name} uses unknown codec ${header.codec}`, {
      context: { name, codec: header.codec },
    });
  }
  if (payload.length !== header.uncompressedLength) {
    throw new IntegrityError(
      `${what} ${name} holds ${payload.length} bytes, its header says ${header.uncompressedLength}`,
      { context: { name } },
    );
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Chunks

export interface DecodedChunk {
  /** The 1 MiB of volume data. */
  readonly data: Buffer;
  /** SHA-256 of each 512 KiB half, as EBS checksums them. */
  readonly halfDigests: readonly [Buffer, Buffer];
}

/** Encodes a chunk (Promise-returning, so a later version may compress off the main thread). */
export function encodeChunkV1(data: Uint8Array): Promise<Uint8Array> {
  if (data.length !== CHUNK_SIZE_BYTES) {
    return Promise.reject(new ValidationError(`a chunk is ${CHUNK_SIZE_BYTES} bytes, got ${data.length}`));
  }
  return Promise.resolve(packPayload(CHUNK_MAGIC, data));
}

/**
 * Decodes and verifies a chunk. Synchronous work behind the codec's Promise (see
 * ZSTD_OUTPUT_CHUNK_BYTES); a damaged chunk rejects, it never throws.
 */
export function decodeChunkV1(bytes: Uint8Array, expectedName: string): Promise<DecodedChunk> {
  return new Promise((resolve) => {
    resolve(decodeChunkSyncV1(bytes, expectedName));
  });
}

/** decodeChunkV1 without the Promise: a damaged chunk throws. */
export function decodeChunkSyncV1(bytes: Uint8Array, expectedName: string): DecodedChunk {
  const header = readHeader(bytes, CHUNK_MAGIC, 'chunk', expectedName);
  const data = unpackPayload(header, 'chunk', expectedName, CHUNK_SIZE_BYTES);
  if (data.length !== CHUNK_SIZE_BYTES) {
    throw new IntegrityError(`chunk ${expectedName} is ${data.length} bytes, not ${CHUNK_SIZE_BYTES}`, {
      context: { name: expectedName },
    });
  }
  const first = sha256(data.subarray(0, EBS_BLOCK_SIZE_BYTES));
  const second = sha256(data.subarray(EBS_BLOCK_SIZE_BYTES));
  const actual = chunkNameFromDigests(first, second);
  if (actual !== expectedName) {
    throw new IntegrityError(`chunk ${expectedName} holds data named ${actual}`, {
      context: { name: expectedName, actual },
    });
  }
  return { data, halfDigests: [first, second] };
}

// ---------------------------------------------------------------------------------------------
// Segments

export interface EncodedSegment {
  /** Hex SHA-256 of the uncompressed entry table: the segment's name. */
  readonly hash: string;
  readonly body: Uint8Array;
}

/** `entries` is the concatenation of 32-byte chunk names (zeros for an all-zero chunk). */
export function encodeSegmentV1(entries: Uint8Array): Promise<EncodedSegment> {
  if (
    entries.length === 0 ||
    entries.length % DIGEST_BYTES !== 0 ||
    entries.length > SEGMENT_CHUNKS * DIGEST_BYTES
  ) {
    return Promise.reject(
      new ValidationError(`a segment table holds 1..${SEGMENT_CHUNKS} entries of ${DIGEST_BYTES} bytes`, {
        context: { bytes: entries.length },
      }),
    );
  }
  return Promise.resolve({ hash: sha256Hex(entries), body: packPayload(SEGMENT_MAGIC, entries) });
}

export function decodeSegmentV1(bytes: Uint8Array, expectedHash: string): Promise<Buffer> {
  return new Promise((resolve) => {
    resolve(decodeSegmentNow(bytes, expectedHash));
  });
}

function decodeSegmentNow(bytes: Uint8Array, expectedHash: string): Buffer {
  const header = readHeader(bytes, SEGMENT_MAGIC, 'segment', expectedHash);
  const entries = unpackPayload(header, 'segment', expectedHash, SEGMENT_CHUNKS * DIGEST_BYTES);
  const actual = sha256Hex(entries);
  if (actual !== expectedHash) {
    throw new IntegrityError(`segment ${expectedHash} holds a table named ${actual}`, {
      context: { name: expectedHash, actual },
    });
  }
  if (entries.length % DIGEST_BYTES !== 0) {
    throw new IntegrityError(`segment ${expectedHash} is not a whole number of entries`);
  }
  return entries;
}

// ---------------------------------------------------------------------------------------------
// Manifests (UTF-8 JSON)

export const MANIFEST_FORMAT_NAME = 'rbp-image-manifest';

const hexHash = z.string().regex(HEX_HASH_PATTERN);
const count = z.number().int().nonnegative();

export const manifestV1Schema = z.object({
  format: z.literal(MANIFEST_FORMAT_NAME),
  formatVersion: z.literal(FORMAT_V1),
  volumeId: z.string().min(1),
  imageId: z.string().min(1),
  createdAt: z.string().min(1),
  kind: z.enum(['full', 'incremental']),
  snapshotId: z.string().min(1),
  parentImageId: z.string().min(1).optional(),
  parentSnapshotId: z.string().min(1).optional(),
  fullReadReason: z.string().min(1).optional(),
  volumeSizeBytes: z.number().int().positive().multipleOf(EBS_BLOCK_SIZE_BYTES),
  blockSizeBytes: z.literal(EBS_BLOCK_SIZE_BYTES),
  chunkSizeBytes: z.literal(CHUNK_SIZE_BYTES),
  segmentChunks: z.literal(SEGMENT_CHUNKS),
  chunkHash: z.literal('sha256(sha256(half1)||sha256(half2))'),
  segments: z.array(hexHash),
  stats: z.object({
    blocksListed: count,
    blocksRead: count,
    blocksVanished: count,
    chunksCreated: count,
    chunksAlreadyStored: count,
    chunksReusedFromParent: count,
    bytesCreated: count,
    segmentsCreated: count,
    segmentsReused: count,
  }),
});

export type ManifestV1 = z.infer<typeof manifestV1Schema>;

export function encodeManifestV1(manifest: ImageManifest): Uint8Array {
  const document: ManifestV1 = {
    format: MANIFEST_FORMAT_NAME,
    formatVersion: FORMAT_V1,
    volumeId: manifest.volumeId,
    imageId: manifest.imageId,
    createdAt: manifest.createdAt,
    kind: manifest.kind,
    snapshotId: manifest.snapshotId,
    ...(manifest.parentImageId === undefined ? {} : { parentImageId: manifest.parentImageId }),
    ...(manifest.parentSnapshotId === undefined ? {} : { parentSnapshotId: manifest.parentSnapshotId }),
    ...(manifest.fullReadReason === undefined ? {} : { fullReadReason: manifest.fullReadReason }),
    volumeSizeBytes: manifest.volumeSizeBytes,
    blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    chunkSizeBytes: CHUNK_SIZE_BYTES,
    segmentChunks: SEGMENT_CHUNKS,
    chunkHash: 'sha256(sha256(half1)||sha256(half2))',
    segments: [...manifest.segments],
    stats: { ...manifest.stats },
  };
  manifestV1Schema.parse(document);
  return Buffer.from(`${JSON.stringify(document, null, 1)}\n`, 'utf8');
}

export function decodeManifestV1(document: unknown, key: string): ImageManifest {
  const parsed = manifestV1Schema.safeParse(document);
  if (!parsed.success) {
    throw new IntegrityError(`manifest ${key} is not a valid version 1 manifest: ${parsed.error.message}`, {
      context: { key },
    });
  }
  const m = parsed.data;
  const expectedSegments = Math.ceil(m.volumeSizeBytes / CHUNK_SIZE_BYTES / SEGMENT_CHUNKS);
  if (m.segments.length !== expectedSegments) {
    throw new IntegrityError(
      `manifest ${key} lists ${m.segments.length} segments for a volume that has ${expectedSegments}`,
      { context: { key } },
    );
  }
  return {
    formatVersion: m.formatVersion,
    volumeId: m.volumeId,
    imageId: m.imageId,
    createdAt: m.createdAt,
    kind: m.kind,
    snapshotId: m.snapshotId,
    ...(m.parentImageId === undefined ? {} : { parentImageId: m.parentImageId }),
    ...(m.parentSnapshotId === undefined ? {} : { parentSnapshotId: m.parentSnapshotId }),
    ...(m.fullReadReason === undefined ? {} : { fullReadReason: m.fullReadReason }),
    volumeSizeBytes: m.volumeSizeBytes,
    blockSizeBytes: m.blockSizeBytes,
    chunkSizeBytes: m.chunkSizeBytes,
    segmentChunks: m.segmentChunks,
    segments: m.segments,
    stats: m.stats,
  };
}
