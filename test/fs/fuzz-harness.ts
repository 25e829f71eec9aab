/**
 * The fuzz harness the filesystem fuzz tests share: seeded mutation of an image's metadata regions,
 * the rule that tells our typed errors from bugs, and the loop that runs every mutated image under
 * a time bound and sums the outcomes.
 */
import { performance } from 'node:perf_hooks';
import { RbpError } from '../../lambdas/core/errors.ts';
import { prng } from '../support/fs-images.ts';

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
