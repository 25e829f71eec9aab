/**
 * An in-process fake of the EBS direct APIs and of EC2 snapshot state, implementing the engine's
 * ports directly (no HTTP), for fast property tests and benchmarks. Semantics follow the EBS direct
 * APIs (https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html) and
 * test/engine/snapshot-ports.contract.ts checks them against the real adapter on the emulator:
 * only written blocks are listed; pages honour MaxResults and StartingBlockIndex and may be empty
 * with a NextToken; ListChangedBlocks compares block versions within one lineage and reports blocks
 * that left the second snapshot without SecondBlockToken; other lineages give UNRELATED_SNAPSHOTS.
 * Block tokens are tied to the listing and checked. The HTTP-level emulator (local/ebs) is the
 * faithful one; this one trades the wire for speed.
 */
import { createHash } from 'node:crypto';
import { NotFoundError, ThrottledError, ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import type * as ebs from '../../lambdas/core/backup/snapshot-ports.ts';
import { SnapshotNotFoundError, SnapshotValidationError } from '../../lambdas/core/backup/snapshot-ports.ts';
import { seededRandom } from './faulty-object-store.ts';

export interface StoredBlock {
  readonly data: Buffer;
  /** Changes on every write of the block; equal versions = unchanged between snapshots. */
  readonly version: number;
  /** Data length EBS reports (524,288 except for test-made short blocks). */
  readonly dataLength: number;
}

interface Volume {
  sizeGib: number;
  lineage: string;
  blocks: Map<number, StoredBlock>;
}

interface Snapshot {
  readonly snapshotId: string;
  readonly volumeSizeGib: number;
  readonly lineage: string;
  blocks: Map<number, StoredBlock>;
  state: ebs.SnapshotState;
  readonly clientToken?: string;
  written: Map<number, Buffer>;
  /** PutSnapshotBlock calls still answered "does not exist" (eventual visibility after StartSnapshot). */
  invisiblePuts: number;
}

export interface MemoryEbsFaults {
  /** Largest page the service returns, whatever MaxResults asks. */
  pageLimit?: number;
  /** Every n-th list page is empty but carries a NextToken. */
  emptyPageEvery?: number;
  /** Probability that GetSnapshotBlock returns data with one byte flipped. */
  corruptRate?: number;
  /** Probability that a GetSnapshotBlock is throttled (RequestThrottledException). */
  throttleRate?: number;
  /** PutSnapshotBlock calls answered "snapshot does not exist" after each StartSnapshot. */
  invisiblePutsAfterStart?: number;
  /** Artificial latency of every call, in ms (0 = none). */
  latencyMs?: number;
}

/** The EBS direct API calls MemoryEbs counts. */
const COUNTED_CALLS = [
  'listSnapshotBlocks',
  'listChangedBlocks',
  'getSnapshotBlock',
  'putSnapshotBlock',
  'startSnapshot',
  'completeSnapshot',
] as const;

export type MemoryEbsCounters = Record<(typeof COUNTED_CALLS)[number], number>;

let lineageCounter = 0;

export class MemoryEbs implements ebs.SnapshotBlockReader, ebs.SnapshotBlockWriter, ebs.SnapshotStateReader {
  readonly volumes = new Map<string, Volume>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly counters = Object.fromEntries(COUNTED_CALLS.map((call) => [call, 0])) as MemoryEbsCounters;
  /** Block indexes GetSnapshotBlock was called for, per snapshot. */
  readonly reads: { snapshotId: string; blockIndex: number }[] = [];
  faults: MemoryEbsFaults = {};
  /** Keep the list of reads (tests); benchmarks turn it off. */
  recordReads = true;
  private readonly checksums = new WeakMap<StoredBlock, string>();
  private version = 0;
  private snapshotCounter = 0;
  private readonly random: () => number;

  constructor(seed = 7) {
    this.random = seededRandom(seed);
  }

  // ------------------------------------------------------------------------------------------
  // Test control: volumes and snapshots

  createVolume(volumeId: string, sizeGib: number): void {
    lineageCounter += 1;
    this.volumes.set(volumeId, { sizeGib, lineage: `lineage-${lineageCounter}`, blocks: new Map() });
  }

  private volume(volumeId: string): Volume {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) throw new Error(`no volume ${volumeId}`);
    return volume;
  }

  /** Writes bytes at a byte offset; every touched block gets a new version. */
  write(volumeId: string, offset: number, data: Uint8Array): void {
    const volume = this.volume(volumeId);
    if (offset + data.length > volume.sizeGib * GIB_BYTES) throw new Error('write past the volume end');
    let position = 0;
    while (position < data.length) {
      const absolute = offset + position;
      const blockIndex = Math.floor(absolute / EBS_BLOCK_SIZE_BYTES);
      const within = absolute % EBS_BLOCK_SIZE_BYTES;
      const length = Math.min(EBS_BLOCK_SIZE_BYTES - within, data.length - position);
      const previous = volume.blocks.get(blockIndex);
      const block = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      if (previous !== undefined) previous.data.copy(block);
      block.set(data.subarray(position, position + length), within);
      this.version += 1;
      volume.blocks.set(blockIndex, { data: block, version: this.version, dataLength: EBS_BLOCK_SIZE_BYTES });
      position += length;
    }
  }

  /** TRIM: the blocks are no longer allocated (they read as zeros and are not listed). */
  discard(volumeId: string, blockIndexes: Iterable<number>): void {
    const volume = this.volume(volumeId);
    for (const index of blockIndexes) volume.blocks.delete(index);
  }

  resize(volumeId: string, sizeGib: number): void {
    const volume = this.volume(volumeId);
    if (sizeGib < volume.sizeGib) throw new Error('EBS volumes only grow');
    volume.sizeGib = sizeGib;
  }

  /** The volume's bytes as a reader sees them. */
  volumeBytes(volumeId: string): Buffer {
    const volume = this.volume(volumeId);
    const out = Buffer.alloc(volume.sizeGib * GIB_BYTES);
    for (const [index, block] of volume.blocks) block.data.copy(out, index * EBS_BLOCK_SIZE_BYTES);
    return out;
  }

  /** EC2 CreateSnapshot of a volume, completed at once. */
  createSnapshot(volumeId: string, snapshotId?: string): string {
    const volume = this.volume(volumeId);
    this.snapshotCounter += 1;
    const id = snapshotId ?? `snap-${String(this.snapshotCounter).padStart(8, '0')}`;
    this.snapshots.set(id, {
      snapshotId: id,
      volumeSizeGib: volume.sizeGib,
      lineage: volume.lineage,
      blocks: new Map(volume.blocks),
      state: 'completed',
      written: new Map(),
      invisiblePuts: 0,
    });
    return id;
  }

  deleteSnapshot(snapshotId: string): void {
    this.snapshots.delete(snapshotId);
  }

  /** A snapshot's written blocks (each 512 KiB), for oracles that must not allocate whole volumes. */
  snapshotBlocks(snapshotId: string): Map<number, Buffer> {
    return new Map([...this.requireSnapshot(snapshotId).blocks].map(([index, block]) => [index, block.data]));
  }

  /** The bytes of a snapshot (for checking restored snapshots). */
  snapshotBytes(snapshotId: string): Buffer {
    const snapshot = this.requireSnapshot(snapshotId);
    const out = Buffer.alloc(snapshot.volumeSizeGib * GIB_BYTES);
    for (const [index, block] of snapshot.blocks) block.data.copy(out, index * EBS_BLOCK_SIZE_BYTES);
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Read API

  private async delay(): Promise<void> {
    const ms = this.faults.latencyMs ?? 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private requireSnapshot(snapshotId: string): Snapshot {
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) {
      throw new SnapshotNotFoundError(`The snapshot '${snapshotId}' does not exist.`, 'SNAPSHOT_NOT_FOUND', {
        context: { snapshotId },
      });
    }
    return snapshot;
  }

  private token(snapshotId: string, blockIndex: number, version: number): string {
    return Buffer.from(`${snapshotId}/${blockIndex}/${version}`).toString('base64');
  }

  private page<T extends { blockIndex: number }>(
    entries: readonly T[],
    request: { startingBlockIndex?: number; nextToken?: string; maxResults: number },
  ): { items: T[]; nextToken?: string } {
    let start: number;
    let pageNumber: number;
    if (request.nextToken !== undefined) {
      const [index, number] = Buffer.from(request.nextToken, 'base64')
        .toString('utf8')
        .split(':')
        .map(Number);
      if (!Number.isInteger(index) || !Number.isInteger(number)) {
        throw new SnapshotValidationError('The pagination token is invalid.', 'INVALID_PAGE_TOKEN');
      }
      start = index!;
      pageNumber = number!;
    } else {
      start = request.startingBlockIndex ?? 0;
      pageNumber = 1;
    }
    const tokenFor = (index: number): string => Buffer.from(`${index}:${pageNumber + 1}`).toString('base64');
    const remaining = entries.filter((e) => e.blockIndex >= start);
    if (this.faults.emptyPageEvery !== undefined && pageNumber % this.faults.emptyPageEvery === 0) {
      return { items: [], nextToken: tokenFor(start) };
    }
    const size = Math.min(Math.max(100, request.maxResults), this.faults.pageLimit ?? 10_000);
    const items = remaining.slice(0, size);
    if (remaining.length <= size) return { items };
    return { items, nextToken: tokenFor(remaining[size]!.blockIndex) };
  }

  async listSnapshotBlocks(request: ebs.ListSnapshotBlocksRequest): Promise<ebs.BlockPage<ebs.ListedBlock>> {
    this.counters.listSnapshotBlocks += 1;
    await this.delay();
    const snapshot = this.requireSnapshot(request.snapshotId);
    const entries = [...snapshot.blocks.entries()]
      .sort(([a], [b]) => a - b)
      .map(([blockIndex, block]) => ({
        blockIndex,
        blockToken: this.token(snapshot.snapshotId, blockIndex, block.version),
      }));
    const { items, nextToken } = this.page(entries, request);
    return {
      blocks: items,
      ...(nextToken === undefined ? {} : { nextToken }),
      volumeSizeGib: snapshot.volumeSizeGib,
      blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    };
  }

  async listChangedBlocks(request: ebs.ListChangedBlocksRequest): Promise<ebs.BlockPage<ebs.ChangedBlock>> {
    this.counters.listChangedBlocks += 1;
    await this.delay();
    const second = this.requireSnapshot(request.secondSnapshotId);
    const first = this.requireSnapshot(request.firstSnapshotId);
    if (first.lineage !== second.lineage) {
      throw new SnapshotValidationError(
        `The snapshots ${first.snapshotId} and ${second.snapshotId} are not related.`,
        'UNRELATED_SNAPSHOTS',
      );
    }
    const indexes = new Set([...first.blocks.keys(), ...second.blocks.keys()]);
    const entries: ebs.ChangedBlock[] = [];
    for (const blockIndex of [...indexes].sort((a, b) => a - b)) {
      const a = first.blocks.get(blockIndex);
      const b = second.blocks.get(blockIndex);
      if (a !== undefined && b !== undefined && a.version === b.version) continue;
      entries.push({
        blockIndex,
        ...(a === undefined ? {} : { firstBlockToken: this.token(first.snapshotId, blockIndex, a.version) }),
        ...(b === undefined
          ? {}
          : { secondBlockToken: this.token(second.snapshotId, blockIndex, b.version) }),
      });
    }
    const { items, nextToken } = this.page(entries, request);
    return {
      blocks: items,
      ...(nextToken === undefined ? {} : { nextToken }),
      volumeSizeGib: second.volumeSizeGib,
      blockSizeBytes: EBS_BLOCK_SIZE_BYTES,
    };
  }

  async getSnapshotBlock(request: ebs.GetSnapshotBlockRequest): Promise<ebs.SnapshotBlockData> {
    this.counters.getSnapshotBlock += 1;
    await this.delay();
    if (this.random() < (this.faults.throttleRate ?? 0)) {
      throw new ThrottledError('RequestThrottledException: RESOURCE_LEVEL_THROTTLE (injected)');
    }
    const snapshot = this.requireSnapshot(request.snapshotId);
    const block = snapshot.blocks.get(request.blockIndex);
    if (
      block === undefined ||
      this.token(snapshot.snapshotId, request.blockIndex, block.version) !== request.blockToken
    ) {
      throw new SnapshotValidationError(
        `The block token for block ${request.blockIndex} is invalid.`,
        'INVALID_BLOCK_TOKEN',
      );
    }
    if (this.recordReads) this.reads.push({ snapshotId: request.snapshotId, blockIndex: request.blockIndex });
    const body = block.data.subarray(0, block.dataLength);
    const checksum = this.checksumOf(block);
    let data: Buffer = body;
    if (this.random() < (this.faults.corruptRate ?? 0)) {
      data = Buffer.from(body);
      const at = Math.floor(this.random() * data.length);
      data[at] = data[at]! ^ 0xff;
    }
    return { data, dataLength: block.dataLength, checksum, checksumAlgorithm: 'SHA256' };
  }

  /** EBS's checksum of a block, computed once (a benchmark must not bill EBS's hashing to the engine). */
  checksumOf(block: StoredBlock): string {
    let checksum = this.checksums.get(block);
    if (checksum === undefined) {
      checksum = createHash('sha256').update(block.data.subarray(0, block.dataLength)).digest('base64');
      this.checksums.set(block, checksum);
    }
    return checksum;
  }

  /** Computes every block checksum of a snapshot ahead of a measurement. */
  precomputeChecksums(snapshotId: string): void {
    for (const block of this.requireSnapshot(snapshotId).blocks.values()) this.checksumOf(block);
  }

  /** Test hook: make a block's reported data length shorter (the tail reads as zeros). */
  shortenBlock(snapshotId: string, blockIndex: number, dataLength: number): void {
    const snapshot = this.requireSnapshot(snapshotId);
    const block = snapshot.blocks.get(blockIndex)!;
    const data = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
    block.data.copy(data, 0, 0, dataLength);
    snapshot.blocks.set(blockIndex, { data, version: block.version, dataLength });
  }

  // ------------------------------------------------------------------------------------------
  // Write API

  async startSnapshot(
    request: ebs.StartSnapshotRequest,
  ): Promise<{ snapshotId: string; blockSizeBytes: number }> {
    this.counters.startSnapshot += 1;
    await this.delay();
    if (request.timeoutMinutes < 10 || request.timeoutMinutes > 4320) {
      throw new ValidationError(`Timeout ${request.timeoutMinutes} is outside 10..4320`);
    }
    for (const snapshot of this.snapshots.values()) {
      if (snapshot.clientToken === request.clientToken) {
        if (snapshot.volumeSizeGib !== request.volumeSizeGib)
          throw new ValidationError('ConflictException: token reused');
        return { snapshotId: snapshot.snapshotId, blockSizeBytes: EBS_BLOCK_SIZE_BYTES };
      }
    }
    this.snapshotCounter += 1;
    lineageCounter += 1;
    const snapshotId = `snap-r${String(this.snapshotCounter).padStart(7, '0')}`;
    this.snapshots.set(snapshotId, {
      snapshotId,
      volumeSizeGib: request.volumeSizeGib,
      lineage: `lineage-${lineageCounter}`,
      blocks: new Map(),
      state: 'pending',
      clientToken: request.clientToken,
      written: new Map(),
      invisiblePuts: this.faults.invisiblePutsAfterStart ?? 0,
    });
    return { snapshotId, blockSizeBytes: EBS_BLOCK_SIZE_BYTES };
  }

  async putSnapshotBlock(request: ebs.PutSnapshotBlockRequest): Promise<void> {
    this.counters.putSnapshotBlock += 1;
    await this.delay();
    const snapshot = this.requireSnapshot(request.snapshotId);
    if (snapshot.invisiblePuts > 0) {
      snapshot.invisiblePuts -= 1;
      throw new SnapshotNotFoundError(
        `The snapshot '${request.snapshotId}' does not exist.`,
        'SNAPSHOT_NOT_FOUND',
      );
    }
    if (snapshot.state !== 'pending')
      throw new ValidationError(`snapshot ${request.snapshotId} is not pending`);
    if (request.data.length !== EBS_BLOCK_SIZE_BYTES) throw new ValidationError('DataLength must be 524288');
    if (request.blockIndex >= (snapshot.volumeSizeGib * GIB_BYTES) / EBS_BLOCK_SIZE_BYTES) {
      throw new ValidationError(`block ${request.blockIndex} is past the volume end`);
    }
    const digest = createHash('sha256').update(request.data).digest();
    if (digest.toString('base64') !== request.checksumBase64) throw new ValidationError('checksum mismatch');
    this.version += 1;
    snapshot.blocks.set(request.blockIndex, {
      data: Buffer.from(request.data),
      version: this.version,
      dataLength: EBS_BLOCK_SIZE_BYTES,
    });
    snapshot.written.set(request.blockIndex, digest);
  }

  async completeSnapshot(request: ebs.CompleteSnapshotRequest): Promise<{ status: string }> {
    this.counters.completeSnapshot += 1;
    await this.delay();
    const snapshot = this.requireSnapshot(request.snapshotId);
    if (snapshot.state === 'completed') return { status: 'completed' };
    const ordered = [...snapshot.written.entries()].sort(([a], [b]) => a - b);
    const linear = createHash('sha256');
    for (const [, digest] of ordered) linear.update(digest);
    if (request.changedBlocksCount !== ordered.length || linear.digest('base64') !== request.checksumBase64) {
      snapshot.state = 'error';
      return { status: 'error' };
    }
    snapshot.state = 'completed';
    return { status: 'pending' };
  }

  async describeSnapshot(snapshotId: string): Promise<{ state: ebs.SnapshotState; progress?: string }> {
    await this.delay();
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) throw new NotFoundError(`snapshot ${snapshotId} does not exist`);
    return { state: snapshot.state, progress: snapshot.state === 'completed' ? '100%' : '0%' };
  }
}
