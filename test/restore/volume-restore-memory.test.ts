/**
 * Volume-restore memory (issue 12, "memory does not grow with the volume size"): the same sparse
 * data (16 non-zero chunks, spread evenly) on a modelled 64 GiB and a 16 TiB volume, restored with
 * the in-memory ports in a child process with --expose-gc (volume-restore-memory-child.ts). What
 * Plan Restore, each Restore Range and Complete Restore hold is the heap in use at their port calls
 * after a full GC, beyond what was in use before the step.
 *
 * Measured (2026-12-04): Plan Restore and each Restore Range load the image manifest, whose
 * segment list has one hash per GiB of the volume: parsed, 5.4 KB at 64 GiB and 1.44 MB at 16 TiB
 * (about 88 bytes per GiB). Beyond it they hold the same at both sizes (plan 21 and 31 KB, a range
 * worker 49 and 51 KB); Complete Restore, which reads no manifest, 57 and 55 KB. So what grows with
 * the volume is the manifest's segment list alone (5.6 MB at EBS's largest volume, 64 TiB).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runBenchChild } from '../../bench/bench-child.ts';
import type { VolumeRestoreMemory, VolumeRestoreMemoryTask } from './volume-restore-memory-child.ts';

const CHILD = fileURLToPath(new URL('./volume-restore-memory-child.ts', import.meta.url));
/** Non-zero chunks: 16 spread over 64 GiB fall in 16 different 4 GiB ranges, as over 16 TiB. */
const DATA_CHUNKS = 16;
/** What the heap in use varies by between two measurements of the same state (V8's own allocations). */
const HEAP_NOISE_BYTES = 64 * 1024;

async function measured(volumeGiB: number): Promise<VolumeRestoreMemory> {
  const task: VolumeRestoreMemoryTask = { volumeGiB, dataChunks: DATA_CHUNKS };
  const outcome = await runBenchChild<VolumeRestoreMemory>(CHILD, 'RBP_VOLUME_RESTORE_MEMORY_CHILD', task, {
    nodeArgs: ['--expose-gc'],
    timeoutMs: 240_000,
  });
  if (outcome.result === undefined) {
    throw new Error(`child failed (exit ${outcome.code}): ${outcome.stderr.slice(-2000)}`);
  }
  return outcome.result;
}

describe('volume restore memory against the volume size', () => {
  it('plans and restores a 16 TiB sparse volume holding what a 64 GiB one holds, plus its manifest', async () => {
    const small = await measured(64);
    const large = await measured(16 * 1024);
    expect(small.manifestSegments).toBe(64);
    expect(large.manifestSegments).toBe(16_384);
    // The same data: every non-zero chunk's two blocks put, one range (4 GiB) per chunk.
    expect([small.blocksPut, large.blocksPut]).toEqual([2 * DATA_CHUNKS, 2 * DATA_CHUNKS]);
    expect([small.rangeItems, large.rangeItems]).toEqual([DATA_CHUNKS, DATA_CHUNKS]);
    // The parsed manifest's segment list: about 100 bytes per GiB of the volume.
    expect(large.manifestHeapBytes - small.manifestHeapBytes).toBeGreaterThan(16_320 * 64);
    expect(large.manifestHeapBytes - small.manifestHeapBytes).toBeLessThan(16_320 * 128);
    // Plan Restore and a range worker hold one manifest and otherwise the same; Complete Restore no manifest.
    for (const step of ['planHeldBytes', 'rangeHeldBytes'] as const) {
      expect(large[step] - large.manifestHeapBytes, step).toBeLessThan(
        small[step] - small.manifestHeapBytes + HEAP_NOISE_BYTES,
      );
      expect(large[step], step).toBeGreaterThan(large.manifestHeapBytes);
    }
    expect(large.completeHeldBytes).toBeLessThan(small.completeHeldBytes + HEAP_NOISE_BYTES);
    expect(large.completeHeldBytes).toBeLessThan(large.manifestHeapBytes);
  }, 300_000);
});
