/**
 * The fuzz harness the filesystem fuzz tests share: seeded mutation of an image's metadata regions,
 * the rule that tells our typed errors from bugs, and the loop that runs every mutated image under
 * a CPU-time bound (with a wall-clock backstop) and sums the outcomes.
 *
 * The images are read from memory, so walking one is CPU work: its CPU time is what the code
 * costs, while its wall time also counts the waits for a core on a loaded machine. The CPU time is
 * the process's (process.cpuUsage: user + system of every thread); vitest runs each test file in a
 * process of its own (the forks pool) and the tests of a file one at a time, so it is this image's.
 * https://nodejs.org/api/process.html#processcpuusagepreviousvalue
 */
import { performance } from 'node:perf_hooks';
import { expect, it } from 'vitest';
import { RbpError } from '../../lambdas/core/errors.ts';
import type { FilesystemReader, WalkEntry } from '../../lambdas/core/fs/filesystem.ts';
import { prng } from '../support/fs-images.ts';

/** CPU time per mutated image: generous for the small images, which read in a few tens of ms when intact. */
export const FUZZ_CPU_BOUND_MS = 2000;
/** Wall time per mutated image: catches a walk awaiting what never settles (no CPU), far above load's stretch. */
export const FUZZ_WALL_BACKSTOP_MS = 10 * FUZZ_CPU_BOUND_MS;
/** Mutated copies of each intact image. */
export const FUZZ_MUTATIONS_PER_IMAGE = 90;
/**
 * Wall time for a whole mutation run (a few hundred images): each image is bounded by its CPU
 * above, so this only has to outlast a machine loaded many times over (a 270-image XFS run took
 * 98 s at a load average of 13 on 2 cores, past vitest's default 60 s).
 */
export const FUZZ_RUN_TIMEOUT_MS = 300_000;

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
    checkCpuBound();
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
  /** Images that hit the CPU bound or the wall-clock backstop: which one, the image, the seed, the times. */
  readonly slow: string[];
  readonly unexpected: string[];
}

/** The bounds of the image being exercised, and when it started. */
interface ImageClock {
  readonly cpuBoundMs: number;
  readonly cpuStart: NodeJS.CpuUsage;
  readonly wallStart: number;
}

let current: ImageClock | undefined;

function cpuMs(clock: ImageClock): number {
  const used = process.cpuUsage(clock.cpuStart);
  return (used.user + used.system) / 1000;
}

/** Thrown out of a walk that has used up its image's CPU bound, so an endless walk ends. */
class CpuBoundHit extends Error {
  constructor(readonly cpuMs: number) {
    super(`CPU bound hit during the walk: ${Math.round(cpuMs)} ms of CPU`);
  }
}

/**
 * Ends the walk of the image being exercised if it has used more CPU than its bound: a walk that
 * never ends (say, around a directory cycle) uses CPU all along and is cut here, entry by entry.
 */
function checkCpuBound(): void {
  if (current !== undefined) {
    const used = cpuMs(current);
    if (used > current.cpuBoundMs) throw new CpuBoundHit(used);
  }
}

type Exercised<O> = { kind: 'done'; outcome: O } | { kind: 'cpu'; cpuMs: number } | { kind: 'stuck' };

/** Runs one exercise under the bounds; a walk stuck past the backstop is left behind, unsettled. */
async function exerciseBounded<O>(
  bounds: { readonly cpuBoundMs: number; readonly wallBackstopMs: number },
  exercise: () => Promise<O>,
): Promise<Exercised<O>> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<Exercised<O>>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'stuck' }), bounds.wallBackstopMs);
  });
  const done = exercise().then(
    (outcome): Exercised<O> => ({ kind: 'done', outcome }),
    (error: unknown): Exercised<O> => {
      if (error instanceof CpuBoundHit) return { kind: 'cpu', cpuMs: error.cpuMs };
      throw error;
    },
  );
  try {
    return await Promise.race([done, stuck]);
  } finally {
    clearTimeout(timer);
  }
}

/** How many mutated copies of each target, their bounds, and how each target is mutated. */
export interface MutationSettings<T extends FuzzTarget> {
  readonly mutations: number;
  readonly cpuBoundMs?: number;
  readonly wallBackstopMs?: number;
  readonly mutate?: (target: T) => MutateOptions;
}

/**
 * Exercises `mutations` mutated copies of every target (seed `seed * 7919 + name.length` for the
 * seeds 1..mutations) and sums the outcomes. Each image is bounded by the CPU time it uses
 * (`cpuBoundMs`, FUZZ_CPU_BOUND_MS unless given; exerciseWalk also ends a walk that passes it) and
 * by a wall-clock backstop (`wallBackstopMs`, FUZZ_WALL_BACKSTOP_MS unless given).
 */
export async function runMutations<T extends FuzzTarget, O extends FuzzOutcome>(
  targets: readonly T[],
  settings: MutationSettings<T>,
  exercise: (target: T, bytes: Uint8Array, seed: number) => Promise<O>,
): Promise<FuzzRun<O>> {
  const bounds = {
    cpuBoundMs: settings.cpuBoundMs ?? FUZZ_CPU_BOUND_MS,
    wallBackstopMs: settings.wallBackstopMs ?? FUZZ_WALL_BACKSTOP_MS,
  };
  const totals: Record<string, number> = { images: 0, opened: 0 };
  const slow: string[] = [];
  const unexpected: string[] = [];
  for (const target of targets) {
    for (let seed = 1; seed <= settings.mutations; seed += 1) {
      const bytes = mutate(target, seed * 7919 + target.name.length, settings.mutate?.(target));
      const clock: ImageClock = {
        cpuBoundMs: bounds.cpuBoundMs,
        cpuStart: process.cpuUsage(),
        wallStart: performance.now(),
      };
      current = clock;
      let result: Exercised<O>;
      try {
        result = await exerciseBounded(bounds, () => exercise(target, bytes, seed));
      } finally {
        current = undefined;
      }
      const cpu = Math.round(result.kind === 'cpu' ? result.cpuMs : cpuMs(clock));
      const wall = Math.round(performance.now() - clock.wallStart);
      const image = `${target.name} seed ${seed}`;
      totals.images! += 1;
      if (result.kind === 'stuck') {
        slow.push(
          `${image}: wall-clock backstop hit: unsettled after ${wall} ms > ${bounds.wallBackstopMs} ms (${cpu} ms of CPU)`,
        );
        continue;
      }
      if (result.kind === 'cpu') {
        slow.push(
          `${image}: CPU bound hit: walk ended at ${cpu} ms of CPU > ${bounds.cpuBoundMs} ms (${wall} ms wall)`,
        );
        continue;
      }
      if (cpu > bounds.cpuBoundMs) {
        slow.push(`${image}: CPU bound hit: ${cpu} ms of CPU > ${bounds.cpuBoundMs} ms (${wall} ms wall)`);
      } else if (wall > bounds.wallBackstopMs) {
        slow.push(
          `${image}: wall-clock backstop hit: ${wall} ms > ${bounds.wallBackstopMs} ms (${cpu} ms of CPU)`,
        );
      }
      const outcome = result.outcome;
      unexpected.push(...outcome.unexpected.map((u) => `${image}: ${u}`));
      totals.opened! += outcome.opened ? 1 : 0;
      for (const [key, value] of Object.entries(outcome)) {
        if (typeof value === 'number') totals[key] = (totals[key] ?? 0) + value;
      }
    }
  }
  return { totals: totals as FuzzTotals<O>, slow, unexpected };
}

/** A fuzz test's own numbers: what a run over its targets must show for the mutations to have bitten. */
export interface MutationsBite<O extends FuzzOutcome> {
  /** Images exercised (read when the test runs, after beforeAll has built the targets). */
  readonly images: () => number;
  /** The images found damaged, counted from the totals. */
  readonly damaged: (totals: FuzzTotals<O>) => number;
  /** More than one image in this many is found damaged. */
  readonly damagedMoreThanOneIn: number;
}

/**
 * The mutation test of a filesystem's fuzz suite: runs the mutations (runMutations), logs the
 * totals under `label`, and asserts that no image was slow or failed with an error not ours, and
 * that the mutations did bite: `bite.images()` images, more than a quarter of them still open, and
 * damage found and reported in more than one in `bite.damagedMoreThanOneIn`.
 */
export function itFinishesEveryMutatedImage<T extends FuzzTarget, O extends FuzzOutcome>(
  label: string,
  targets: readonly T[],
  settings: MutationSettings<T>,
  exercise: (target: T, bytes: Uint8Array, seed: number) => Promise<O>,
  bite: MutationsBite<O>,
): void {
  it(
    `every mutated image finishes within ${FUZZ_CPU_BOUND_MS} ms of CPU with results or typed errors`,
    async () => {
      const { totals, slow, unexpected } = await runMutations(targets, settings, exercise);
      console.log(`${label}: ${JSON.stringify(totals)}`);
      expect(slow).toEqual([]);
      expect(unexpected).toEqual([]);
      // The mutations did bite: some images still open, and damage was found and reported.
      expect(totals.images).toBe(bite.images());
      expect(totals.opened).toBeGreaterThan(totals.images / 4);
      expect(bite.damaged(totals)).toBeGreaterThan(totals.images / bite.damagedMoreThanOneIn);
    },
    FUZZ_RUN_TIMEOUT_MS,
  );
}
