/** `rbp gc run --json`: the five fields, and what Object Lock kept when it kept anything. */
import { describe, expect, it } from 'vitest';
import { gcSummary } from '../../cli/commands/lifecycle.ts';
import type { GcRun } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';

const run = (counters: Record<string, number>): GcRun => ({
  runId: 'gc-1',
  status: 'complete',
  dryRun: false,
  phase: 'finish',
  chunksLive: 10,
  chunksDeleted: 4,
  segmentsDeleted: 1,
  bytesFreed: 4096,
  counters,
  unreadable: [],
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:01:00.000Z',
});

describe('gc summary', () => {
  it('prints the five fields, and the locked objects and bytes a collection could not delete yet', () => {
    expect(gcSummary(run({ lockedNotDeleted: 0 }))).toEqual({
      status: 'complete',
      chunksLive: 10,
      chunksDeleted: 4,
      segmentsDeleted: 1,
      bytesFreed: 4096,
    });
    expect(gcSummary(run({ lockedNotDeleted: 3, lockedBytes: 3000 }))).toEqual({
      status: 'complete',
      chunksLive: 10,
      chunksDeleted: 4,
      segmentsDeleted: 1,
      bytesFreed: 4096,
      locked: { objects: 3, bytes: 3000 },
    });
  });
});
