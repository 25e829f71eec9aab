/**
 * Volume-restore memory (issue 12, "memory does not grow with the volume size"): the same sparse
 * data (16 non-zero chunks, spread evenly) on a modelled 64 GiB and a 16 TiB volume, restored with
 * the in-memory ports in a child process with --expose-gc (volume-restore-memory-child.ts). What
 * Plan Restore, each Restore Range and Complete Restore hold is the heap in use at their port calls
 * after a full GC, beyond what was in use before the step.
 *
 * What grew with the volume before (2026-12-04): Plan Restore and each Restore Range loaded the
 * image manifest, whose segment list has one hash per GiB of the volume: parsed, 5.4 KB at 64 GiB
 * and 1.44 MB at 16 TiB (about 88 bytes per GiB), so both held 1.4 MB more at 16 TiB. Now Plan
 * Restore reads the manifest in pieces (volume-restore-manifest.ts) and writes each range's hashes
 * to a range object, which is all a range worker reads: every step holds within HEAP_BOUND_BYTES of
 * what it holds at 64 GiB, and less than one parsed 16 TiB manifest.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBenchChild } from '../../bench/bench-child.ts';
import type { VolumeRestoreMemory, VolumeRestoreMemoryTask } from './volume-restore-memory-child.ts';

const CHILD = fileURLToPath(new URL('./volume-restore-memory-child.ts', import.meta.url));
/**
 * V8's optimising compilers off in the child: their code lives in the heap, and how much of it
 * there is depends on how long the hot functions ran (a plan that parses a 16 TiB manifest runs its
 * parser 250 times as long as one of 64 GiB), which moved the plan's figure by up to 80 KB between
 * runs; the interpreter alone makes the figures repeat to the byte, so they compare data.
 */
const NO_OPTIMISING_COMPILERS = ['--max-opt=0'];
/** Non-zero chunks: 16 spread over 64 GiB fall in 16 different 4 GiB ranges, as over 16 TiB. */
const DATA_CHUNKS = 16;
/**
 * How much more a step may hold at 16 TiB than at 64 GiB: what the heap in use varies by between
 * two measurements of the same state (V8's own allocations), and under the 1.4 MB a whole parsed
 * manifest added.
 */
const HEAP_BOUND_BYTES = 64 * 1024;

async function measured(volumeGiB: number): Promise<VolumeRestoreMemory> {
  const task: VolumeRestoreMemoryTask = { volumeGiB, dataChunks: DATA_CHUNKS };
  const outcome = await runBenchChild<VolumeRestoreMemory>(CHILD, 'RBP_VOLUME_RESTORE_MEMORY_CHILD', task, {
    nodeArgs: ['--expose-gc', ...NO_OPTIMISING_COMPILERS],
    timeoutMs: 240_000,
  });
  if (outcome.result === undefined) {
    throw new Error(`child failed (exit ${outcome.code}): ${outcome.stderr.slice(-2000)}`);
  }
  return outcome.result;
}

describe('volume restore memory against the volume size', () => {
  it('plans and restores a 16 TiB sparse volume holding what a 64 GiB one holds, manifest included', async () => {
    const small = await measured(64);
    const large = await measured(16 * 1024);
    expect(small.manifestSegments).toBe(64);
    expect(large.manifestSegments).toBe(16_384);
    // The same data: every non-zero chunk's two blocks put, one range (4 GiB) per chunk.
    expect([small.blocksPut, large.blocksPut]).toEqual([2 * DATA_CHUNKS, 2 * DATA_CHUNKS]);
    expect([small.rangeItems, large.rangeItems]).toEqual([DATA_CHUNKS, DATA_CHUNKS]);
    // A parsed manifest's segment list: about 100 bytes per GiB of the volume (what no step holds now).
    expect(large.manifestHeapBytes - small.manifestHeapBytes).toBeGreaterThan(16_320 * 64);
    expect(large.manifestHeapBytes - small.manifestHeapBytes).toBeLessThan(16_320 * 128);
    for (const step of ['planHeldBytes', 'rangeHeldBytes', 'completeHeldBytes'] as const) {
      expect(large[step], step).toBeLessThan(small[step] + HEAP_BOUND_BYTES);
      expect(large[step], step).toBeLessThan(large.manifestHeapBytes);
    }
  }, 300_000);
});
