/**
 * A faithful emulator of the EBS direct APIs (ListSnapshotBlocks, ListChangedBlocks,
 * GetSnapshotBlock, StartSnapshot, PutSnapshotBlock, CompleteSnapshot), backed by raw disk-image
 * files and by a content-addressed block store under `stateDir`. It speaks the service's REST/JSON
 * wire format, so the real @aws-sdk/client-ebs talks to it unchanged. Behaviour and the choices
 * where AWS documents nothing are written down in local/ebs/README.md.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  blocksInVolume,
  EBS_BLOCK_SIZE_BYTES,
  GIB_BYTES,
  MAX_VOLUME_SIZE_GIB,
} from '../../lambdas/core/geometry.ts';
import { systemClock, type Clock } from '../../lambdas/core/ports.ts';
import {
  EbsApiError,
  snapshotNotFound,
  THROTTLE_REASON,
  VALIDATION_REASON,
  validationError,
} from './ebs-api-error.ts';
import { BlockMap, BlockOrigin, type BlockRecord } from './ebs-block-map.ts';
import { blockRangesOf, listDataExtents } from './ebs-image-extents.ts';
import { changedBlocksPage, snapshotBlocksPage, type PageBounds } from './ebs-pagination.ts';
import { EbsStateStore, type SnapshotMeta, type StoredTag, type VolumeState } from './ebs-state-store.ts';
import {
  CHECKSUM_PATTERN,
  header,
  optionalInteger,
  requireSnapshotIdFormat,
  routeOf,
  SNAPSHOT_ID_PATTERN,
  type Route,
} from './ebs-request.ts';
import {
  DEFAULT_START_SNAPSHOT_TIMEOUT_MINUTES,
  parseStartSnapshotRequest,
} from './ebs-start-snapshot-request.ts';
import { TokenSigner, type TokenKind } from './ebs-tokens.ts';

/** Block tokens last 7 days (aws-facts §0, EBS direct API FAQ). */
export const DEFAULT_BLOCK_TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** NextTokens last 60 minutes (aws-facts §0, EBS direct API FAQ). */
export const DEFAULT_PAGE_TOKEN_TTL_MS = 60 * 60 * 1000;
/** Block indexes one list page scans at most: 32 GiB of volume, so big sparse volumes show empty pages. */
export const DEFAULT_LIST_PAGE_BLOCK_WINDOW = 65_536;
/** A frozen image stays `pending` this long unless the caller says otherwise: clients must poll. */
export const DEFAULT_FREEZE_COMPLETE_AFTER_MS = 1_000;
/** CompleteSnapshot answers `pending`; the snapshot is `completed` this much later (aws-facts gotcha 11). */
export const DEFAULT_COMPLETE_SNAPSHOT_DELAY_MS = 500;
/** MaxResults bounds of the model; below the minimum the service still returns up to 100 (FAQ). */
export const MIN_LIST_MAX_RESULTS = 100;
export const MAX_LIST_MAX_RESULTS = 10_000;
/** Page size when the request has no MaxResults (not documented; the largest allowed page). */
export const DEFAULT_LIST_MAX_RESULTS = MAX_LIST_MAX_RESULTS;
/**
 * A write saves the snapshot's last-write time (what StartSnapshot's Timeout counts from) at most
 * this often: the Timeout is in minutes, and rewriting the metadata on every put halves put throughput.
 */
export const LAST_WRITE_PERSIST_INTERVAL_MS = 1_000;
/** Owner reported by StartSnapshot: moto's default account, so EC2 and EBS agree locally. */
export const EMULATED_ACCOUNT_ID = '123456789012';
/** Freezing reads the image in buffers this big: 32 blocks per read keeps syscalls few and memory small. */
export const FREEZE_READ_BUFFER_BYTES = 32 * EBS_BLOCK_SIZE_BYTES;

/** Ids the emulator turns into file names (freezeVolumeImage accepts any EC2-style id). */
const SAFE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const ZERO_BLOCK = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
const ZERO_BLOCK_DIGEST = createHash('sha256').update(ZERO_BLOCK).digest();

export interface EbsEmulatorOptions {
  /** Persistent state: content-addressed 512 KiB blocks and snapshot maps, as files. */
  readonly stateDir: string;
  /** Default: the system clock. Token expiry, snapshot completion and rate caps read it. */
  readonly clock?: Clock;
  /** Default 7 days. */
  readonly blockTokenTtlMs?: number;
  /** Default 60 minutes. */
  readonly pageTokenTtlMs?: number;
  /** Seed of the deterministic randomness behind faults. Default 1. */
  readonly seed?: number;
  /** Delay between CompleteSnapshot and the snapshot turning `completed`. Default 500 ms. */
  readonly completeSnapshotDelayMs?: number;
}

export interface EbsEmulatorFaults {
  /** 0..1: a GetSnapshotBlock body gets one flipped byte while x-amz-Checksum is that of the true data. */
  corruptBlockDataRate?: number;
  /** Cap per snapshot over GetSnapshotBlock and PutSnapshotBlock, per clock second: RequestThrottledException RESOURCE_LEVEL_THROTTLE. */
  perSnapshotRequestsPerSecond?: number;
  /** Block indexes one list page scans at most (default 65,536). */
  listPageBlockWindow?: number;
  /** For this long after StartSnapshot, PutSnapshotBlock answers ResourceNotFoundException (aws-facts gotcha 9). Default 0. */
  putSnapshotBlockNotFoundForMs?: number;
}

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
interface WriteInProgress {
  /** Blocks inherited from the parent snapshot. */
  readonly base: Map<number, Buffer>;
  /** Blocks written by PutSnapshotBlock. */
  readonly puts: Map<number, Buffer>;
}

interface SnapshotEntry {
  readonly meta: SnapshotMeta;
  /** The last-write time last saved with the metadata (saved at most once per interval, not per put). */
  persistedLastWriteMs?: number;
  /** The snapshot's blocks; empty while `writing` is set. */
  blocks: BlockMap;
  writing?: WriteInProgress;
}

interface VolumeEntry {
  readonly state: VolumeState;
}

interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

interface BinaryAnswer {
  readonly status: number;
  readonly data: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}

/** Small deterministic PRNG (mulberry32), so fault patterns repeat for a given seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
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

function epochSeconds(ms: number): number {
  return ms / 1000;
}

/** SHA-256 over the raw 32-byte digests in ascending block order, base64 (aws-facts gotcha 8). */
export function linearAggregateChecksum(digestsByIndex: ReadonlyMap<number, Buffer>): string {
  const hash = createHash('sha256');
  for (const blockIndex of [...digestsByIndex.keys()].sort((a, b) => a - b)) {
    hash.update(digestsByIndex.get(blockIndex) as Buffer);
  }
  return hash.digest('base64');
}

export class EbsEmulator {
  private readonly clock: Clock;
  private readonly tokens: TokenSigner;
  private readonly blockTokenTtlMs: number;
  private readonly pageTokenTtlMs: number;
  private readonly completeSnapshotDelayMs: number;
  private readonly random: () => number;
  private faults: Required<EbsEmulatorFaults> = {
    corruptBlockDataRate: 0,
    perSnapshotRequestsPerSecond: Number.POSITIVE_INFINITY,
    listPageBlockWindow: DEFAULT_LIST_PAGE_BLOCK_WINDOW,
    putSnapshotBlockNotFoundForMs: 0,
  };
  private readonly snapshots = new Map<string, SnapshotEntry>();
  private readonly snapshotsByClientToken = new Map<string, string>();
  private readonly volumes = new Map<string, VolumeEntry>();
  private readonly requestCounts = new Map<string, { second: number; count: number }>();
  /** Serialises the persistence of one key (a snapshot's metadata, a volume's state). */
  private readonly persistChains = new Map<string, Promise<void>>();
  /** Block-store writers in flight; garbage collection runs only when there are none. */
  private writersInFlight = 0;
  private garbageCollection: Promise<void> | undefined;

  private constructor(
    private readonly store: EbsStateStore,
    options: EbsEmulatorOptions,
  ) {
    this.clock = options.clock ?? systemClock;
    this.tokens = new TokenSigner(store.tokenKey);
    this.blockTokenTtlMs = options.blockTokenTtlMs ?? DEFAULT_BLOCK_TOKEN_TTL_MS;
    this.pageTokenTtlMs = options.pageTokenTtlMs ?? DEFAULT_PAGE_TOKEN_TTL_MS;
    this.completeSnapshotDelayMs = options.completeSnapshotDelayMs ?? DEFAULT_COMPLETE_SNAPSHOT_DELAY_MS;
    this.random = seededRandom(options.seed ?? 1);
  }

  /** Opens (or creates) the state under `options.stateDir` and loads every snapshot and volume. */
  static async open(options: EbsEmulatorOptions): Promise<EbsEmulator> {
    const store = await EbsStateStore.open(options.stateDir);
    const emulator = new EbsEmulator(store, options);
    await emulator.load();
    return emulator;
  }

  private async load(): Promise<void> {
    for (const meta of await this.store.readAllSnapshotMetas()) {
      const records = await this.store.readBlockRecords(meta.snapshotId);
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
      this.snapshots.set(meta.snapshotId, entry);
      if (meta.clientToken !== undefined) this.snapshotsByClientToken.set(meta.clientToken, meta.snapshotId);
    }
    for (const state of await this.store.readAllVolumeStates()) this.volumes.set(state.volumeId, { state });
  }

  setFaults(faults: EbsEmulatorFaults): void {
    const next = { ...this.faults, ...faults };
    if (!(next.corruptBlockDataRate >= 0 && next.corruptBlockDataRate <= 1)) {
      throw new RangeError('corruptBlockDataRate must be within 0..1');
    }
    if (!(next.perSnapshotRequestsPerSecond > 0))
      throw new RangeError('perSnapshotRequestsPerSecond must be > 0');
    if (!Number.isInteger(next.listPageBlockWindow) || next.listPageBlockWindow < 1) {
      throw new RangeError('listPageBlockWindow must be a positive integer');
    }
    if (!(next.putSnapshotBlockNotFoundForMs >= 0))
      throw new RangeError('putSnapshotBlockNotFoundForMs must be >= 0');
    this.faults = next;
  }

  // ------------------------------------------------------------------ EC2-side hooks

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
      const blocks = BlockMap.fromEntries(await this.readImageBlocks(args, forced));
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
      await this.chain(`snapshot:${meta.snapshotId}`, async () => {
        await this.store.writeBlockRecords(meta.snapshotId, blocks.toRecords(BlockOrigin.Base));
        await this.store.writeSnapshotMeta(meta);
      });
    });
  }

  private async readImageBlocks(
    args: FreezeVolumeImageArgs,
    forced: ReadonlySet<number>,
  ): Promise<[number, Buffer][]> {
    const totalBlocks = blocksInVolume(args.volumeSizeGib);
    const entries: [number, Buffer][] = [];
    const file = await open(args.imagePath, 'r');
    try {
      const imageBytes = Math.min((await file.stat()).size, args.volumeSizeGib * GIB_BYTES);
      const extents = (await listDataExtents(args.imagePath)) ?? [[0, imageBytes]];
      const ranges = blockRangesOf(extents, EBS_BLOCK_SIZE_BYTES, imageBytes);
      const buffer = Buffer.alloc(FREEZE_READ_BUFFER_BYTES);
      const blocksPerBuffer = FREEZE_READ_BUFFER_BYTES / EBS_BLOCK_SIZE_BYTES;
      const read = new Set<number>();
      for (const [firstBlock, endBlock] of ranges) {
        for (let chunkStart = firstBlock; chunkStart < endBlock; chunkStart += blocksPerBuffer) {
          const chunkBlocks = Math.min(blocksPerBuffer, endBlock - chunkStart);
          const offset = chunkStart * EBS_BLOCK_SIZE_BYTES;
          const wanted = Math.min(chunkBlocks * EBS_BLOCK_SIZE_BYTES, imageBytes - offset);
          let filled = 0;
          while (filled < wanted) {
            const { bytesRead } = await file.read(buffer, filled, wanted - filled, offset + filled);
            if (bytesRead === 0) break;
            filled += bytesRead;
          }
          buffer.fill(0, filled);
          for (let within = 0; within < chunkBlocks; within += 1) {
            const blockIndex = chunkStart + within;
            read.add(blockIndex);
            const data = buffer.subarray(within * EBS_BLOCK_SIZE_BYTES, (within + 1) * EBS_BLOCK_SIZE_BYTES);
            const isZero = data.equals(ZERO_BLOCK);
            if (isZero && !forced.has(blockIndex)) continue;
            const digest = isZero ? ZERO_BLOCK_DIGEST : sha256(data);
            await this.store.putBlock(digest, data);
            entries.push([blockIndex, digest]);
          }
        }
      }
      // Blocks written with zeros (or allocated before) that now lie in holes or past the end of the image.
      const zeroBlocks = [...forced].filter(
        (blockIndex) => !read.has(blockIndex) && blockIndex < totalBlocks,
      );
      if (zeroBlocks.length > 0) await this.store.putBlock(ZERO_BLOCK_DIGEST, ZERO_BLOCK);
      for (const blockIndex of zeroBlocks) entries.push([blockIndex, ZERO_BLOCK_DIGEST]);
    } finally {
      await file.close();
    }
    return entries;
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
    }));
  }

  /** Deletes a snapshot and the block contents no other snapshot holds. False if it did not exist. */
  async deleteSnapshot(snapshotId: string): Promise<boolean> {
    const entry = this.snapshots.get(snapshotId);
    if (entry === undefined) return false;
    this.snapshots.delete(snapshotId);
    if (entry.meta.clientToken !== undefined) this.snapshotsByClientToken.delete(entry.meta.clientToken);
    this.requestCounts.delete(snapshotId);
    await this.chain(`snapshot:${snapshotId}`, () => this.store.deleteSnapshotFiles(snapshotId));
    await this.collectGarbage(this.digestsOf(entry));
    return true;
  }

  // ------------------------------------------------------------------ HTTP

  /** True if the request path is an EBS direct API route. */
  isEbsRequest(method: string, urlPath: string): boolean {
    return routeOf(method.toUpperCase(), urlPath) !== undefined;
  }

  /** Serves one EBS direct API request whose body has been read. */
  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const requestId = randomUUID();
    try {
      const url = new URL(req.url ?? '/', 'http://ebs.local');
      const route = routeOf((req.method ?? 'GET').toUpperCase(), url.pathname);
      if (route === undefined) {
        throw new EbsApiError(
          'ValidationException',
          `No EBS direct API operation for ${req.method} ${url.pathname}.`,
        );
      }
      const answer = await this.dispatch(route, url.searchParams, req, body);
      if ('data' in answer) {
        res.writeHead(answer.status, {
          ...answer.headers,
          'content-type': 'application/octet-stream',
          'content-length': String(answer.data.length),
          'x-amzn-requestid': requestId,
        });
        res.end(answer.data);
      } else {
        const payload = JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          ...answer.headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
          'x-amzn-requestid': requestId,
        });
        res.end(payload);
      }
    } catch (error) {
      const apiError =
        error instanceof EbsApiError
          ? error
          : new EbsApiError('InternalServerException', `Internal error: ${(error as Error).message}`);
      const payload = JSON.stringify(apiError.toBody());
      res.writeHead(apiError.httpStatus, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(payload)),
        'x-amzn-errortype': apiError.errorName,
        'x-amzn-requestid': requestId,
      });
      res.end(payload);
    }
  }

  private dispatch(
    route: Route,
    query: URLSearchParams,
    req: IncomingMessage,
    body: Buffer,
  ): Promise<JsonAnswer | BinaryAnswer> {
    switch (route.operation) {
      case 'StartSnapshot':
        return this.startSnapshot(body);
      case 'PutSnapshotBlock':
        return this.putSnapshotBlock(route.snapshotId, route.blockIndex ?? '', req, body);
      case 'CompleteSnapshot':
        return this.completeSnapshot(route.snapshotId, req);
      case 'ListSnapshotBlocks':
        return Promise.resolve(this.listSnapshotBlocks(route.snapshotId, query));
      case 'ListChangedBlocks':
        return Promise.resolve(this.listChangedBlocks(route.snapshotId, query));
      case 'GetSnapshotBlock':
        return this.getSnapshotBlock(route.snapshotId, route.blockIndex ?? '', query);
    }
  }

  // ------------------------------------------------------------------ read path

  private listSnapshotBlocks(snapshotId: string, query: URLSearchParams): JsonAnswer {
    const entry = this.readableSnapshot(snapshotId);
    const limit = this.pageLimit(query);
    const start = this.pageStart(query, 'list-page', [snapshotId]);
    const now = this.nowMs();
    const page = snapshotBlocksPage(entry.blocks, this.pageBounds(start, limit, entry.meta.volumeSizeGib));
    const nonce = TokenSigner.newNonce();
    const blockExpiry = this.expirySeconds(now, this.blockTokenTtlMs);
    return {
      status: 200,
      body: {
        Blocks: page.entries.map(({ blockIndex }) => ({
          BlockIndex: blockIndex,
          BlockToken: this.blockToken(snapshotId, blockIndex, blockExpiry, nonce),
        })),
        ExpiryTime: blockExpiry,
        VolumeSize: entry.meta.volumeSizeGib,
        BlockSize: EBS_BLOCK_SIZE_BYTES,
        ...(page.nextStart === undefined
          ? {}
          : { NextToken: this.pageToken('list-page', [snapshotId], page.nextStart, now, nonce) }),
      },
    };
  }

  private listChangedBlocks(secondSnapshotId: string, query: URLSearchParams): JsonAnswer {
    const firstSnapshotId = query.get('firstSnapshotId') ?? undefined;
    const second = this.readableSnapshot(secondSnapshotId);
    const first = firstSnapshotId === undefined ? undefined : this.readableSnapshot(firstSnapshotId);
    if (first !== undefined && first.meta.lineageId !== second.meta.lineageId) {
      throw validationError(
        VALIDATION_REASON.unrelatedSnapshots,
        `The snapshots '${firstSnapshotId}' and '${secondSnapshotId}' are not of the same volume or snapshot lineage.`,
      );
    }
    const boundTo = [firstSnapshotId ?? '', secondSnapshotId];
    const limit = this.pageLimit(query);
    const start = this.pageStart(query, 'changed-page', boundTo);
    const now = this.nowMs();
    const volumeSizeGib = Math.max(second.meta.volumeSizeGib, first?.meta.volumeSizeGib ?? 0);
    const page = changedBlocksPage(
      first?.blocks,
      second.blocks,
      this.pageBounds(start, limit, volumeSizeGib),
    );
    const nonce = TokenSigner.newNonce();
    const blockExpiry = this.expirySeconds(now, this.blockTokenTtlMs);
    return {
      status: 200,
      body: {
        ChangedBlocks: page.entries.map(({ blockIndex, firstDigest, secondDigest }) => ({
          BlockIndex: blockIndex,
          ...(firstDigest === undefined || firstSnapshotId === undefined
            ? {}
            : { FirstBlockToken: this.blockToken(firstSnapshotId, blockIndex, blockExpiry, nonce) }),
          ...(secondDigest === undefined
            ? {}
            : { SecondBlockToken: this.blockToken(secondSnapshotId, blockIndex, blockExpiry, nonce) }),
        })),
        ExpiryTime: blockExpiry,
        VolumeSize: second.meta.volumeSizeGib,
        BlockSize: EBS_BLOCK_SIZE_BYTES,
        ...(page.nextStart === undefined
          ? {}
          : { NextToken: this.pageToken('changed-page', boundTo, page.nextStart, now, nonce) }),
      },
    };
  }

  private async getSnapshotBlock(
    snapshotId: string,
    rawBlockIndex: string,
    query: URLSearchParams,
  ): Promise<BinaryAnswer> {
    requireSnapshotIdFormat(snapshotId);
    this.throttle(snapshotId);
    const entry = this.readableSnapshot(snapshotId);
    const blockIndex = optionalInteger(rawBlockIndex, 'BlockIndex');
    if (blockIndex === undefined || blockIndex < 0) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        'BlockIndex must be a non-negative integer.',
      );
    }
    const token = query.get('blockToken');
    if (token === null || token === '') {
      throw validationError(VALIDATION_REASON.invalidParameterValue, 'BlockToken is required.');
    }
    const claims = this.tokens.verify('block', [snapshotId], token);
    if (claims === undefined || claims.blockIndex !== blockIndex) {
      throw validationError(
        VALIDATION_REASON.invalidBlockToken,
        'The block token is not valid for this snapshot and block index.',
      );
    }
    if (this.nowMs() >= claims.expiresAtEpochSeconds * 1000) {
      throw validationError(VALIDATION_REASON.invalidBlockToken, 'The block token has expired.');
    }
    const digest = entry.blocks.digestOf(blockIndex);
    if (digest === undefined) {
      throw validationError(
        VALIDATION_REASON.invalidBlockToken,
        `Block ${blockIndex} is not in snapshot '${snapshotId}'.`,
      );
    }
    let data: Buffer;
    try {
      data = await this.store.readBlock(digest);
    } catch (error) {
      // Deleted (and its blocks collected) while this request was being served.
      if (!this.snapshots.has(snapshotId)) throw snapshotNotFound(snapshotId);
      throw error;
    }
    if (this.faults.corruptBlockDataRate > 0 && this.random() < this.faults.corruptBlockDataRate) {
      data = Buffer.from(data);
      const at = Math.floor(this.random() * data.length);
      data[at] = (data[at] as number) ^ 0xff;
    }
    return {
      status: 200,
      data,
      headers: {
        'x-amz-Data-Length': String(EBS_BLOCK_SIZE_BYTES),
        'x-amz-Checksum': digest.toString('base64'),
        'x-amz-Checksum-Algorithm': 'SHA256',
      },
    };
  }

  /** A completed snapshot, or the error the service gives for an unknown or unreadable one. */
  private readableSnapshot(snapshotId: string): SnapshotEntry {
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

  private pageLimit(query: URLSearchParams): number {
    const maxResults = optionalInteger(query.get('maxResults'), 'MaxResults');
    if (maxResults === undefined) return DEFAULT_LIST_MAX_RESULTS;
    if (maxResults < 1 || maxResults > MAX_LIST_MAX_RESULTS) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `MaxResults must be between ${MIN_LIST_MAX_RESULTS} and ${MAX_LIST_MAX_RESULTS}, got ${maxResults}.`,
      );
    }
    return Math.max(maxResults, MIN_LIST_MAX_RESULTS);
  }

  private pageStart(query: URLSearchParams, kind: TokenKind, boundTo: readonly string[]): number {
    const pageToken = query.get('pageToken');
    if (pageToken !== null) {
      const claims = this.tokens.verify(kind, boundTo, pageToken);
      if (claims === undefined) {
        throw validationError(
          VALIDATION_REASON.invalidPageToken,
          'The page token is not valid for this request.',
        );
      }
      if (this.nowMs() >= claims.expiresAtEpochSeconds * 1000) {
        throw validationError(VALIDATION_REASON.invalidPageToken, 'The page token has expired.');
      }
      return claims.blockIndex;
    }
    const startingBlockIndex = optionalInteger(query.get('startingBlockIndex'), 'StartingBlockIndex') ?? 0;
    if (startingBlockIndex < 0) {
      throw validationError(VALIDATION_REASON.invalidParameterValue, 'StartingBlockIndex must be >= 0.');
    }
    return startingBlockIndex;
  }

  private pageBounds(start: number, limit: number, volumeSizeGib: number): PageBounds {
    return {
      start,
      limit,
      window: this.faults.listPageBlockWindow,
      totalBlocks: blocksInVolume(volumeSizeGib),
    };
  }

  private expirySeconds(nowMs: number, ttlMs: number): number {
    return Math.floor((nowMs + ttlMs) / 1000);
  }

  private blockToken(
    snapshotId: string,
    blockIndex: number,
    expiresAtEpochSeconds: number,
    nonce: Buffer,
  ): string {
    return this.tokens.sign('block', [snapshotId], { blockIndex, expiresAtEpochSeconds }, nonce);
  }

  private pageToken(
    kind: TokenKind,
    boundTo: readonly string[],
    blockIndex: number,
    nowMs: number,
    nonce: Buffer,
  ): string {
    const expiresAtEpochSeconds = this.expirySeconds(nowMs, this.pageTokenTtlMs);
    return this.tokens.sign(kind, boundTo, { blockIndex, expiresAtEpochSeconds }, nonce);
  }

  // ------------------------------------------------------------------ write path

  private async startSnapshot(body: Buffer): Promise<JsonAnswer> {
    const request = parseStartSnapshotRequest(body);
    const { clientToken, fingerprint } = request;
    const existingId = clientToken === undefined ? undefined : this.snapshotsByClientToken.get(clientToken);
    if (existingId !== undefined) {
      const existing = this.snapshots.get(existingId) as SnapshotEntry;
      if (existing.meta.requestFingerprint !== fingerprint) {
        throw new EbsApiError(
          'ConflictException',
          `The ClientToken '${clientToken}' was already used with different parameters.`,
        );
      }
      return { status: 201, body: this.startSnapshotResponse(existing.meta) };
    }
    const parent = request.parentSnapshotId === undefined ? undefined : this.startSnapshotParent(request);
    const snapshotId = `snap-${randomBytes(9).toString('hex').slice(0, 17)}`;
    const meta: SnapshotMeta = {
      snapshotId,
      lineageId: parent?.meta.lineageId ?? `snapshot:${snapshotId}`,
      origin: 'api',
      parentSnapshotId: request.parentSnapshotId,
      volumeSizeGib: request.volumeSizeGib,
      startTimeMs: this.nowMs(),
      timeoutMinutes: request.timeoutMinutes,
      clientToken,
      requestFingerprint: fingerprint,
      description: request.description,
      tags: request.tags,
      encrypted: request.encrypted,
      kmsKeyArn: request.kmsKeyArn,
    };
    const writing: WriteInProgress = { base: new Map(parent?.blocks.entries() ?? []), puts: new Map() };
    this.snapshots.set(snapshotId, { meta, blocks: BlockMap.EMPTY, writing });
    if (clientToken !== undefined) this.snapshotsByClientToken.set(clientToken, snapshotId);
    await this.chain(`snapshot:${snapshotId}`, async () => {
      await this.store.writeBlockRecords(snapshotId, parent?.blocks.toRecords(BlockOrigin.Base) ?? []);
      await this.store.writeSnapshotMeta(meta);
    });
    return { status: 201, body: this.startSnapshotResponse(meta) };
  }

  private startSnapshotParent(request: { parentSnapshotId?: string; volumeSizeGib: number }): SnapshotEntry {
    const parentId = request.parentSnapshotId as string;
    const parent = this.readableSnapshot(parentId);
    if (request.volumeSizeGib < parent.meta.volumeSizeGib) {
      throw validationError(
        VALIDATION_REASON.invalidVolumeSize,
        `VolumeSize ${request.volumeSizeGib} is smaller than the ${parent.meta.volumeSizeGib} GiB of parent snapshot '${parentId}'.`,
      );
    }
    return parent;
  }

  private startSnapshotResponse(meta: SnapshotMeta): Record<string, unknown> {
    return {
      ...(meta.description === undefined ? {} : { Description: meta.description }),
      SnapshotId: meta.snapshotId,
      OwnerId: EMULATED_ACCOUNT_ID,
      Status: 'pending',
      StartTime: epochSeconds(meta.startTimeMs),
      VolumeSize: meta.volumeSizeGib,
      BlockSize: EBS_BLOCK_SIZE_BYTES,
      ...(meta.tags === undefined ? {} : { Tags: meta.tags }),
      ...(meta.parentSnapshotId === undefined ? {} : { ParentSnapshotId: meta.parentSnapshotId }),
      ...(meta.encrypted === true
        ? {
            KmsKeyArn: meta.kmsKeyArn ?? `arn:aws:kms:us-east-1:${EMULATED_ACCOUNT_ID}:alias/aws/ebs`,
            SseType: 'sse-kms',
          }
        : { SseType: 'none' }),
    };
  }

  /** A snapshot made by StartSnapshot that still accepts writes, or the matching error. */
  private writableSnapshot(snapshotId: string): SnapshotEntry & { writing: WriteInProgress } {
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
    return entry as SnapshotEntry & { writing: WriteInProgress };
  }

  private async putSnapshotBlock(
    snapshotId: string,
    rawBlockIndex: string,
    req: IncomingMessage,
    body: Buffer,
  ): Promise<JsonAnswer> {
    requireSnapshotIdFormat(snapshotId);
    this.throttle(snapshotId);
    const entry = this.snapshots.get(snapshotId);
    if (entry === undefined) throw snapshotNotFound(snapshotId);
    if (
      entry.meta.origin === 'api' &&
      this.nowMs() < entry.meta.startTimeMs + this.faults.putSnapshotBlockNotFoundForMs
    ) {
      throw snapshotNotFound(snapshotId);
    }
    const target = this.writableSnapshot(snapshotId);
    const blockIndex = optionalInteger(rawBlockIndex, 'BlockIndex');
    const totalBlocks = blocksInVolume(target.meta.volumeSizeGib);
    if (blockIndex === undefined || blockIndex < 0 || blockIndex >= totalBlocks) {
      throw validationError(
        VALIDATION_REASON.invalidBlock,
        `BlockIndex '${rawBlockIndex}' is outside the volume (0..${totalBlocks - 1}).`,
      );
    }
    const dataLength = optionalInteger(header(req, 'x-amz-Data-Length'), 'DataLength');
    if (dataLength !== EBS_BLOCK_SIZE_BYTES) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `DataLength must be ${EBS_BLOCK_SIZE_BYTES}, got ${dataLength ?? 'none'}.`,
      );
    }
    if (body.length !== dataLength) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `Failed to read block data: got ${body.length} bytes, DataLength says ${dataLength}.`,
      );
    }
    const algorithm = header(req, 'x-amz-Checksum-Algorithm');
    if (algorithm !== 'SHA256') {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `ChecksumAlgorithm must be SHA256, got ${algorithm ?? 'none'}.`,
      );
    }
    const checksum = header(req, 'x-amz-Checksum');
    if (checksum === undefined || !CHECKSUM_PATTERN.test(checksum)) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        'Checksum is required: the base64 SHA-256 of the block data.',
      );
    }
    const progress = optionalInteger(header(req, 'x-amz-Progress'), 'Progress');
    if (progress !== undefined && (progress < 0 || progress > 100)) {
      throw validationError(VALIDATION_REASON.invalidParameterValue, 'Progress must be within 0..100.');
    }
    const digest = sha256(body);
    if (digest.toString('base64') !== checksum) {
      throw validationError(
        VALIDATION_REASON.invalidContentEncoding,
        'The checksum of the block data does not match the x-amz-Checksum header.',
      );
    }
    const current = await this.withBlockWriter(async () => {
      await this.store.putBlock(digest, body);
      // Completion may have been requested while the block was stored.
      const stillWritable = this.writableSnapshot(snapshotId);
      stillWritable.writing.puts.set(blockIndex, digest);
      stillWritable.meta.lastWriteMs = this.nowMs();
      return stillWritable;
    });
    const lastWriteMs = current.meta.lastWriteMs ?? 0;
    const persistMeta = lastWriteMs - (current.persistedLastWriteMs ?? 0) >= LAST_WRITE_PERSIST_INTERVAL_MS;
    if (persistMeta) current.persistedLastWriteMs = lastWriteMs;
    await this.chain(`snapshot:${snapshotId}`, async () => {
      await this.store.appendBlockRecords(snapshotId, [{ blockIndex, origin: BlockOrigin.Put, digest }]);
      if (persistMeta) await this.store.writeSnapshotMeta(current.meta);
    });
    return {
      status: 201,
      body: {},
      headers: { 'x-amz-Checksum': digest.toString('base64'), 'x-amz-Checksum-Algorithm': 'SHA256' },
    };
  }

  private async completeSnapshot(snapshotId: string, req: IncomingMessage): Promise<JsonAnswer> {
    requireSnapshotIdFormat(snapshotId);
    const entry = this.snapshots.get(snapshotId);
    if (entry === undefined) throw snapshotNotFound(snapshotId);
    if (
      entry.meta.origin === 'api' &&
      entry.meta.completeAtMs !== undefined &&
      this.statusOf(entry.meta) !== 'error'
    ) {
      return { status: 202, body: { Status: this.statusOf(entry.meta) } };
    }
    const target = this.writableSnapshot(snapshotId);
    const changedBlocksCount = optionalInteger(header(req, 'x-amz-ChangedBlocksCount'), 'ChangedBlocksCount');
    if (changedBlocksCount === undefined || changedBlocksCount < 0) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        'ChangedBlocksCount is required and must be >= 0.',
      );
    }
    const { puts, base } = target.writing;
    if (changedBlocksCount !== puts.size) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `ChangedBlocksCount ${changedBlocksCount} does not match the ${puts.size} blocks written to the snapshot.`,
      );
    }
    const checksum = header(req, 'x-amz-Checksum');
    const algorithm = header(req, 'x-amz-Checksum-Algorithm');
    const aggregation = header(req, 'x-amz-Checksum-Aggregation-Method');
    if (checksum !== undefined || algorithm !== undefined || aggregation !== undefined) {
      if (
        algorithm !== 'SHA256' ||
        aggregation !== 'LINEAR' ||
        checksum === undefined ||
        !CHECKSUM_PATTERN.test(checksum)
      ) {
        throw validationError(
          VALIDATION_REASON.invalidParameterValue,
          'An aggregate checksum needs Checksum, ChecksumAlgorithm SHA256 and ChecksumAggregationMethod LINEAR.',
        );
      }
      if (linearAggregateChecksum(puts) !== checksum) {
        throw validationError(
          VALIDATION_REASON.invalidContentEncoding,
          'The aggregate checksum does not match the checksums of the blocks written.',
        );
      }
    }
    const blocks = BlockMap.fromEntries([...base.entries(), ...puts.entries()]);
    const records: BlockRecord[] = [...blocks.entries()].map(([blockIndex, digest]) => ({
      blockIndex,
      origin: puts.has(blockIndex) ? BlockOrigin.Put : BlockOrigin.Base,
      digest,
    }));
    target.meta.completeAtMs = this.nowMs() + this.completeSnapshotDelayMs;
    target.blocks = blocks;
    (target as SnapshotEntry).writing = undefined;
    await this.chain(`snapshot:${snapshotId}`, async () => {
      await this.store.writeBlockRecords(snapshotId, records);
      await this.store.writeSnapshotMeta(target.meta);
    });
    return { status: 202, body: { Status: 'pending' } };
  }

  // ------------------------------------------------------------------ helpers

  private nowMs(): number {
    return this.clock.now().getTime();
  }

  private statusOf(meta: SnapshotMeta): EbsSnapshotStatus {
    const now = this.nowMs();
    if (meta.completeAtMs !== undefined) return now >= meta.completeAtMs ? 'completed' : 'pending';
    const timeoutMs = (meta.timeoutMinutes ?? DEFAULT_START_SNAPSHOT_TIMEOUT_MINUTES) * 60_000;
    return now > (meta.lastWriteMs ?? meta.startTimeMs) + timeoutMs ? 'error' : 'pending';
  }

  /** Per-snapshot request cap over GetSnapshotBlock/PutSnapshotBlock, counted per clock second. */
  private throttle(snapshotId: string): void {
    const cap = this.faults.perSnapshotRequestsPerSecond;
    if (!Number.isFinite(cap)) return;
    const second = Math.floor(this.nowMs() / 1000);
    const counter = this.requestCounts.get(snapshotId);
    if (counter === undefined || counter.second !== second) {
      this.requestCounts.set(snapshotId, { second, count: 1 });
      return;
    }
    if (counter.count >= cap) {
      throw new EbsApiError(
        'RequestThrottledException',
        `Request rate for snapshot '${snapshotId}' exceeds ${cap} per second.`,
        THROTTLE_REASON.resourceLevelThrottle,
      );
    }
    counter.count += 1;
  }

  private volumeEntry(volumeId: string): VolumeEntry {
    let volume = this.volumes.get(volumeId);
    if (volume === undefined) {
      volume = { state: { volumeId, allocated: [], pendingWrites: [], pendingDiscards: [] } };
      this.volumes.set(volumeId, volume);
    }
    return volume;
  }

  private persistVolume(volume: VolumeEntry): Promise<void> {
    return this.chain(`volume:${volume.state.volumeId}`, () => this.store.writeVolumeState(volume.state));
  }

  /** Runs `work` after every earlier piece of work queued under the same key. */
  private chain(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.persistChains.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.persistChains.set(key, settled);
    void settled.then(() => {
      if (this.persistChains.get(key) === settled) this.persistChains.delete(key);
    });
    return next;
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

  private digestsOf(entry: SnapshotEntry): Set<string> {
    const digests = new Set<string>();
    for (const [, digest] of entry.blocks.entries()) digests.add(digest.toString('hex'));
    if (entry.writing !== undefined) {
      for (const digest of entry.writing.base.values()) digests.add(digest.toString('hex'));
      for (const digest of entry.writing.puts.values()) digests.add(digest.toString('hex'));
    }
    return digests;
  }

  /** Deletes the candidate block contents that no remaining snapshot holds. */
  private async collectGarbage(candidates: Set<string>): Promise<void> {
    // With writers in flight a deleted block could be one they just deduplicated against: skip (a small leak).
    if (this.writersInFlight > 0 || this.garbageCollection !== undefined) return;
    const run = async (): Promise<void> => {
      for (const entry of this.snapshots.values()) {
        for (const digest of this.digestsOf(entry)) candidates.delete(digest);
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
