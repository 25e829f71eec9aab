/**
 * The range worker: copies the blocks of one block-index range of a snapshot into the chunk store
 * and writes the range's segment tables. One Distributed Map item per range; the item carries only
 * indexes and ids, never block tokens: a token expires (ListSnapshotBlocks returns its ExpiryTime,
 * https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListSnapshotBlocks.html), and a retried or
 * redriven item must list again.
 *
 *   list the range (ListSnapshotBlocks, or ListChangedBlocks against the parent snapshot)
 *   for each chunk with a listed block, with bounded concurrency:
 *     each half: read + verify it | zeros (not listed in a full read, or vanished) | the parent's half
 *     name = SHA-256(half digest 1 || half digest 2); all zeros → zero entry
 *     same name as the parent's entry here → nothing to write; else conditional PUT
 *     a name the item lists in `repair` (quarantined by the scrub) → unconditional PUT, read
 *     back and verified, then its quarantine entry cleared (never the parent's entry, never
 *     "already stored")
 *   segment tables: the base (parent's entries, or zeros) with the new entries; untouched segments
 *   keep the parent's hash without being read or written
 *
 * Idempotent: the same item always yields the same segment hashes; a re-run after a crash finds its
 * chunks and segments already stored (conditional PUT answers 412) and duplicates nothing.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import { EBS_BLOCKS_PER_CHUNK, EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../geometry.ts';
import {
  DIGEST_BYTES,
  HEX_HASH_PATTERN,
  ZERO_CHUNK_CONTENT_NAME,
  ZERO_HALF_DIGEST,
  chunkNameFromDigests,
  isZeroHash,
} from '../image/hashing.ts';
import type { DecodedChunk } from '../image/image-format.ts';
import type { ImageStore, StoredObject } from '../image/image-store.ts';
import type { ChunkQuarantine } from '../lifecycle/chunk-quarantine.ts';
import type { ImageManifest, ImageStats } from '../image/image-types.ts';
import {
  EMPTY_IMAGE_STATS,
  SEGMENT_BLOCKS,
  SEGMENT_CHUNKS,
  segmentEntryCount,
} from '../image/image-types.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';
import type { RetryPolicy } from '../util/retry.ts';
import { DEFAULT_RETRY_POLICY } from '../util/retry.ts';
import type { BlockCounters, RequestPacer, VerifiedBlock } from './block-reading.ts';
import {
  listRangeBlocks,
  listRangeChangedBlocks,
  newBlockCounters,
  readVerifiedBlock,
} from './block-reading.ts';
import type { SnapshotBlockReader } from './snapshot-ports.ts';
import { SnapshotNotFoundError, SnapshotValidationError } from './snapshot-ports.ts';

/** Chunks a worker processes at once: 2 reads each, so 64 GetSnapshotBlock in flight, ~640/s at 100 ms. */
export const CHUNKS_IN_FLIGHT = 32;
/**
 * Listings one block may need because its token expired: block tokens live seven days
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-faq.html), so a second expiry of the same
 * block within one range means something else is wrong.
 */
export const MAX_TOKEN_RELISTS_PER_BLOCK = 2;

/** EBS's answer to GetSnapshotBlock with an expired (or otherwise invalid) block token. */
function isExpiredBlockToken(error: unknown): boolean {
  return error instanceof SnapshotValidationError && error.reason === 'INVALID_BLOCK_TOKEN';
}

/** One Distributed Map item (written by Plan Backup to the work bucket, read by the Map's ItemReader). */
export const rangeWorkItemSchema = z
  .object({
    volumeId: z.string().min(1),
    imageId: z.string().min(1),
    snapshotId: z.string().min(1),
    /** With parentImageId: read only the changes since this snapshot. */
    parentSnapshotId: z.string().min(1).optional(),
    /** The parent image: the base of an incremental, and known chunks that need no write. */
    parentImageId: z.string().min(1).optional(),
    /** First EBS block index of the range; a multiple of SEGMENT_BLOCKS (2,048). */
    firstBlock: z.number().int().min(0),
    /** One past the last block; a multiple of SEGMENT_BLOCKS, or the volume's end. */
    endBlock: z.number().int().min(1),
    /** Chunk names in the scrub's quarantine (chunk-quarantine.ts): written again when the range yields them. */
    repair: z.array(z.string().regex(HEX_HASH_PATTERN)).optional(),
  })
  .strict();
export type RangeWorkItem = z.infer<typeof rangeWorkItemSchema>;

export type RangeMode = 'full' | 'incremental';

/** What a worker returns: small, whatever the range size. */
export interface RangeSummary {
  readonly firstBlock: number;
  readonly endBlock: number;
  readonly mode: RangeMode;
  /** Why the range was read in full although a parent snapshot was given. */
  readonly fullReadReason?: string;
  readonly volumeSizeBytes: number;
  /** Index of the first segment of the range; `segments` are its hashes in order. */
  readonly firstSegment: number;
  readonly segments: readonly string[];
  readonly stats: ImageStats;
  /** Quarantined chunks this range wrote again and verified (absent: none); counted in chunksCreated. */
  readonly repaired?: readonly string[];
  readonly requests: {
    readonly list: number;
    readonly read: number;
    readonly retries: number;
    /** Listings again from the first unread block because block tokens had expired (absent: none). */
    readonly relists?: number;
    /** Of the retries, those EBS throttled (absent in summaries written before it was counted). */
    readonly throttled?: number;
    /** Block reads whose data failed verification (re-read, never stored). */
    readonly integrityFailures: number;
  };
}

export interface RangeWorkerDeps {
  readonly ebs: SnapshotBlockReader;
  readonly images: ImageStore;
  /** Paces GetSnapshotBlock: this worker's share of the per-snapshot request budget. */
  readonly readPacer: RequestPacer;
  /** Paces list calls (50/s per account). */
  readonly listPacer: RequestPacer;
  /** Where a repaired chunk's entry is cleared; absent: entries stay until the scrub clears them. */
  readonly quarantine?: Pick<ChunkQuarantine, 'clear'>;
}

export interface RangeWorkerConfig {
  readonly chunksInFlight?: number;
  readonly listMaxResults?: number;
  readonly integrityAttempts?: number;
  readonly retry?: RetryPolicy;
  /** The parent manifest when the caller already has it (saves one GET per range). */
  readonly parentManifest?: ImageManifest;
}

/** A block to read, with the listing (generation) its token came from. */
type HalfSource = { kind: 'read'; token: string; generation: number } | { kind: 'zero' } | { kind: 'parent' };

type MutableStats = { -readonly [K in keyof ImageStats]: number };

function validateItem(item: RangeWorkItem): void {
  const context = { firstBlock: item.firstBlock, endBlock: item.endBlock, volumeId: item.volumeId };
  if (!Number.isInteger(item.firstBlock) || item.firstBlock < 0 || item.firstBlock % SEGMENT_BLOCKS !== 0) {
    throw new ValidationError(
      `range start ${item.firstBlock} is not a multiple of ${SEGMENT_BLOCKS} blocks`,
      { context },
    );
  }
  if (!Number.isInteger(item.endBlock) || item.endBlock <= item.firstBlock) {
    throw new ValidationError(`range end ${item.endBlock} is not after its start ${item.firstBlock}`, {
      context,
    });
  }
  if (item.parentSnapshotId !== undefined && item.parentImageId === undefined) {
    throw new ValidationError('an incremental range needs the parent image, not only the parent snapshot', {
      context,
    });
  }
}

export async function copyRange(
  item: RangeWorkItem,
  deps: RangeWorkerDeps,
  config: RangeWorkerConfig = {},
): Promise<RangeSummary> {
  validateItem(item);
  const retry = config.retry ?? DEFAULT_RETRY_POLICY;
  const counters: BlockCounters = newBlockCounters();
  const listing = {
    ebs: deps.ebs,
    retry,
    listPacer: deps.listPacer,
    counters,
    ...(config.listMaxResults === undefined ? {} : { maxResults: config.listMaxResults }),
  };
  const parent =
    config.parentManifest ??
    (item.parentImageId === undefined
      ? undefined
      : await deps.images.getManifest(item.volumeId, item.parentImageId));

  // 1. What changed in the range.
  let mode: RangeMode = item.parentSnapshotId !== undefined ? 'incremental' : 'full';
  let fullReadReason: string | undefined;
  const sources = new Map<number, HalfSource>();
  let volumeSizeGib: number | undefined;
  if (mode === 'incremental') {
    try {
      const changed = await listRangeChangedBlocks(
        listing,
        item.parentSnapshotId!,
        item.snapshotId,
        item.firstBlock,
        item.endBlock,
      );
      volumeSizeGib = changed.volumeSizeGib;
      if (parent !== undefined && parent.volumeSizeBytes !== volumeSizeGib * GIB_BYTES) {
        fullReadReason = 'VOLUME_SIZE_CHANGED';
      } else {
        for (const block of changed.blocks) {
          sources.set(
            block.blockIndex,
            block.secondBlockToken === undefined
              ? { kind: 'zero' }
              : { kind: 'read', token: block.secondBlockToken, generation: 0 },
          );
        }
      }
    } catch (error) {
      if (error instanceof SnapshotValidationError && error.reason === 'UNRELATED_SNAPSHOTS') {
        fullReadReason = 'UNRELATED_SNAPSHOTS';
      } else if (error instanceof SnapshotNotFoundError) {
        fullReadReason = 'PARENT_SNAPSHOT_NOT_FOUND';
      } else throw error;
    }
    if (fullReadReason !== undefined) {
      mode = 'full';
      sources.clear();
    }
  }
  if (mode === 'full') {
    const listed = await listRangeBlocks(listing, item.snapshotId, item.firstBlock, item.endBlock);
    volumeSizeGib = listed.volumeSizeGib;
    for (const block of listed.blocks)
      sources.set(block.blockIndex, { kind: 'read', token: block.blockToken, generation: 0 });
  }
  const volumeSizeBytes = volumeSizeGib! * GIB_BYTES;
  const volumeBlocks = volumeSizeBytes / EBS_BLOCK_SIZE_BYTES;
  const endBlock = Math.min(item.endBlock, volumeBlocks);
  if (item.firstBlock >= volumeBlocks) {
    throw new ValidationError(
      `range ${item.firstBlock}..${item.endBlock} starts past the volume end ${volumeBlocks}`,
      {
        context: { volumeId: item.volumeId, snapshotId: item.snapshotId },
      },
    );
  }
  if (endBlock < item.endBlock && item.endBlock % SEGMENT_BLOCKS !== 0 && endBlock !== volumeBlocks) {
    throw new ValidationError(`range end ${item.endBlock} is neither a segment boundary nor the volume end`);
  }
  const sameGeometryParent =
    parent !== undefined && parent.volumeSizeBytes === volumeSizeBytes ? parent : undefined;
  const parentForEntries =
    parent !== undefined && parent.volumeSizeBytes <= volumeSizeBytes ? parent : undefined;

  // 2. Segment tables: the base of each segment in the range.
  const firstSegment = item.firstBlock / SEGMENT_BLOCKS;
  const endSegment = Math.ceil(endBlock / SEGMENT_BLOCKS);
  const touchedChunks = [
    ...new Set([...sources.keys()].map((b) => Math.floor(b / EBS_BLOCKS_PER_CHUNK))),
  ].sort((a, b) => a - b);
  const touchedSegments = new Set(touchedChunks.map((c) => Math.floor(c / SEGMENT_CHUNKS)));
  const stats: MutableStats = { ...EMPTY_IMAGE_STATS };
  stats.blocksListed = sources.size;
  stats.blocksVanished = [...sources.values()].filter((s) => s.kind === 'zero').length;

  const parentTables = new Map<number, Buffer>();
  const newTables = new Map<number, Buffer>();
  for (const segment of touchedSegments) {
    const entryCount = segmentEntryCount(volumeSizeBytes, segment);
    let parentEntries: Buffer | undefined;
    if (parentForEntries !== undefined && segment < parentForEntries.segments.length) {
      const parentCount = segmentEntryCount(parentForEntries.volumeSizeBytes, segment);
      const loaded = await deps.images.getSegment(parentForEntries.segments[segment]!, parentCount);
      parentEntries = Buffer.alloc(entryCount * DIGEST_BYTES);
      loaded.copy(parentEntries, 0, 0, Math.min(loaded.length, parentEntries.length));
      parentTables.set(segment, parentEntries);
    }
    const base = mode === 'incremental' && parentEntries !== undefined ? parentEntries : undefined;
    newTables.set(segment, base === undefined ? Buffer.alloc(entryCount * DIGEST_BYTES) : Buffer.from(base));
  }
  const parentEntryOf = (chunk: number): Buffer | undefined => {
    const table = parentTables.get(Math.floor(chunk / SEGMENT_CHUNKS));
    if (table === undefined) return undefined;
    const offset = (chunk % SEGMENT_CHUNKS) * DIGEST_BYTES;
    return table.subarray(offset, offset + DIGEST_BYTES);
  };

  // 3. Chunks. A block token that expired inside a long range is listed again, once for all the
  // reads that hold tokens of that listing, from the first block not yet read to the range end.
  const unread = new Set<number>();
  for (const [blockIndex, source] of sources) if (source.kind === 'read') unread.add(blockIndex);
  let generation = 0;
  let relists = 0;
  let relisting: Promise<void> | undefined;
  const relistFrom = async (failedGeneration: number): Promise<void> => {
    if (failedGeneration < generation) return; // a newer listing already holds fresh tokens
    relisting ??= (async () => {
      const first = Math.min(...unread);
      const next = generation + 1;
      if (mode === 'incremental') {
        const changed = await listRangeChangedBlocks(
          listing,
          item.parentSnapshotId!,
          item.snapshotId,
          first,
          item.endBlock,
        );
        for (const block of changed.blocks) {
          if (unread.has(block.blockIndex) && block.secondBlockToken !== undefined)
            sources.set(block.blockIndex, { kind: 'read', token: block.secondBlockToken, generation: next });
        }
      } else {
        const listed = await listRangeBlocks(listing, item.snapshotId, first, item.endBlock);
        for (const block of listed.blocks) {
          if (unread.has(block.blockIndex))
            sources.set(block.blockIndex, { kind: 'read', token: block.blockToken, generation: next });
        }
      }
      relists += 1;
      generation = next;
    })().finally(() => (relisting = undefined));
    await relisting;
  };
  const readListedBlock = async (blockIndex: number): Promise<VerifiedBlock> => {
    for (let relisted = 0; ; relisted += 1) {
      const source = sources.get(blockIndex) as { token: string; generation: number };
      try {
        const block = await readVerifiedBlock(reading, item.snapshotId, blockIndex, source.token);
        unread.delete(blockIndex);
        return block;
      } catch (error) {
        if (!isExpiredBlockToken(error) || relisted >= MAX_TOKEN_RELISTS_PER_BLOCK) throw error;
        await relistFrom(source.generation);
      }
    }
  };
  const reading = {
    ebs: deps.ebs,
    retry,
    readPacer: deps.readPacer,
    counters,
    ...(config.integrityAttempts === undefined ? {} : { integrityAttempts: config.integrityAttempts }),
  };
  // A quarantined name is written once per range, however many of its chunks hold it.
  const repairSet = new Set(item.repair ?? []);
  const repairs = new Map<string, Promise<StoredObject>>();
  const repair = (name: string, data: Buffer): Promise<StoredObject> => {
    let done = repairs.get(name);
    if (done === undefined) {
      done = deps.images.repairChunk(name, data).then(async (stored) => {
        await deps.quarantine?.clear(name);
        return stored;
      });
      repairs.set(name, done);
    }
    return done;
  };
  await mapWithConcurrency(touchedChunks, config.chunksInFlight ?? CHUNKS_IN_FLIGHT, async (chunk) => {
    const parentEntry = parentEntryOf(chunk);
    let parentChunk: Promise<DecodedChunk> | undefined;
    const parentHalf = async (half: 0 | 1): Promise<VerifiedBlock> => {
      if (parentEntry === undefined || parentEntry.every((b) => b === 0)) {
        return { data: Buffer.alloc(EBS_BLOCK_SIZE_BYTES), digest: ZERO_HALF_DIGEST };
      }
      parentChunk ??= deps.images.getChunk(parentEntry.toString('hex'));
      const decoded = await parentChunk;
      const data = decoded.data.subarray(half * EBS_BLOCK_SIZE_BYTES, (half + 1) * EBS_BLOCK_SIZE_BYTES);
      return { data, digest: decoded.halfDigests[half] };
    };
    const halves = await Promise.all(
      ([0, 1] as const).map(async (half): Promise<VerifiedBlock> => {
        const blockIndex = chunk * EBS_BLOCKS_PER_CHUNK + half;
        const source: HalfSource =
          blockIndex >= volumeBlocks
            ? { kind: 'zero' }
            : (sources.get(blockIndex) ?? (mode === 'incremental' ? { kind: 'parent' } : { kind: 'zero' }));
        if (source.kind === 'read') return readListedBlock(blockIndex);
        if (source.kind === 'parent') return parentHalf(half);
        return { data: Buffer.alloc(EBS_BLOCK_SIZE_BYTES), digest: ZERO_HALF_DIGEST };
      }),
    );
    const [first, second] = halves as [VerifiedBlock, VerifiedBlock];
    const name = chunkNameFromDigests(first.digest, second.digest);
    const table = newTables.get(Math.floor(chunk / SEGMENT_CHUNKS))!;
    const offset = (chunk % SEGMENT_CHUNKS) * DIGEST_BYTES;
    if (name === ZERO_CHUNK_CONTENT_NAME) {
      table.fill(0, offset, offset + DIGEST_BYTES);
      return;
    }
    table.write(name, offset, 'hex');
    if (repairSet.has(name)) {
      const fresh = !repairs.has(name);
      const stored = await repair(name, Buffer.concat([first.data, second.data]));
      if (fresh) {
        stats.chunksCreated += 1;
        stats.bytesCreated += stored.bytes;
      } else stats.chunksAlreadyStored += 1;
      return;
    }
    if (parentEntry !== undefined && parentEntry.toString('hex') === name) {
      stats.chunksReusedFromParent += 1;
      return;
    }
    const stored = await deps.images.putChunk(name, Buffer.concat([first.data, second.data]));
    if (stored.result === 'created') {
      stats.chunksCreated += 1;
      stats.bytesCreated += stored.bytes;
    } else stats.chunksAlreadyStored += 1;
  });

  // 4. Segments, in order.
  const segments: string[] = [];
  for (let segment = firstSegment; segment < endSegment; segment += 1) {
    const table = newTables.get(segment);
    if (table === undefined) {
      const inherited =
        mode === 'incremental' && sameGeometryParent !== undefined
          ? sameGeometryParent.segments[segment]!
          : undefined;
      if (inherited !== undefined && !isZeroHash(inherited)) stats.segmentsReused += 1;
      segments.push(inherited ?? '0'.repeat(DIGEST_BYTES * 2));
      continue;
    }
    const written = await deps.images.putSegment(table);
    if (written.stored?.result === 'created') stats.segmentsCreated += 1;
    segments.push(written.hash);
  }
  stats.blocksRead = counters.blocksRead;

  return {
    firstBlock: item.firstBlock,
    endBlock,
    mode,
    ...(fullReadReason === undefined ? {} : { fullReadReason }),
    volumeSizeBytes,
    firstSegment,
    segments,
    stats,
    ...(repairs.size === 0 ? {} : { repaired: [...repairs.keys()].sort() }),
    requests: {
      list: counters.listRequests,
      read: counters.readRequests,
      retries: counters.retries,
      ...(relists === 0 ? {} : { relists }),
      throttled: counters.throttled,
      integrityFailures: counters.integrityFailures,
    },
  };
}
