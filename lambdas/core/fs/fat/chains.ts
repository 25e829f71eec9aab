/**
 * The File Allocation Table: cluster chains as runs of consecutive clusters. Entries are 12, 16 or
 * 28 bits (FAT32 keeps the top 4 bits reserved) or 32 bits (exFAT). A chain that loops, leaves the
 * volume's clusters, hits a bad-cluster mark or a free entry, or runs longer than its limit is a
 * FilesystemCorruptError for the file that owns it.
 */
import type { PageCachedReader } from '../cached-reader.ts';
import { FilesystemCorruptError, FilesystemLimitError } from '../errors.ts';
import type { FatGeometry } from './boot.ts';
import { FAT_WINDOW_BYTES, MAX_TRACKED_CHAIN_CLUSTERS } from './limits.ts';

/** A run of `count` consecutive clusters starting at `first`. */
export interface ClusterRun {
  readonly first: number;
  readonly count: number;
}

/** The first data cluster number in every FAT variant. */
export const FIRST_CLUSTER = 2;

export class FatTable {
  private windowStart = -1;
  private window: Uint8Array = new Uint8Array(0);
  private readonly maxCluster: number;
  /** Values at or above this end a chain (or are bad-cluster marks: `badMark`). */
  private readonly endOfChain: number;
  private readonly badMark: number;

  constructor(
    private readonly cache: PageCachedReader,
    private readonly geometry: FatGeometry,
    exfat: boolean,
  ) {
    this.maxCluster = geometry.clusterCount + 1;
    const bits = geometry.fatBits;
    if (exfat) {
      this.endOfChain = 0xfffffff8;
      this.badMark = 0xfffffff7;
    } else if (bits === 12) {
      this.endOfChain = 0xff8;
      this.badMark = 0xff7;
    } else if (bits === 16) {
      this.endOfChain = 0xfff8;
      this.badMark = 0xfff7;
    } else {
      this.endOfChain = 0x0ffffff8;
      this.badMark = 0x0ffffff7;
    }
  }

  isValidCluster(cluster: number): boolean {
    return cluster >= FIRST_CLUSTER && cluster <= this.maxCluster;
  }

  /** Byte offset of a cluster in the volume. */
  clusterOffset(cluster: number): number {
    return this.geometry.dataStart + (cluster - FIRST_CLUSTER) * this.geometry.clusterBytes;
  }

  private async bytesAt(offset: number, width: number): Promise<Uint8Array> {
    if (offset < this.windowStart || offset + width > this.windowStart + this.window.length) {
      const fat = this.geometry;
      const start = Math.floor(offset / FAT_WINDOW_BYTES) * FAT_WINDOW_BYTES;
      // +1: a FAT12 entry can straddle the window's last byte.
      const length = Math.min(FAT_WINDOW_BYTES + 1, fat.fatBytes - start);
      this.window = await this.cache.read(fat.fatOffset + start, length);
      this.windowStart = start;
    }
    return this.window.subarray(offset - this.windowStart, offset - this.windowStart + width);
  }

  /** The raw FAT entry of `cluster` (FAT32: the low 28 bits). */
  async entry(cluster: number): Promise<number> {
    const bits = this.geometry.fatBits;
    if (bits === 12) {
      const at = cluster + (cluster >>> 1);
      const b = await this.bytesAt(at, 2);
      const pair = b[0]! | (b[1]! << 8);
      return cluster & 1 ? pair >>> 4 : pair & 0xfff;
    }
    if (bits === 16) {
      const b = await this.bytesAt(cluster * 2, 2);
      return b[0]! | (b[1]! << 8);
    }
    const b = await this.bytesAt(cluster * 4, 4);
    const value = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
    return this.endOfChain === 0xfffffff8 ? value : value & 0x0fffffff;
  }

  /**
   * The runs of the chain starting at `first`, at most `maxClusters` clusters. With `exact`, the
   * chain must have exactly maxClusters clusters (a file's size decides its length); otherwise
   * it ends at the end-of-chain mark and more than maxClusters is a limit error (directories).
   */
  async *runs(first: number, maxClusters: number, exact: boolean, owner: string): AsyncGenerator<ClusterRun> {
    if (maxClusters === 0) return;
    const context = { owner, first };
    if (!this.isValidCluster(first)) {
      throw new FilesystemCorruptError(`${owner}: first cluster ${first} is outside the volume`, context);
    }
    const seen = new ChainTracker(this.geometry.clusterCount);
    let runFirst = first;
    let runCount = 1;
    let cluster = first;
    let total = 1;
    seen.add(cluster, owner);
    for (;;) {
      if (exact && total === maxClusters) break;
      const next = await this.entry(cluster);
      if (next >= this.endOfChain) {
        if (exact) {
          throw new FilesystemCorruptError(
            `${owner}: cluster chain ends after ${total} clusters; its size needs ${maxClusters}`,
            { ...context, clusters: total },
          );
        }
        break;
      }
      if (next === this.badMark || !this.isValidCluster(next)) {
        throw new FilesystemCorruptError(
          `${owner}: cluster ${cluster} links to ${next === 0 ? 'a free cluster' : `invalid cluster 0x${next.toString(16)}`}`,
          { ...context, cluster, next },
        );
      }
      total += 1;
      if (total > maxClusters) {
        throw new FilesystemLimitError(
          `${owner}: cluster chain is longer than ${maxClusters} clusters`,
          context,
        );
      }
      seen.add(next, owner);
      if (next === cluster + 1) {
        runCount += 1;
      } else {
        yield { first: runFirst, count: runCount };
        runFirst = next;
        runCount = 1;
      }
      cluster = next;
    }
    yield { first: runFirst, count: runCount };
  }
}

/** Clusters of one chain: a Set while small, then a bitmap of the whole volume. */
class ChainTracker {
  private set: Set<number> | undefined = new Set();
  private bitmap: Uint8Array | undefined;

  constructor(private readonly clusterCount: number) {}

  add(cluster: number, owner: string): void {
    if (this.set !== undefined) {
      if (this.set.has(cluster)) throw loop(owner, cluster);
      this.set.add(cluster);
      if (this.set.size > MAX_TRACKED_CHAIN_CLUSTERS) {
        this.bitmap = new Uint8Array(Math.ceil((this.clusterCount + 2) / 8));
        for (const c of this.set) this.bitmap[c >>> 3]! |= 1 << (c & 7);
        this.set = undefined;
      }
      return;
    }
    const bitmap = this.bitmap!;
    if (bitmap[cluster >>> 3]! & (1 << (cluster & 7))) throw loop(owner, cluster);
    bitmap[cluster >>> 3]! |= 1 << (cluster & 7);
  }
}

function loop(owner: string, cluster: number): FilesystemCorruptError {
  return new FilesystemCorruptError(`${owner}: cluster chain loops back to cluster ${cluster}`, {
    owner,
    cluster,
  });
}
