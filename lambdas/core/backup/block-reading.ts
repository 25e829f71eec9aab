/**
 * Listing and reading EBS blocks for one range: paging to the range end, pacing reads through the
 * per-snapshot request budget, and verifying every block (algorithm, length, SHA-256) with a
 * bounded number of re-reads before failing loudly.
 */
import { IntegrityError, ThrottledError, isRetryable } from '../errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';
import { sha256 } from '../image/hashing.ts';
import type { RetryPolicy } from '../util/retry.ts';
import { withRetry } from '../util/retry.ts';
import type { BlockPage, ChangedBlock, ListedBlock, SnapshotBlockReader } from './snapshot-ports.ts';

/** The largest page the list APIs allow: fewest list calls (50/s per account, not adjustable). */
export const EBS_LIST_MAX_RESULTS = 10_000;
/** Reads of one block whose data fails verification before the range fails: corruption in transit is rare. */
export const BLOCK_INTEGRITY_ATTEMPTS = 3;

export interface RequestPacer {
  acquire(): Promise<void>;
}

export interface BlockCounters {
  listRequests: number;
  readRequests: number;
  /** Reads that returned verified data. */
  blocksRead: number;
  retries: number;
  /** Retries of requests EBS throttled (absorbed by the backoff, reported in metrics). */
  throttled: number;
  integrityFailures: number;
}

export function newBlockCounters(): BlockCounters {
  return { listRequests: 0, readRequests: 0, blocksRead: 0, retries: 0, throttled: 0, integrityFailures: 0 };
}

/** Counts a retry, and a throttle separately. */
function countRetry(counters: BlockCounters, error: unknown): void {
  counters.retries += 1;
  if (error instanceof ThrottledError) counters.throttled += 1;
}

export interface ListingContext {
  readonly ebs: SnapshotBlockReader;
  readonly retry: RetryPolicy;
  readonly listPacer: RequestPacer;
  readonly counters: BlockCounters;
  readonly maxResults?: number;
}

/** Where a list call starts: the first page from the range start, later pages from the token. */
type PageStart = { startingBlockIndex: number } | { nextToken: string };

/**
 * Pages one list API (ListSnapshotBlocks or ListChangedBlocks) under the list budget and returns
 * the blocks in [firstBlock, endBlock), in index order; stops at the first page that passes the end.
 */
async function listRange<T extends { readonly blockIndex: number }>(
  ctx: ListingContext,
  firstBlock: number,
  endBlock: number,
  listPage: (paging: { maxResults: number } & PageStart) => Promise<BlockPage<T>>,
): Promise<{ blocks: T[]; volumeSizeGib: number }> {
  const blocks: T[] = [];
  let nextToken: string | undefined;
  let volumeSizeGib: number;
  do {
    const token = nextToken;
    const page = await withRetry(
      ctx.retry,
      async () => {
        await ctx.listPacer.acquire();
        ctx.counters.listRequests += 1;
        return listPage({
          maxResults: ctx.maxResults ?? EBS_LIST_MAX_RESULTS,
          ...(token === undefined ? { startingBlockIndex: firstBlock } : { nextToken: token }),
        });
      },
      { onRetry: (error) => countRetry(ctx.counters, error) },
    );
    volumeSizeGib = page.volumeSizeGib;
    let pastEnd = false;
    for (const block of page.blocks) {
      if (block.blockIndex >= endBlock) {
        pastEnd = true;
        break;
      }
      if (block.blockIndex >= firstBlock) blocks.push(block);
    }
    nextToken = pastEnd ? undefined : page.nextToken;
  } while (nextToken !== undefined);
  return { blocks, volumeSizeGib };
}

/** Every written block in [firstBlock, endBlock) of a snapshot, in index order. */
export function listRangeBlocks(
  ctx: ListingContext,
  snapshotId: string,
  firstBlock: number,
  endBlock: number,
): Promise<{ blocks: ListedBlock[]; volumeSizeGib: number }> {
  return listRange(ctx, firstBlock, endBlock, (paging) =>
    ctx.ebs.listSnapshotBlocks({ snapshotId, ...paging }),
  );
}

/** Every changed block in [firstBlock, endBlock) between two snapshots, in index order. */
export function listRangeChangedBlocks(
  ctx: ListingContext,
  firstSnapshotId: string,
  secondSnapshotId: string,
  firstBlock: number,
  endBlock: number,
): Promise<{ blocks: ChangedBlock[]; volumeSizeGib: number }> {
  return listRange(ctx, firstBlock, endBlock, (paging) =>
    ctx.ebs.listChangedBlocks({ firstSnapshotId, secondSnapshotId, ...paging }),
  );
}

export interface VerifiedBlock {
  /** Always 524,288 bytes: a short block is padded with zeros, as the volume reads. */
  readonly data: Buffer;
  /** SHA-256 of `data` (the EBS checksum itself for a full-length block). */
  readonly digest: Buffer;
}

export interface ReadingContext {
  readonly ebs: SnapshotBlockReader;
  readonly retry: RetryPolicy;
  readonly readPacer: RequestPacer;
  readonly counters: BlockCounters;
  readonly integrityAttempts?: number;
}

function verifyBlock(
  snapshotId: string,
  blockIndex: number,
  block: { data: Uint8Array; dataLength: number; checksum: string; checksumAlgorithm: string },
): VerifiedBlock {
  const context = { snapshotId, blockIndex, dataLength: block.dataLength, bodyLength: block.data.length };
  if (block.checksumAlgorithm !== 'SHA256') {
    throw new IntegrityError(
      `block ${blockIndex} of ${snapshotId} has checksum algorithm ${block.checksumAlgorithm}`,
      {
        context,
      },
    );
  }
  if (
    !(block.dataLength > 0 && block.dataLength <= EBS_BLOCK_SIZE_BYTES) ||
    block.data.length !== block.dataLength
  ) {
    throw new IntegrityError(
      `block ${blockIndex} of ${snapshotId} has ${block.data.length} bytes for a declared length of ${block.dataLength}`,
      { context },
    );
  }
  const digest = sha256(block.data);
  if (digest.toString('base64') !== block.checksum) {
    throw new IntegrityError(`block ${blockIndex} of ${snapshotId} does not match its SHA-256 checksum`, {
      context: { ...context, expected: block.checksum, actual: digest.toString('base64') },
    });
  }
  if (block.dataLength === EBS_BLOCK_SIZE_BYTES) {
    return { data: Buffer.from(block.data.buffer, block.data.byteOffset, block.data.byteLength), digest };
  }
  const padded = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
  padded.set(block.data);
  return { data: padded, digest: sha256(padded) };
}

/** GetSnapshotBlock under the request budget, verified; re-read on a mismatch, then fail loudly. */
export function readVerifiedBlock(
  ctx: ReadingContext,
  snapshotId: string,
  blockIndex: number,
  blockToken: string,
): Promise<VerifiedBlock> {
  const integrityAttempts = ctx.integrityAttempts ?? BLOCK_INTEGRITY_ATTEMPTS;
  let integrityFailures = 0;
  return withRetry(
    ctx.retry,
    async () => {
      await ctx.readPacer.acquire();
      ctx.counters.readRequests += 1;
      const block = await ctx.ebs.getSnapshotBlock({ snapshotId, blockIndex, blockToken });
      const verified = verifyBlock(snapshotId, blockIndex, block);
      ctx.counters.blocksRead += 1;
      return verified;
    },
    {
      shouldRetry: (error) => {
        if (error instanceof IntegrityError) {
          integrityFailures += 1;
          ctx.counters.integrityFailures += 1;
          return integrityFailures < integrityAttempts;
        }
        return isRetryable(error);
      },
      onRetry: (error) => countRetry(ctx.counters, error),
    },
  );
}
