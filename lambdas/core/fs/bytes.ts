/** Little helpers for parsing on-disk structures: bounds-checked little-endian reads, CRC32, GUIDs. */
import { FilesystemCorruptError } from './errors.ts';

/**
 * A view over bytes read from the image with bounds-checked accessors in one byte order: every
 * field read outside the record is reported as corruption, never read past it.
 */
export class EndianBytes {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    private readonly littleEndian: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

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

  u16(offset: number): number {
    this.check(offset, 2);
    return this.view.getUint16(offset, this.littleEndian);
  }

  u32(offset: number): number {
    this.check(offset, 4);
    return this.view.getUint32(offset, this.littleEndian);
  }

  i32(offset: number): number {
    this.check(offset, 4);
    return this.view.getInt32(offset, this.littleEndian);
  }

  /** A 64-bit value as a number; values above 2^53 are reported as corruption. */
  u64(offset: number): number {
    this.check(offset, 8);
    const first = this.view.getUint32(offset, this.littleEndian);
    const second = this.view.getUint32(offset + 4, this.littleEndian);
    return this.littleEndian ? combineHiLo(second, first) : combineHiLo(first, second);
  }

  /** A 64-bit value exactly (timestamps, "null" inode numbers). */
  u64big(offset: number): bigint {
    this.check(offset, 8);
    return this.view.getBigUint64(offset, this.littleEndian);
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
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
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
const LOSSY_UTF8 = new TextDecoder('utf-8', { fatal: false });

/** Decodes UTF-8; invalid sequences become U+FFFD and `valid` is false (keep the raw bytes then). */
export function decodeUtf8(bytes: Uint8Array): { text: string; valid: boolean } {
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

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32C (Castagnoli) state update WITHOUT the usual pre/post inversion, as ext4's metadata
 * checksums use it (the kernel's crc32c_le and libext2fs's ext2fs_crc32c_le).
 */
export function crc32cRaw(seed: number, bytes: Uint8Array): number {
  let crc = seed >>> 0;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** The 4 little-endian bytes of a 32-bit number (checksum seeds of inode and group numbers). */
export function le32(value: number): Uint8Array {
  return new Uint8Array([value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff]);
}
