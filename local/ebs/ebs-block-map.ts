/**
 * The blocks of one snapshot: block indexes in ascending order, each with the SHA-256 digest of its
 * 512 KiB content (the key of the content-addressed block store). Immutable once built.
 *
 * On disk a map is a sequence of 37-byte records: block index (u32 LE) | origin (u8) | digest (32).
 * The same record format serves as the append-only write log of a snapshot being written through
 * PutSnapshotBlock (a later record for an index replaces an earlier one).
 */

export const DIGEST_BYTES = 32;
const RECORD_BYTES = 4 + 1 + DIGEST_BYTES;

/** Where a block of a snapshot came from. */
export const BlockOrigin = {
  /** Read from the volume image at freeze time, or inherited from a parent snapshot. */
  Base: 0,
  /** Written by PutSnapshotBlock into this snapshot (counts for ChangedBlocksCount and LINEAR). */
  Put: 1,
} as const;
export type BlockOrigin = (typeof BlockOrigin)[keyof typeof BlockOrigin];

export interface BlockRecord {
  readonly blockIndex: number;
  readonly origin: BlockOrigin;
  readonly digest: Buffer;
}

export function encodeRecords(records: Iterable<BlockRecord>): Buffer {
  const list = [...records];
  const out = Buffer.alloc(list.length * RECORD_BYTES);
  list.forEach((record, position) => {
    const at = position * RECORD_BYTES;
    out.writeUInt32LE(record.blockIndex, at);
    out.writeUInt8(record.origin, at + 4);
    record.digest.copy(out, at + 5, 0, DIGEST_BYTES);
  });
  return out;
}

/** Records in file order; a torn last record (crash mid-append) is dropped. */
export function decodeRecords(bytes: Buffer): BlockRecord[] {
  const records: BlockRecord[] = [];
  for (let at = 0; at + RECORD_BYTES <= bytes.length; at += RECORD_BYTES) {
    records.push({
      blockIndex: bytes.readUInt32LE(at),
      origin: bytes.readUInt8(at + 4) as BlockOrigin,
      digest: Buffer.from(bytes.subarray(at + 5, at + RECORD_BYTES)),
    });
  }
  return records;
}

export class BlockMap {
  private constructor(
    private readonly indexes: Uint32Array,
    private readonly digests: Buffer,
  ) {}

  static readonly EMPTY = new BlockMap(new Uint32Array(0), Buffer.alloc(0));

  /** Builds a map from (index, digest) pairs in any order; a later pair for an index wins. */
  static fromEntries(entries: Iterable<readonly [number, Buffer]>): BlockMap {
    const byIndex = new Map<number, Buffer>();
    for (const [blockIndex, digest] of entries) byIndex.set(blockIndex, digest);
    const indexes = Uint32Array.from(byIndex.keys()).sort();
    const digests = Buffer.alloc(indexes.length * DIGEST_BYTES);
    indexes.forEach((blockIndex, position) => {
      (byIndex.get(blockIndex) as Buffer).copy(digests, position * DIGEST_BYTES);
    });
    return new BlockMap(indexes, digests);
  }

  get size(): number {
    return this.indexes.length;
  }

  indexAt(position: number): number {
    return this.indexes[position] as number;
  }

  digestAt(position: number): Buffer {
    return this.digests.subarray(position * DIGEST_BYTES, (position + 1) * DIGEST_BYTES);
  }

  /** Position of the first block whose index is >= `blockIndex` (== size when there is none). */
  lowerBound(blockIndex: number): number {
    let low = 0;
    let high = this.indexes.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.indexes[middle] as number) < blockIndex) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  digestOf(blockIndex: number): Buffer | undefined {
    const position = this.lowerBound(blockIndex);
    return position < this.size && this.indexAt(position) === blockIndex
      ? this.digestAt(position)
      : undefined;
  }

  *entries(): IterableIterator<readonly [number, Buffer]> {
    for (let position = 0; position < this.size; position += 1) {
      yield [this.indexAt(position), this.digestAt(position)];
    }
  }

  toRecords(origin: BlockOrigin): BlockRecord[] {
    return [...this.entries()].map(([blockIndex, digest]) => ({ blockIndex, origin, digest }));
  }
}
