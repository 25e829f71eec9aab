/** Little helpers for parsing on-disk structures: bounds-checked little-endian reads, CRC32, GUIDs. */
import { FilesystemCorruptError } from './errors.ts';

/**
 * A view over bytes read from the image with bounds-checked accessors in one byte order: every
 * field read outside the record is reported as corruption, never read past it.
 */
export class EndianBytes {
  constructor(
    readonly bytes: Uint8Array,
    private readonly littleEndian: boolean,
  ) {}

  get length(): number {
    return this.bytes.length;
  }

  private check(offset: number, width: number): void {
    if (offset < 0 || offset + width > this.bytes.length) {
      throw new FilesystemCorruptError(
        `structure field at offset ${offset} (+${width}) lies outside its ${this.bytes.length}-byte record`,
      );
    }
  }

  u8(offset: number): number {
    this.check(offset, 1);
    return this.bytes[offset]!;
  }

  // The wider fields are assembled from the bytes rather than read through a DataView: a view is
  // an object per record, and records (inodes, directory blocks) are parsed once per walk entry.
  // `offset | 0` truncates as DataView's index conversion does (the check above bounds it).

  u16(offset: number): number {
    this.check(offset, 2);
    const b = this.bytes;
    const o = offset | 0;
    return this.littleEndian ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
  }

  u32(offset: number): number {
    this.check(offset, 4);
    return this.word(offset | 0) >>> 0;
  }

  i32(offset: number): number {
    this.check(offset, 4);
    return this.word(offset | 0);
  }

  /** The 32-bit word at a checked, integral offset, as a signed number. */
  private word(o: number): number {
    const b = this.bytes;
    return this.littleEndian
      ? b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)
      : (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  }

  /** A 64-bit value as a number; values above 2^53 are reported as corruption. */
  u64(offset: number): number {
    this.check(offset, 8);
    const first = this.word(offset | 0) >>> 0;
    const second = this.word((offset | 0) + 4) >>> 0;
    return this.littleEndian ? combineHiLo(second, first) : combineHiLo(first, second);
  }

  /** A 64-bit value exactly (timestamps, "null" inode numbers). */
  u64big(offset: number): bigint {
    this.check(offset, 8);
    const first = BigInt(this.word(offset | 0) >>> 0);
    const second = BigInt(this.word((offset | 0) + 4) >>> 0);
    return this.littleEndian ? (second << 32n) | first : (first << 32n) | second;
  }

  slice(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** Little-endian fields (ext4, FAT, exFAT, NTFS, GPT, LVM). */
export class LeBytes extends EndianBytes {
  constructor(bytes: Uint8Array) {
    super(bytes, true);
  }
}

/** hi * 2^32 + lo, refusing values that a JavaScript number cannot hold exactly. */
export function combineHiLo(hi: number, lo: number): number {
  if (hi >= 0x200000) {
    throw new FilesystemCorruptError(`64-bit value with high word 0x${hi.toString(16)} exceeds 2^53`);
  }
  return hi * 0x1_0000_0000 + lo;
}

const CRC32_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as used by GPT). Written here because lambdas/core takes no node: imports. */
export function crc32(bytes: Uint8Array): number {
  return (crc32Raw(0xffffffff, bytes) ^ 0xffffffff) >>> 0;
}

/** The CRC-32 register after `bytes`, from `seed`, without the final inversion (LVM2's calc_crc). */
export function crc32Raw(seed: number, bytes: Uint8Array): number {
  let crc = seed >>> 0;
  for (const byte of bytes) crc = CRC32_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** A GUID stored in the mixed-endian EFI layout, as the usual lower-case string. */
export function formatEfiGuid(raw: Uint8Array): string {
  const le = (from: number, to: number): string => hex(raw.slice(from, to).reverse());
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(raw.subarray(8, 10))}-${hex(raw.subarray(10, 16))}`;
}

/** A UUID stored big-endian (ext4's s_uuid), as the usual lower-case string. */
export function formatUuid(raw: Uint8Array): string {
  const h = hex(raw);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Names up to this long are tried as ASCII first (ext4 and XFS names are at most 255 bytes). */
const ASCII_FAST_PATH_MAX_BYTES = 255;
const LOSSY_UTF8 = new TextDecoder('utf-8', { fatal: false });

/**
 * The text of bytes that are all ASCII (below 0x80), else undefined. Most names are short ASCII:
 * building the string here skips a TextDecoder call, and returning no object skips an allocation.
 */
export function asciiText(bytes: Uint8Array): string | undefined {
  if (bytes.length > ASCII_FAST_PATH_MAX_BYTES) return undefined;
  let text = '';
  for (let i = 0; i < bytes.length; i += 1) {
    const b = bytes[i]!;
    if (b >= 0x80) return undefined;
    text += String.fromCharCode(b);
  }
  return text;
}

/** Decodes UTF-8; invalid sequences become U+FFFD and `valid` is false (keep the raw bytes then). */
export function decodeUtf8(bytes: Uint8Array): { text: string; valid: boolean } {
  const ascii = asciiText(bytes);
  if (ascii !== undefined) return { text: ascii, valid: true };
  try {
    return { text: STRICT_UTF8.decode(bytes), valid: true };
  } catch {
    return { text: LOSSY_UTF8.decode(bytes), valid: false };
  }
}

/** Bytes up to the first NUL, decoded lossily (labels, volume names). */
export function decodeNulTerminated(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return LOSSY_UTF8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/**
 * CRC-32C tables for slicing-by-8 (Intel's "Slicing-by-8" method: table k advances a byte k
 * positions further), so that 8 bytes cost 8 lookups and no dependency chain per byte: the ext4
 * and XFS walks checksum every directory block and inode they read.
 */
const CRC32C_TABLES = (() => {
  const tables = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    tables[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n += 1) {
    let c = tables[n]!;
    for (let t = 1; t < 8; t += 1) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[t * 256 + n] = c >>> 0;
    }
  }
  return tables;
})();

/**
 * CRC-32C (Castagnoli) state update WITHOUT the usual pre/post inversion, as ext4's metadata
 * checksums use it (the kernel's crc32c_le and libext2fs's ext2fs_crc32c_le).
 */
export function crc32cRaw(seed: number, bytes: Uint8Array): number {
  return crc32cRawRange(seed, bytes, 0, bytes.length);
}

/** The same tables as signed 32-bit words: XORs stay in small integers, no conversions per lookup. */
const CRC32C_TABLES_I32 = new Int32Array(CRC32C_TABLES.buffer);
/** Whether this machine stores words little-endian (every Node platform does); else bytes only. */
const WORDS_ARE_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/**
 * Ranges at least this long are read as 32-bit words through a view (directory blocks, inode
 * records): one load per four bytes instead of four; shorter ones are not worth the setup.
 */
const CRC32C_WORD_PATH_MIN_BYTES = 64;

/**
 * The last buffer checksummed word-wise, as words: records are carved from a few large buffers
 * (cache pages, copy slabs), so one view per buffer serves thousands of records instead of a new
 * view per record. Holds at most one buffer alive.
 */
let wordsBuffer: ArrayBufferLike | undefined;
let wordsOfBuffer: Int32Array = new Int32Array(0);

function wordsOf(buffer: ArrayBufferLike): Int32Array {
  if (buffer !== wordsBuffer) {
    wordsOfBuffer = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    wordsBuffer = buffer;
  }
  return wordsOfBuffer;
}

/** crc32cRaw over bytes[from, to), without a subarray. */
export function crc32cRawRange(seed: number, bytes: Uint8Array, from: number, to: number): number {
  const i = Math.max(0, from);
  const length = Math.min(to, bytes.length);
  if (
    WORDS_ARE_LITTLE_ENDIAN &&
    length - i >= CRC32C_WORD_PATH_MIN_BYTES &&
    ((bytes.byteOffset + i) & 3) === 0
  ) {
    const pairs = (length - i) >>> 3;
    const first = (bytes.byteOffset + i) >>> 2;
    const crc = crc32cWords(seed | 0, wordsOf(bytes.buffer), first, first + pairs * 2);
    return crc32cBytes(crc, bytes, i + pairs * 8, length);
  }
  return crc32cBytes(seed, bytes, i, length);
}

/** Slicing-by-8 over little-endian word pairs words[from, to) (crc32cBytes's steps, four bytes per load). */
function crc32cWords(seed: number, words: Int32Array, from: number, to: number): number {
  const t = CRC32C_TABLES_I32;
  let crc = seed;
  for (let k = from; k < to; k += 2) {
    const lo = crc ^ words[k]!;
    const hi = words[k + 1]!;
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^
      t[512 + ((hi >>> 8) & 0xff)]! ^
      t[256 + ((hi >>> 16) & 0xff)]! ^
      t[hi >>> 24]!;
  }
  return crc >>> 0;
}

function crc32cBytes(seed: number, bytes: Uint8Array, from: number, length: number): number {
  const t = CRC32C_TABLES;
  let crc = seed >>> 0;
  let i = from;
  for (const end = length - ((length - i) % 8); i < end; i += 8) {
    const lo =
      (crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    crc =
      t[7 * 256 + (lo & 0xff)]! ^
      t[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      t[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      t[4 * 256 + (lo >>> 24)]! ^
      t[3 * 256 + bytes[i + 4]!]! ^
      t[2 * 256 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < length; i += 1) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** crc32cRaw over the 4 little-endian bytes of a 32-bit number (inode and group numbers), without allocating them. */
export function crc32cRawU32(seed: number, value: number): number {
  const t = CRC32C_TABLES;
  let crc = seed >>> 0;
  for (let k = 0; k < 4; k += 1) crc = t[(crc ^ (value >>> (8 * k))) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** The 4 little-endian bytes of a 32-bit number (checksum seeds of inode and group numbers). */
export function le32(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff]);
}
