/**
 * The emulator's snapshot model: every snapshot (frozen from a replica image or written through
 * StartSnapshot/PutSnapshotBlock/CompleteSnapshot) and every replica volume's allocation, their
 * statuses on the clock, and their persistence under `stateDir` (ebs-state-store.ts). It knows
 * nothing of HTTP: ebs-emulator.ts is the facade that serves the EBS direct APIs from it.
 *
 * Block contents are shared by every snapshot that holds them; deleting a snapshot removes the
 * contents no other snapshot holds (a garbage collection that never overlaps a block writer).
 */
import { MAX_VOLUME_SIZE_GIB } from '../../lambdas/core/geometry.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { snapshotNotFound, VALIDATION_REASON, validationError } from './ebs-api-error.ts';
import { BlockMap, BlockOrigin, type BlockRecord } from './ebs-block-map.ts';
import { readImageBlocks } from './ebs-image-freeze.ts';
import { requireSnapshotIdFormat, SNAPSHOT_ID_PATTERN } from './ebs-request.ts';
import { KeyedSerialQueue } from './ebs-serial-queue.ts';
import { DEFAULT_START_SNAPSHOT_TIMEOUT_MINUTES } from './ebs-start-snapshot-request.ts';
import type { EbsStateStore, SnapshotMeta, StoredTag, VolumeState } from './ebs-state-store.ts';

/** A frozen image stays `pending` this long unless the caller says otherwise: clients must poll. */
export const DEFAULT_FREEZE_COMPLETE_AFTER_MS = 1_000;
/**
 * A write saves the snapshot's last-write time (what StartSnapshot's Timeout counts from) at most
 * this often: the Timeout is in minutes, and rewriting the metadata on every put halves put throughput.
 */
export const LAST_WRITE_PERSIST_INTERVAL_MS = 1_000;
/** Ids the emulator turns into file names (freezeVolumeImage accepts any EC2-style id). */
const SAFE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MS_PER_MINUTE = 60_000;

export type EbsSnapshotStatus = 'pending' | 'completed' | 'error';

export interface EbsSnapshotSummary {
  readonly snapshotId: string;
  /** The volume a snapshot was frozen from (EC2 CreateSnapshot); absent for StartSnapshot snapshots. */
  readonly volumeId?: string;
  readonly volumeSizeGib: number;
  readonly status: EbsSnapshotStatus;
  readonly startTime: Date;
  readonly parentSnapshotId?: string;
  readonly description?: string;
  readonly tags?: readonly StoredTag[];
  /** Number of blocks the snapshot holds (0 while a StartSnapshot snapshot is being written). */
  readonly blockCount: number;
  /** StartSnapshot snapshots: encrypted (Encrypted=true, a KmsKeyArn, or an encrypted parent). */
  readonly encrypted?: boolean;
  /** The KMS key StartSnapshot named (or the parent's); absent for the account's default key. */
  readonly kmsKeyArn?: string;
}

export interface FreezeVolumeImageArgs {
  readonly snapshotId: string;
  readonly volumeId: string;
  readonly imagePath: string;
  readonly volumeSizeGib: number;
  /** Time the snapshot stays `pending` (default 1 s). */
  readonly completeAfterMs?: number;
}

/** A snapshot made by StartSnapshot that is still being written. */
export interface WriteInProgress {
  /** Blocks inherited from the parent snapshot. */
  readonly base: Map<number, Buffer>;
  /** Blocks written by PutSnapshotBlock. */
  readonly puts: Map<number, Buffer>;
}

export interface SnapshotEntry {
  readonly meta: SnapshotMeta;
  /** The last-write time last saved with the metadata (saved at most once per interval, not per put). */
  persistedLastWriteMs?: number;
  /** The snapshot's blocks; empty while `writing` is set. */
  blocks: BlockMap;
  writing?: WriteInProgress;
}

export type WritableSnapshot = SnapshotEntry & { writing: WriteInProgress };

interface VolumeEntry {
  readonly state: VolumeState;
}

function requireSafeId(id: string, what: string): void {
  if (!SAFE_ID_PATTERN.test(id)) throw new RangeError(`${what} '${id}' is not a valid id`);
}

function requireBlockIndexes(blockIndexes: Iterable<number>): number[] {
  const list = [...blockIndexes];
  for (const blockIndex of list) {
    if (!Number.isInteger(blockIndex) || blockIndex < 0 || blockIndex > 0xffff_ffff) {
      throw new RangeError(`block index ${blockIndex} is not a non-negative 32-bit integer`);
    }
  }
  return list;
}

export class SnapshotModel {
  private readonly snapshots = new Map<string, SnapshotEntry>();
  private readonly snapshotsByClientToken = new Map<string, string>();
  private readonly volumes = new Map<string, VolumeEntry>();
  /** Serialises the persistence of one key (a snapshot's metadata, a volume's state). */
  private readonly persistence = new KeyedSerialQueue();
  /** Block-store writers in flight; garbage collection runs only when there are none. */
  private writersInFlight = 0;
  private garbageCollection: Promise<void> | undefined;

  private constructor(
    private readonly store: EbsStateStore,
    private readonly clock: Clock,
  ) {}

  /** The model of the snapshots and volumes persisted in `store`. */
  static async load(store: EbsStateStore, clock: Clock): Promise<SnapshotModel> {
    const model = new SnapshotModel(store, clock);
    for (const meta of await store.readAllSnapshotMetas()) {
      const records = await store.readBlockRecords(meta.snapshotId);
      const entry: SnapshotEntry = { meta, blocks: BlockMap.EMPTY };
      if (meta.origin === 'api' && meta.completeAtMs === undefined) {
        const writing: WriteInProgress = { base: new Map(), puts: new Map() };
        for (const record of records) {
          (record.origin === BlockOrigin.Put ? writing.puts : writing.base).set(
            record.blockIndex,
            record.digest,
          );
        }
        entry.writing = writing;
      } else {
        entry.blocks = BlockMap.fromEntries(
          records.map((record) => [record.blockIndex, record.digest] as const),
        );
      }
      model.snapshots.set(meta.snapshotId, entry);
      if (meta.clientToken !== undefined) model.snapshotsByClientToken.set(meta.clientToken, meta.snapshotId);
    }
    for (const state of await store.readAllVolumeStates()) model.volumes.set(state.volumeId, { state });
    return model;
  }

  nowMs(): number {
    return this.clock.now().getTime();
  }

  statusOf(meta: SnapshotMeta): EbsSnapshotStatus {
    const now = this.nowMs();
    if (meta.completeAtMs !== undefined) return now >= meta.completeAtMs ? 'completed' : 'pending';
    const timeoutMs = (meta.timeoutMinutes ?? DEFAULT_START_SNAPSHOT_TIMEOUT_MINUTES) * MS_PER_MINUTE;
    return now > (meta.lastWriteMs ?? meta.startTimeMs) + timeoutMs ? 'error' : 'pending';
  }

  get(snapshotId: string): SnapshotEntry | undefined {
    return this.snapshots.get(snapshotId);
  }

  /** The snapshot a StartSnapshot with this ClientToken made. */
  byClientToken(clientToken: string): SnapshotEntry | undefined {
    const snapshotId = this.snapshotsByClientToken.get(clientToken);
    return snapshotId === undefined ? undefined : this.snapshots.get(snapshotId);
  }

  /** A completed snapshot, or the error the service gives for an unknown or unreadable one. */
  readable(snapshotId: string): SnapshotEntry {
    requireSnapshotIdFormat(snapshotId);
    const entry = this.snapshots.get(snapshotId);
    if (entry === undefined) throw snapshotNotFound(snapshotId);
    const status = this.statusOf(entry.meta);
    if (status !== 'completed') {
      throw validationError(
        VALIDATION_REASON.invalidSnapshotId,
        `The snapshot '${snapshotId}' is ${status}; only completed snapshots can be read.`,
      );
    }
    return entry;
  }

  /** A snapshot made by StartSnapshot that still accepts writes, or the matching error. */
  writable(snapshotId: string): WritableSnapshot {
    const entry = this.snapshots.get(snapshotId);
    if (entry === undefined) throw snapshotNotFound(snapshotId);
    const status = this.statusOf(entry.meta);
    if (entry.writing === undefined || status !== 'pending') {
      const why =
        entry.meta.origin === 'freeze'
          ? 'was not created by StartSnapshot'
          : status === 'error'
            ? 'timed out and was cancelled'
            : 'has been completed';
      throw validationError(
        VALIDATION_REASON.invalidSnapshotId,
        `The snapshot '${snapshotId}' ${why}; it does not accept writes.`,
      );
    }
    return entry as WritableSnapshot;
  }

  snapshotStatus(snapshotId: string): EbsSnapshotStatus | undefined {
    const entry = this.snapshots.get(snapshotId);
    return entry === undefined ? undefined : this.statusOf(entry.meta);
  }

  /** Every snapshot, frozen or made by StartSnapshot, for EC2 DescribeSnapshots. */
  listSnapshots(): readonly EbsSnapshotSummary[] {
    return [...this.snapshots.values()].map(({ meta, blocks }) => ({
      snapshotId: meta.snapshotId,
      volumeId: meta.volumeId,
      volumeSizeGib: meta.volumeSizeGib,
      status: this.statusOf(meta),
      startTime: new Date(meta.startTimeMs),
      parentSnapshotId: meta.parentSnapshotId,
      description: meta.description,
      tags: meta.tags,
      blockCount: blocks.size,
      ...(meta.encrypted === true ? { encrypted: true } : {}),
      ...(meta.kmsKeyArn === undefined ? {} : { kmsKeyArn: meta.kmsKeyArn }),
    }));
  }

  // ------------------------------------------------------------------ replica volumes (EC2 side)

  /**
   * EC2 CreateSnapshot of a replica volume: freezes the image file's current content as snapshot
   * `snapshotId` of lineage `volumeId`. The content is captured before this resolves; the snapshot
   * reads as `pending` until `completeAfterMs` has passed on the clock, then `completed`.
   * Written blocks = non-zero blocks of the image ∪ ((blocks allocated in the volume's previous
   * snapshot ∪ blocks marked written) − blocks discarded since).
   */
  async freezeVolumeImage(args: FreezeVolumeImageArgs): Promise<void> {
    if (!SNAPSHOT_ID_PATTERN.test(args.snapshotId)) {
      throw new RangeError(`snapshot id '${args.snapshotId}' does not match ${String(SNAPSHOT_ID_PATTERN)}`);
    }
    requireSafeId(args.volumeId, 'volume id');
    if (
      !Number.isInteger(args.volumeSizeGib) ||
      args.volumeSizeGib < 1 ||
      args.volumeSizeGib > MAX_VOLUME_SIZE_GIB
    ) {
      throw new RangeError(`volumeSizeGib ${args.volumeSizeGib} is not within 1..${MAX_VOLUME_SIZE_GIB}`);
    }
    if (this.snapshots.has(args.snapshotId)) throw new Error(`snapshot ${args.snapshotId} already exists`);
    const startTimeMs = this.nowMs();
    const volume = this.volumeEntry(args.volumeId);
    const forced = new Set(volume.state.allocated);
    for (const blockIndex of volume.state.pendingWrites) forced.add(blockIndex);
    for (const blockIndex of volume.state.pendingDiscards) forced.delete(blockIndex);
    // Marks and discards that arrive while the image is read belong to the next snapshot.
    const { pendingWrites, pendingDiscards } = volume.state;
    volume.state.pendingWrites = [];
    volume.state.pendingDiscards = [];

    try {
      await this.freezeBlocks(args, forced, startTimeMs, volume);
    } catch (error) {
      // Nothing was frozen: the marks and discards still belong to the next snapshot, before any newer ones.
      const newerWrites = new Set(volume.state.pendingWrites);
      const newerDiscards = new Set(volume.state.pendingDiscards);
      volume.state.pendingWrites = [
        ...new Set([...pendingWrites.filter((blockIndex) => !newerDiscards.has(blockIndex)), ...newerWrites]),
      ];
      volume.state.pendingDiscards = [
        ...new Set([
          ...pendingDiscards.filter((blockIndex) => !newerWrites.has(blockIndex)),
          ...newerDiscards,
        ]),
      ];
      throw error;
    }
    await this.persistVolume(volume);
  }

  private async freezeBlocks(
    args: FreezeVolumeImageArgs,
    forced: ReadonlySet<number>,
    startTimeMs: number,
    volume: VolumeEntry,
  ): Promise<void> {
    await this.withBlockWriter(async () => {
      const blocks = BlockMap.fromEntries(await readImageBlocks(this.store, args, forced));
      if (this.snapshots.has(args.snapshotId)) throw new Error(`snapshot ${args.snapshotId} already exists`);
      const meta: SnapshotMeta = {
        snapshotId: args.snapshotId,
        lineageId: `volume:${args.volumeId}`,
        origin: 'freeze',
        volumeId: args.volumeId,
        volumeSizeGib: args.volumeSizeGib,
        startTimeMs,
        completeAtMs: startTimeMs + (args.completeAfterMs ?? DEFAULT_FREEZE_COMPLETE_AFTER_MS),
      };
      // Registered before the blocks leave the writer scope, so garbage collection sees them held.
      this.snapshots.set(meta.snapshotId, { meta, blocks });
      volume.state.allocated = [...blocks.entries()].map(([blockIndex]) => blockIndex);
      await this.persistence.run(`snapshot:${meta.snapshotId}`, async () => {
        await this.store.writeBlockRecords(meta.snapshotId, blocks.toRecords(BlockOrigin.Base));
        await this.store.writeSnapshotMeta(meta);
      });
    });
  }

  /** Replica simulator: these blocks were written (even with zeros) and stay allocated, as on EBS. */
  markBlocksWritten(volumeId: string, blockIndexes: Iterable<number>): Promise<void> {
    return this.recordPendingBlocks(volumeId, blockIndexes, 'written');
  }

  /** Replica simulator: these blocks were discarded (TRIM) and vanish from the next snapshot unless non-zero. */
  discardBlocks(volumeId: string, blockIndexes: Iterable<number>): Promise<void> {
    return this.recordPendingBlocks(volumeId, blockIndexes, 'discarded');
  }

  /** Moves blocks into the volume's pending writes or pending discards (the latest call wins) and persists. */
  private async recordPendingBlocks(
    volumeId: string,
    blockIndexes: Iterable<number>,
    as: 'written' | 'discarded',
  ): Promise<void> {
    requireSafeId(volumeId, 'volume id');
    const list = requireBlockIndexes(blockIndexes);
    const volume = this.volumeEntry(volumeId);
    const discards = new Set(volume.state.pendingDiscards);
    const writes = new Set(volume.state.pendingWrites);
    const [into, outOf] = as === 'written' ? [writes, discards] : [discards, writes];
    for (const blockIndex of list) {
      outOf.delete(blockIndex);
      into.add(blockIndex);
    }
    volume.state.pendingWrites = [...writes];
    volume.state.pendingDiscards = [...discards];
    await this.persistVolume(volume);
  }

  /** Deletes a snapshot and the block contents no other snapshot holds. False if it did not exist. */
  async deleteSnapshot(snapshotId: string): Promise<boolean> {
    const entry = this.snapshots.get(snapshotId);
    if (entry === undefined) return false;
    this.snapshots.delete(snapshotId);
    if (entry.meta.clientToken !== undefined) this.snapshotsByClientToken.delete(entry.meta.clientToken);
    await this.persistence.run(`snapshot:${snapshotId}`, () => this.store.deleteSnapshotFiles(snapshotId));
    await this.collectGarbage(digestsOf(entry));
    return true;
  }

  // ------------------------------------------------------------------ written snapshots (StartSnapshot)

  /** Registers and persists a snapshot StartSnapshot made, inheriting the blocks of `parent`. */
  async addStarted(meta: SnapshotMeta, parent: SnapshotEntry | undefined): Promise<void> {
    const writing: WriteInProgress = { base: new Map(parent?.blocks.entries() ?? []), puts: new Map() };
    this.snapshots.set(meta.snapshotId, { meta, blocks: BlockMap.EMPTY, writing });
    if (meta.clientToken !== undefined) this.snapshotsByClientToken.set(meta.clientToken, meta.snapshotId);
    await this.persistence.run(`snapshot:${meta.snapshotId}`, async () => {
      await this.store.writeBlockRecords(meta.snapshotId, parent?.blocks.toRecords(BlockOrigin.Base) ?? []);
      await this.store.writeSnapshotMeta(meta);
    });
  }

  /** Stores one block PutSnapshotBlock wrote (its digest checked by the caller) into a writable snapshot. */
  async putBlock(snapshotId: string, blockIndex: number, digest: Buffer, data: Buffer): Promise<void> {
    const current = await this.withBlockWriter(async () => {
      await this.store.putBlock(digest, data);
      // Completion may have been requested while the block was stored.
      const stillWritable = this.writable(snapshotId);
      stillWritable.writing.puts.set(blockIndex, digest);
      stillWritable.meta.lastWriteMs = this.nowMs();
      return stillWritable;
    });
    const lastWriteMs = current.meta.lastWriteMs ?? 0;
    const persistMeta = lastWriteMs - (current.persistedLastWriteMs ?? 0) >= LAST_WRITE_PERSIST_INTERVAL_MS;
    if (persistMeta) current.persistedLastWriteMs = lastWriteMs;
    await this.persistence.run(`snapshot:${snapshotId}`, async () => {
      await this.store.appendBlockRecords(snapshotId, [{ blockIndex, origin: BlockOrigin.Put, digest }]);
      if (persistMeta) await this.store.writeSnapshotMeta(current.meta);
    });
  }

  /** CompleteSnapshot (checked by the caller): the snapshot holds its parent's and its own blocks and completes after `delayMs`. */
  async complete(target: WritableSnapshot, delayMs: number): Promise<void> {
    const { puts, base } = target.writing;
    const blocks = BlockMap.fromEntries([...base.entries(), ...puts.entries()]);
    const records: BlockRecord[] = [...blocks.entries()].map(([blockIndex, digest]) => ({
      blockIndex,
      origin: puts.has(blockIndex) ? BlockOrigin.Put : BlockOrigin.Base,
      digest,
    }));
    target.meta.completeAtMs = this.nowMs() + delayMs;
    target.blocks = blocks;
    (target as SnapshotEntry).writing = undefined;
    await this.persistence.run(`snapshot:${target.meta.snapshotId}`, async () => {
      await this.store.writeBlockRecords(target.meta.snapshotId, records);
      await this.store.writeSnapshotMeta(target.meta);
    });
  }

  /** The content of a block of a snapshot; SNAPSHOT_NOT_FOUND if the snapshot was deleted meanwhile. */
  async readBlock(snapshotId: string, digest: Buffer): Promise<Buffer> {
    try {
      return await this.store.readBlock(digest);
    } catch (error) {
      // Deleted (and its blocks collected) while this request was being served.
      if (!this.snapshots.has(snapshotId)) throw snapshotNotFound(snapshotId);
      throw error;
    }
  }

  // ------------------------------------------------------------------ persistence and garbage collection

  private volumeEntry(volumeId: string): VolumeEntry {
    let volume = this.volumes.get(volumeId);
    if (volume === undefined) {
      volume = { state: { volumeId, allocated: [], pendingWrites: [], pendingDiscards: [] } };
      this.volumes.set(volumeId, volume);
    }
    return volume;
  }

  private persistVolume(volume: VolumeEntry): Promise<void> {
    return this.persistence.run(`volume:${volume.state.volumeId}`, () =>
      this.store.writeVolumeState(volume.state),
    );
  }

  /** Writes to the block store never overlap a garbage collection (which could delete what they dedupe against). */
  private async withBlockWriter<T>(work: () => Promise<T>): Promise<T> {
    while (this.garbageCollection !== undefined) await this.garbageCollection;
    this.writersInFlight += 1;
    try {
      return await work();
    } finally {
      this.writersInFlight -= 1;
    }
  }

  /** Deletes the candidate block contents that no remaining snapshot holds. */
  private async collectGarbage(candidates: Set<string>): Promise<void> {
    // With writers in flight a deleted block could be one they just deduplicated against: skip (a small leak).
    if (this.writersInFlight > 0 || this.garbageCollection !== undefined) return;
    const run = async (): Promise<void> => {
      for (const entry of this.snapshots.values()) {
        for (const digest of digestsOf(entry)) candidates.delete(digest);
      }
      for (const digest of candidates) await this.store.deleteBlock(Buffer.from(digest, 'hex'));
    };
    this.garbageCollection = run();
    try {
      await this.garbageCollection;
    } finally {
      this.garbageCollection = undefined;
    }
  }
}

/** The hex digests of every block a snapshot holds or is being written with. */
function digestsOf(entry: SnapshotEntry): Set<string> {
  const digests = new Set<string>();
  for (const [, digest] of entry.blocks.entries()) digests.add(digest.toString('hex'));
  if (entry.writing !== undefined) {
    for (const digest of entry.writing.base.values()) digests.add(digest.toString('hex'));
    for (const digest of entry.writing.puts.values()) digests.add(digest.toString('hex'));
  }
  return digests;
}
