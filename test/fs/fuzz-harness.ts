/**
 * The fuzz harness the filesystem fuzz tests share: seeded mutation of an image's metadata regions,
 * the rule that tells our typed errors from bugs, and the loop that runs every mutated image under
 * a time bound and sums the outcomes.
 */
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import { RbpError } from '../../lambdas/core/errors.ts';
import type { FilesystemReader, WalkEntry } from '../../lambdas/core/fs/filesystem.ts';
import { prng } from '../support/fs-images.ts';

/** Per mutated image: generous for the small images, which read in a few tens of ms when intact. */
export const FUZZ_TIME_BOUND_MS = 2000;
/** Mutated copies of each intact image. */
export const FUZZ_MUTATIONS_PER_IMAGE = 90;

/** The baseline the mutations start from: the intact image opens and reads without errors. */
export function expectIntact(name: string, outcome: { opened: boolean; errors: number }): void {
  expect({ name, opened: outcome.opened, errors: outcome.errors }).toEqual({ name, opened: true, errors: 0 });
}

/** The same baseline for a walk: no damage in the walk and no failure reading what it listed. */
export function expectWalkIntact(name: string, outcome: WalkOutcome): void {
  expectIntact(name, { opened: outcome.opened, errors: outcome.walkErrors + outcome.fileErrors });
}

/** A byte range of on-disk metadata, tagged with what it holds. */
export interface Region {
  readonly start: number;
  readonly length: number;
  readonly kind: string;
}

/** An intact image and the metadata regions its mutations hit. */
export interface FuzzTarget {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly regions: readonly Region[];
}

/** 32-bit values a mutation may write (block numbers, counts, sizes: zero, one, the extremes). */
export const EXTREME_VALUES: readonly number[] = [0, 0xffffffff, 0x7fffffff, 1, 2, 11, 12];

export interface MutateOptions {
  /** The 32-bit values written by the third style of mutation. */
  readonly extremes?: readonly number[];
  /** Byte order of those 32-bit writes (XFS is big-endian). */
  readonly littleEndian?: boolean;
}

/**
 * A copy of the target with 1 to 24 bytes or 32-bit fields in its metadata changed, the same for
 * the same seed. A kind is drawn first, then a region of that kind: otherwise the many directory
 * blocks or records drown the rest.
 */
export function mutate(target: FuzzTarget, seed: number, options: MutateOptions = {}): Uint8Array {
  const extremes = options.extremes ?? EXTREME_VALUES;
  const littleEndian = options.littleEndian ?? true;
  const rand = prng(seed);
  const bytes = target.bytes.slice();
  const count = 1 + Math.floor(rand() * 24);
  const kinds = [...new Set(target.regions.map((r) => r.kind))];
  for (let i = 0; i < count; i += 1) {
    const kind = kinds[Math.floor(rand() * kinds.length)]!;
    const ofKind = target.regions.filter((r) => r.kind === kind);
    const region = ofKind[Math.floor(rand() * ofKind.length)]!;
    const at = region.start + Math.floor(rand() * region.length);
    const style = rand();
    if (style < 0.4) bytes[at] = Math.floor(rand() * 256);
    else if (style < 0.7) bytes[at]! ^= 1 << Math.floor(rand() * 8);
    else {
      const value = extremes[Math.floor(rand() * extremes.length)]!;
      const aligned = at - (at % 4);
      new DataView(bytes.buffer).setUint32(aligned, value >>> 0, littleEndian);
    }
  }
  return bytes;
}

/**
 * Records an error that is not one of ours, or one of ours caused by one that is not, in
 * `unexpected` (a bug: the readers must turn every failure into a typed error).
 */
export function checkTyped(unexpected: string[], error: unknown, where: string): void {
  if (!(error instanceof RbpError) || (error.cause instanceof Error && !(error.cause instanceof RbpError))) {
    unexpected.push(`${where}: ${String(error)} ${error instanceof Error ? String(error.cause) : ''}`);
  }
}

/** What exercising one image found; further numeric fields are counters summed over the run. */
export interface FuzzOutcome {
  opened: boolean;
  entries: number;
  unexpected: string[];
}

/** What walking one image found: damage in the walk, and failures reading what it listed. */
export interface WalkOutcome extends FuzzOutcome {
  walkErrors: number;
  fileErrors: number;
}

/** Bytes read of each file (or stream) of a mutated image: enough to reach its mapping's far end. */
export const READ_CAP_BYTES = 256 * 1024;
/** Extents counted of a file: a mutated map may list many; the walk's limits are what is tested. */
const MAX_EXTENTS_COUNTED = 10_000;

export function newWalkOutcome(): WalkOutcome {
  return { opened: false, entries: 0, walkErrors: 0, fileErrors: 0, unexpected: [] };
}

/**
 * Opens an image, walks it and reads what `read` reads of each entry, into `outcome`; any error
 * that is not one of ours is "unexpected" (a bug).
 */
export async function exerciseWalk<F extends FilesystemReader>(
  open: () => Promise<F>,
  read: (fs: F, entry: WalkEntry) => Promise<void>,
  outcome: WalkOutcome = newWalkOutcome(),
): Promise<WalkOutcome> {
  let fs: F;
  try {
    fs = await open();
    outcome.opened = true;
  } catch (error) {
    checkTyped(outcome.unexpected, error, 'open');
    return outcome;
  }
  for await (const item of fs.walk()) {
    if (item.kind === 'error') {
      outcome.walkErrors += 1;
      checkTyped(outcome.unexpected, item.error, `walk ${item.path}`);
      continue;
    }
    outcome.entries += 1;
    try {
      await read(fs, item);
    } catch (error) {
      outcome.fileErrors += 1;
      checkTyped(outcome.unexpected, error, `read ${item.path}`);
    }
  }
  return outcome;
}

/** Reads the first READ_CAP_BYTES of the entry's data. */
export async function readHead(fs: FilesystemReader, entry: WalkEntry): Promise<void> {
  await fs.readFile(entry.inode, 0, Math.min(entry.size, READ_CAP_BYTES));
}

/** Lists the entry's extents, up to MAX_EXTENTS_COUNTED. */
export async function countExtents(fs: FilesystemReader, inode: number): Promise<void> {
  let extents = 0;
  for await (const _ of fs.extents(inode)) if ((extents += 1) > MAX_EXTENTS_COUNTED) break;
}

type Counters<O> = { [K in keyof O as O[K] extends number ? K : never]: number };

export type FuzzTotals<O extends FuzzOutcome> = { images: number; opened: number } & Counters<O>;

export interface FuzzRun<O extends FuzzOutcome> {
  readonly totals: FuzzTotals<O>;
  /** Images that took longer than the time bound, with their time. */
  readonly slow: string[];
  readonly unexpected: string[];
}

/**
 * Exercises `mutations` mutated copies of every target (seed `seed * 7919 + name.length` for the
 * seeds 1..mutations) and sums the outcomes.
 */
export async function runMutations<T extends FuzzTarget, O extends FuzzOutcome>(
  targets: readonly T[],
  settings: {
    readonly mutations: number;
    readonly timeBoundMs: number;
    readonly mutate?: (target: T) => MutateOptions;
  },
  exercise: (target: T, bytes: Uint8Array, seed: number) => Promise<O>,
): Promise<FuzzRun<O>> {
  const totals: Record<string, number> = { images: 0, opened: 0 };
  const slow: string[] = [];
  const unexpected: string[] = [];
  for (const target of targets) {
    for (let seed = 1; seed <= settings.mutations; seed += 1) {
      const started = performance.now();
      const outcome = await exercise(
        target,
        mutate(target, seed * 7919 + target.name.length, settings.mutate?.(target)),
        seed,
      );
      const elapsed = performance.now() - started;
      if (elapsed > settings.timeBoundMs) slow.push(`${target.name} seed ${seed}: ${Math.round(elapsed)} ms`);
      unexpected.push(...outcome.unexpected.map((u) => `${target.name} seed ${seed}: ${u}`));
      totals.images! += 1;
      totals.opened! += outcome.opened ? 1 : 0;
      for (const [key, value] of Object.entries(outcome)) {
        if (typeof value === 'number') totals[key] = (totals[key] ?? 0) + value;
      }
    }
  }
  return { totals: totals as FuzzTotals<O>, slow, unexpected };
}
