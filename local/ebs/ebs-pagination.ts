/**
 * Which blocks one page of ListSnapshotBlocks / ListChangedBlocks holds, and where the next page
 * starts. Pure functions over block maps.
 *
 * A page ends at whichever comes first:
 * - `limit` blocks (ListSnapshotBlocks) or `limit` examined candidates (ListChangedBlocks: a block
 *   held by either snapshot, changed or not; this gives the empty pages the user guide describes for
 *   a 1,000-block parent and a child that changed only block 999, listed 100 at a time);
 * - `window` block indexes scanned, so a big sparse volume yields empty pages that still carry a
 *   NextToken, as EBS answers for sparse snapshots: a client must follow NextToken, not stop at an
 *   empty page (https://docs.aws.amazon.com/ebs/latest/userguide/readsnapshots.html).
 * There is a next page only while a block (or candidate) remains at or after its start.
 */
import type { BlockMap } from './ebs-block-map.ts';

export interface PageBounds {
  /** First block index of the page. */
  readonly start: number;
  /** Largest number of blocks (candidates) on the page. */
  readonly limit: number;
  /** Largest number of block indexes the page scans. */
  readonly window: number;
  /** Block indexes of the volume: nothing at or past this index exists. */
  readonly totalBlocks: number;
}

export interface ListedBlock {
  readonly blockIndex: number;
  readonly digest: Buffer;
}

export interface ChangedBlockEntry {
  readonly blockIndex: number;
  /** Absent when the first snapshot does not hold the block. */
  readonly firstDigest?: Buffer;
  /** Absent when the second snapshot does not hold the block. */
  readonly secondDigest?: Buffer;
}

export interface Page<T> {
  readonly entries: T[];
  /** Start of the next page; absent on the last page. */
  readonly nextStart?: number;
}

function windowEnd(bounds: PageBounds): number {
  return Math.min(bounds.start + bounds.window, bounds.totalBlocks);
}

function firstIndexAtOrAfter(map: BlockMap | undefined, blockIndex: number): number {
  if (map === undefined) return Number.POSITIVE_INFINITY;
  const position = map.lowerBound(blockIndex);
  return position < map.size ? map.indexAt(position) : Number.POSITIVE_INFINITY;
}

function nextStartIfAnyRemains(
  nextStart: number,
  totalBlocks: number,
  maps: readonly (BlockMap | undefined)[],
): number | undefined {
  const remaining = Math.min(...maps.map((map) => firstIndexAtOrAfter(map, nextStart)));
  return remaining < totalBlocks ? nextStart : undefined;
}

export function snapshotBlocksPage(map: BlockMap, bounds: PageBounds): Page<ListedBlock> {
  const end = windowEnd(bounds);
  const entries: ListedBlock[] = [];
  for (let position = map.lowerBound(bounds.start); position < map.size; position += 1) {
    const blockIndex = map.indexAt(position);
    if (blockIndex >= end || entries.length === bounds.limit) break;
    entries.push({ blockIndex, digest: map.digestAt(position) });
  }
  const last = entries.at(-1);
  const nextStart = entries.length === bounds.limit && last !== undefined ? last.blockIndex + 1 : end;
  return { entries, nextStart: nextStartIfAnyRemains(nextStart, bounds.totalBlocks, [map]) };
}

/** `first` undefined: every block of `second` counts as changed (ListChangedBlocks without FirstSnapshotId). */
export function changedBlocksPage(
  first: BlockMap | undefined,
  second: BlockMap,
  bounds: PageBounds,
): Page<ChangedBlockEntry> {
  const end = windowEnd(bounds);
  const entries: ChangedBlockEntry[] = [];
  let firstPosition = first === undefined ? 0 : first.lowerBound(bounds.start);
  let secondPosition = second.lowerBound(bounds.start);
  let examined = 0;
  let lastExamined = -1;
  while (examined < bounds.limit) {
    const firstIndex =
      first !== undefined && firstPosition < first.size
        ? first.indexAt(firstPosition)
        : Number.POSITIVE_INFINITY;
    const secondIndex =
      secondPosition < second.size ? second.indexAt(secondPosition) : Number.POSITIVE_INFINITY;
    const blockIndex = Math.min(firstIndex, secondIndex);
    if (blockIndex >= end) break;
    const firstDigest =
      firstIndex === blockIndex && first !== undefined ? first.digestAt(firstPosition) : undefined;
    const secondDigest = secondIndex === blockIndex ? second.digestAt(secondPosition) : undefined;
    if (firstDigest !== undefined) firstPosition += 1;
    if (secondDigest !== undefined) secondPosition += 1;
    examined += 1;
    lastExamined = blockIndex;
    if (firstDigest === undefined || secondDigest === undefined || !firstDigest.equals(secondDigest)) {
      entries.push({ blockIndex, firstDigest, secondDigest });
    }
  }
  const nextStart = examined === bounds.limit ? lastExamined + 1 : end;
  return { entries, nextStart: nextStartIfAnyRemains(nextStart, bounds.totalBlocks, [first, second]) };
}
