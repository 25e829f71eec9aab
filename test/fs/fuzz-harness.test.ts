/**
 * The fuzz harness's bounds: an image is held to the CPU time it uses, a walk that never ends is
 * cut at that bound, and one awaiting what never settles is caught by the wall-clock backstop;
 * each hit names the bound, the image and the seed.
 */
import { describe, expect, it } from 'vitest';
import type { FilesystemReader, WalkEntry, WalkItem } from '../../lambdas/core/fs/filesystem.ts';
import * as fuzz from './fuzz-harness.ts';

/** Small bounds, so each case takes a fraction of a second. */
const CPU_BOUND_MS = 50;
const WALL_BACKSTOP_MS = 300;

const target: fuzz.FuzzTarget = {
  name: 'tiny',
  bytes: new Uint8Array(64),
  regions: [{ start: 0, length: 64, kind: 'x' }],
};

function busy(ms: number): void {
  const start = process.cpuUsage();
  while (process.cpuUsage(start).user / 1000 < ms) {
    // spin: CPU work, as a walk of an image in memory is
  }
}

/**
 * A reader whose walk lists the same entry `count` times, 1 ms of CPU each, forever if not given
 * (a directory cycle nothing stops).
 */
function endlessWalk(count = Infinity): FilesystemReader {
  const entry = { kind: 'file', path: '/loop', inode: 1, size: 0 } as unknown as WalkEntry;
  return {
    async *walk(): AsyncGenerator<WalkItem> {
      for (let i = 0; i < count; i += 1) {
        // A read from memory: a settled promise, so no timer gets a turn while this walk runs.
        await Promise.resolve();
        busy(1);
        yield entry;
      }
    },
  } as unknown as FilesystemReader;
}

const bounds = { mutations: 2, cpuBoundMs: CPU_BOUND_MS, wallBackstopMs: WALL_BACKSTOP_MS };

describe('fuzz harness bounds', () => {
  it('an image that finishes under the CPU bound passes, however long it sleeps below the backstop', async () => {
    const run = await fuzz.runMutations([target], bounds, async () => {
      await new Promise((resolve) => setTimeout(resolve, 2 * CPU_BOUND_MS));
      return { opened: true, entries: 3, unexpected: [] };
    });
    expect(run.slow).toEqual([]);
    expect(run.totals).toEqual({ images: 2, opened: 2, entries: 6 });
  });

  it('an image that uses more CPU than the bound is reported with the bound, the image and the seed', async () => {
    const run = await fuzz.runMutations([target], { ...bounds, mutations: 1 }, () => {
      busy(2 * CPU_BOUND_MS);
      return Promise.resolve({ opened: true, entries: 0, unexpected: [] });
    });
    expect(run.slow).toHaveLength(1);
    expect(run.slow[0]).toMatch(/^tiny seed 1: CPU bound hit: \d+ ms of CPU > 50 ms \(\d+ ms wall\)$/);
  });

  it('a walk that never ends is cut at the CPU bound', async () => {
    const run = await fuzz.runMutations([target], { ...bounds, mutations: 1 }, () =>
      fuzz.exerciseWalk(
        () => Promise.resolve(endlessWalk()),
        () => Promise.resolve(),
      ),
    );
    expect(run.slow).toHaveLength(1);
    expect(run.slow[0]).toMatch(
      /^tiny seed 1: CPU bound hit: walk ended at \d+ ms of CPU > 50 ms \(\d+ ms wall\)$/,
    );
    expect(run.totals.images).toBe(1);
  });

  it('an image awaiting what never settles is caught by the wall-clock backstop, and the run goes on', async () => {
    const run = await fuzz.runMutations([target], bounds, (_t, _b, seed) =>
      seed === 1
        ? new Promise<never>(() => {})
        : Promise.resolve({ opened: true, entries: 1, unexpected: [] }),
    );
    expect(run.slow).toHaveLength(1);
    expect(run.slow[0]).toMatch(
      /^tiny seed 1: wall-clock backstop hit: unsettled after \d+ ms > 300 ms \(\d+ ms of CPU\)$/,
    );
    expect(run.totals).toEqual({ images: 2, opened: 1, entries: 1 });
  });

  it('the bounds the fuzz tests use: 2 s of CPU, 10 times that of wall time', () => {
    expect([fuzz.FUZZ_CPU_BOUND_MS, fuzz.FUZZ_WALL_BACKSTOP_MS]).toEqual([2000, 20_000]);
  });

  it('the walk is not cut outside runMutations (the intact baselines)', async () => {
    const outcome = await fuzz.exerciseWalk(
      () => Promise.resolve(endlessWalk(2 * CPU_BOUND_MS)),
      () => Promise.resolve(),
    );
    expect(outcome).toEqual({ ...fuzz.newWalkOutcome(), opened: true, entries: 2 * CPU_BOUND_MS });
  });
});
