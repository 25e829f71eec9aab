/** The DURATION and byte columns of `rbp backup ls` and `rbp restore ls`. */
import { describe, expect, it } from 'vitest';
import { bytesColumn, durationColumn } from '../../cli/commands/history-columns.ts';

interface Job {
  readonly durationSeconds?: number;
  readonly elapsedSeconds?: number;
  readonly bytes?: number;
}

describe('durationColumn', () => {
  const withElapsed = durationColumn<Job>(
    (job) => job.durationSeconds,
    (job) => job.elapsedSeconds,
  );
  const finishedOnly = durationColumn<Job>((job) => job.durationSeconds);

  it('shows a finished duration, a running time so far with "+", or nothing', () => {
    expect(withElapsed.header).toBe('DURATION');
    expect(withElapsed.right).toBe(true);
    expect(withElapsed.value({ durationSeconds: 3725, elapsedSeconds: 10 })).toBe('1h02m05s');
    expect(withElapsed.value({ elapsedSeconds: 75 })).toBe('1m15s+');
    expect(withElapsed.value({})).toBeUndefined();
  });

  it('without an elapsed reader, a running job has no duration', () => {
    expect(finishedOnly.value({ durationSeconds: 9 })).toBe('9s');
    expect(finishedOnly.value({ elapsedSeconds: 75 })).toBeUndefined();
  });
});

describe('bytesColumn', () => {
  it('formats bytes right-aligned under its header', () => {
    const column = bytesColumn<Job>('COPIED', (job) => job.bytes);
    expect(column.header).toBe('COPIED');
    expect(column.right).toBe(true);
    expect(column.value({ bytes: 3 * 1024 * 1024 })).toBe('3.0 MiB');
    expect(column.value({})).toBeUndefined();
  });
});
