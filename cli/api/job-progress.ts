/**
 * The progress line of a running backup or restore while `--wait` runs, and in `status`: ranges
 * (or segments) done of total, blocks and bytes copied, throughput and an ETA. On a terminal the
 * line is redrawn in place on stderr; otherwise (a log, CI) one plain line is written when the
 * phase (status and step) changes and at most one every PLAIN_PROGRESS_INTERVAL_MS in between.
 */
import type { Writable } from 'node:stream';
import { InvalidArgumentError } from 'commander';
import { formatBytes, PLAIN_PROGRESS_INTERVAL_MS, type Progress } from './output.ts';

/** What the progress line shows; the API's `progress` field of a backup or a restore. */
export interface ProgressFigures {
  readonly rangesDone?: number;
  readonly rangesTotal?: number;
  readonly segmentsDone?: number;
  readonly segmentsTotal?: number;
  readonly blocksCopied?: number;
  readonly bytesCopied?: number;
  readonly throughputBytesPerSecond?: number;
  readonly etaSeconds?: number;
  readonly exact?: boolean;
  /** File, directory and application restores: bytes of the result stored so far. */
  readonly bytesWritten?: number;
  /** File, directory and application restores: worker invocations used so far. */
  readonly invocations?: number;
}

/** `3725` → `1h02m05s`, `65` → `1m05s`, `7` → `7s`. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m${pad(s)}s`;
  if (m > 0) return `${m}m${pad(s)}s`;
  return `${s}s`;
}

/**
 * The figures part of the line: `12/40 ranges · 96 blocks (48.0 MiB) · 12.0 MiB/s · ETA 25s`, or a
 * file restore's `24.0 MiB written · 2 invocations`.
 */
export function progressFigures(progress: ProgressFigures | undefined): string {
  if (progress === undefined) return '';
  const parts: string[] = [];
  if (progress.rangesTotal !== undefined)
    parts.push(`${progress.rangesDone ?? 0}/${progress.rangesTotal} ranges`);
  if (progress.segmentsTotal !== undefined)
    parts.push(`${progress.segmentsDone ?? 0}/${progress.segmentsTotal} segments`);
  if (progress.blocksCopied !== undefined) {
    const approx = progress.exact === false ? '~' : '';
    parts.push(`${approx}${progress.blocksCopied} blocks (${formatBytes(progress.bytesCopied ?? 0)})`);
  } else if (progress.bytesCopied !== undefined) {
    parts.push(formatBytes(progress.bytesCopied)!);
  }
  if (progress.bytesWritten !== undefined) parts.push(`${formatBytes(progress.bytesWritten)} written`);
  if (progress.invocations !== undefined)
    parts.push(`${progress.invocations} invocation${progress.invocations === 1 ? '' : 's'}`);
  if (progress.throughputBytesPerSecond !== undefined)
    parts.push(`${formatBytes(progress.throughputBytesPerSecond)}/s`);
  if (progress.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  return parts.join(' · ');
}

/** Separates the phase (what a plain log line repeats on change) from the figures. */
export const PHASE_SEPARATOR = ' · ';

/** `backup bk-1: RUNNING — Copy Ranges · 12/40 ranges · …`. */
export function progressLine(phase: string, progress: ProgressFigures | undefined): string {
  const figures = progressFigures(progress);
  return figures === '' ? phase : `${phase}${PHASE_SEPARATOR}${figures}`;
}

/**
 * A Progress for job lines: redrawn on a terminal; without one, a line when the phase (the text
 * before the first PHASE_SEPARATOR) changes, else at most one every `intervalMs`.
 */
export function jobProgress(
  stream: NodeJS.WriteStream | Writable = process.stderr,
  now: () => number = Date.now,
  intervalMs: number = PLAIN_PROGRESS_INTERVAL_MS,
): Progress {
  const tty = 'isTTY' in stream && stream.isTTY === true;
  let lastPlain = -Infinity;
  let lastPhase: string | undefined;
  return {
    update(label) {
      if (tty) {
        stream.write(`\r\x1b[2K${label}`);
        return;
      }
      const phase = label.split(PHASE_SEPARATOR)[0];
      if (phase !== lastPhase || now() - lastPlain >= intervalMs) {
        stream.write(`${label}\n`);
        lastPlain = now();
        lastPhase = phase;
      }
    },
    finish(label) {
      stream.write(tty ? `\r\x1b[2K${label}\n` : `${label}\n`);
    },
  };
}

/** Items `rbp backup ls` / `rbp restore ls` show unless `--limit` says otherwise. */
export const DEFAULT_HISTORY_ITEMS = 20;

interface HistoryPage<T> {
  readonly items: readonly T[];
  readonly nextCursor?: string;
}

/**
 * Up to `limit` items of a history listing, newest first, following the API's cursors (a filtered
 * page may be short); `more` when the listing goes on.
 */
export async function historyItems<T>(
  get: (query: Record<string, string | number | undefined>) => Promise<HistoryPage<T>>,
  query: Readonly<Record<string, string | number | undefined>>,
  limit: number,
  pageLimit: number,
): Promise<{ items: T[]; more: boolean }> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await get({
      ...query,
      limit: Math.min(pageLimit, limit - items.length),
      ...(cursor === undefined ? {} : { cursor }),
    });
    items.push(...page.items.slice(0, limit - items.length));
    cursor = page.nextCursor;
  } while (cursor !== undefined && items.length < limit);
  return { items, more: cursor !== undefined };
}

/** ISO instant → `2026-12-03 08:01:02` (UTC), as tables show times. */
export function shortTime(iso: string | undefined): string | undefined {
  return iso === undefined ? undefined : iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '');
}

/** `--limit N` of the history listings: a positive integer. */
export function parseHistoryLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw new InvalidArgumentError('not a positive integer');
  return n;
}
