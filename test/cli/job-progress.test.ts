/**
 * The CLI's progress line of running jobs (cli/api/job-progress.ts): the exact text, a redrawn
 * line on a terminal, and without one a line per phase change or per interval.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  historyItems,
  jobProgress,
  progressLine,
  shortTime,
} from '../../cli/api/job-progress.ts';

function sink(isTTY: boolean): PassThrough & { isTTY: boolean; text(): string } {
  const stream = new PassThrough() as PassThrough & { isTTY: boolean; text(): string };
  stream.isTTY = isTTY;
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.text = () => Buffer.concat(chunks).toString('utf8');
  return stream;
}

describe('progress line', () => {
  it('shows ranges, blocks, bytes, throughput and ETA', () => {
    expect(
      progressLine('backup bk-1: RUNNING — Copy Ranges', {
        rangesDone: 2,
        rangesTotal: 3,
        blocksCopied: 150,
        bytesCopied: 150 * 524_288,
        throughputBytesPerSecond: 1_966_080,
        etaSeconds: 65,
        exact: true,
      }),
    ).toBe('backup bk-1: RUNNING — Copy Ranges · 2/3 ranges · 150 blocks (75.0 MiB) · 1.9 MiB/s · ETA 1m05s');
    expect(
      progressLine('restore rs-1: RUNNING', {
        segmentsDone: 3,
        segmentsTotal: 8,
        exact: false,
        blocksCopied: 7,
        bytesCopied: 7 * 524_288,
      }),
    ).toBe('restore rs-1: RUNNING · 3/8 segments · ~7 blocks (3.5 MiB)');
    expect(progressLine('backup bk-1: RUNNING — Wait For Snapshots', undefined)).toBe(
      'backup bk-1: RUNNING — Wait For Snapshots',
    );
    expect([7, 65, 3725].map(formatDuration)).toEqual(['7s', '1m05s', '1h02m05s']);
  });

  it('redraws one line on a terminal', () => {
    const tty = sink(true);
    const p = jobProgress(tty, () => 0);
    p.update('a · 1/3 ranges');
    p.update('a · 2/3 ranges');
    p.finish('done');
    expect(tty.text()).toBe('\r\x1b[2Ka · 1/3 ranges\r\x1b[2Ka · 2/3 ranges\r\x1b[2Kdone\n');
  });

  it('without a terminal, writes a line when the phase changes, else one per interval', () => {
    const plain = sink(false);
    let now = 0;
    const p = jobProgress(plain, () => now, 5_000);
    p.update('backup: RUNNING — Copy Ranges · 1/9 ranges');
    now = 1_000;
    p.update('backup: RUNNING — Copy Ranges · 2/9 ranges'); // same phase, too soon
    now = 2_000;
    p.update('backup: RUNNING — Commit Image'); // new phase
    now = 3_000;
    p.update('backup: RUNNING — Commit Image');
    now = 7_500;
    p.update('backup: RUNNING — Commit Image'); // interval passed
    p.finish('backup: SUCCEEDED');
    expect(plain.text().split('\n')).toEqual([
      'backup: RUNNING — Copy Ranges · 1/9 ranges',
      'backup: RUNNING — Commit Image',
      'backup: RUNNING — Commit Image',
      'backup: SUCCEEDED',
      '',
    ]);
  });
});

describe('history listing', () => {
  it('follows cursors through short (filtered) pages until the limit, and says when there is more', async () => {
    const pages: Record<string, { items: number[]; nextCursor?: string }> = {
      '': { items: [1], nextCursor: 'a' },
      a: { items: [], nextCursor: 'b' },
      b: { items: [2, 3, 4], nextCursor: 'c' },
      c: { items: [5] },
    };
    const asked: Record<string, unknown>[] = [];
    const get = (query: Record<string, string | number | undefined>) => {
      asked.push(query);
      return Promise.resolve(pages[String(query['cursor'] ?? '')]!);
    };
    expect(await historyItems(get, { status: 'FAILED' }, 3, 50)).toEqual({ items: [1, 2, 3], more: true });
    expect(asked).toEqual([
      { status: 'FAILED', limit: 3 },
      { status: 'FAILED', limit: 2, cursor: 'a' },
      { status: 'FAILED', limit: 2, cursor: 'b' },
    ]);
    expect(await historyItems(get, {}, 10, 2)).toEqual({ items: [1, 2, 3, 4, 5], more: false });
    expect(shortTime('2026-12-03T08:01:02.345Z')).toBe('2026-12-03 08:01:02');
  });
});
