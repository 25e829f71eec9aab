/**
 * What the CLI prints: aligned tables for people, JSON for scripts (`--json`), and progress on a
 * terminal (a redrawn line on stderr; plain lines when stderr is not a TTY, so logs stay readable).
 */
import type { Writable } from 'node:stream';
import { displayWidth, padToWidth, truncateToWidth } from './text-width.ts';

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string | number | undefined;
  /** Right-align (numbers). */
  readonly right?: boolean;
}

/** Widest cell (in terminal columns) printed before it is cut with an ellipsis: keeps rows on one line of a wide terminal. */
export const MAX_CELL_CHARS = 80;

function cell(value: string | number | undefined): string {
  const text = value === undefined ? '-' : String(value);
  const oneLine = text.replace(/[\r\n\t]/g, ' ');
  return truncateToWidth(oneLine, MAX_CELL_CHARS);
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((column) => cell(column.value(row))));
  const widths = columns.map((column, index) =>
    Math.max(displayWidth(column.header), ...cells.map((r) => displayWidth(r[index]!))),
  );
  const line = (values: readonly string[]) =>
    values
      .map((value, index) => padToWidth(value, widths[index]!, columns[index]!.right === true))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

export function formatBytes(bytes: number | undefined): string | undefined {
  if (bytes === undefined) return undefined;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export interface Printer {
  readonly json: boolean;
  /** JSON mode: the value as JSON; table mode: the table. */
  result<T>(value: unknown, rows: readonly T[], columns: readonly Column<T>[]): void;
  /** JSON mode: the value as JSON; otherwise the text. */
  message(value: unknown, text: string): void;
}

export function printer(json: boolean, out: Writable = process.stdout): Printer {
  return {
    json,
    result(value, rows, columns) {
      out.write(
        json
          ? `${JSON.stringify(value, null, 2)}\n`
          : rows.length === 0
            ? '(none)\n'
            : renderTable(rows, columns),
      );
    },
    message(value, text) {
      out.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
    },
  };
}

/** Least time between two plain progress lines: one every few seconds is enough for a log. */
export const PLAIN_PROGRESS_INTERVAL_MS = 5_000;
/** Width of the bar drawn on a terminal. */
const BAR_WIDTH = 30;

export interface Progress {
  /** `done`/`total` in the progress' unit (bytes for downloads); total undefined when unknown. */
  update(label: string, done?: number, total?: number): void;
  finish(label: string): void;
}

export function progress(
  stream: NodeJS.WriteStream | Writable = process.stderr,
  now: () => number = Date.now,
): Progress {
  const tty = 'isTTY' in stream && stream.isTTY === true;
  let lastPlain = -Infinity;
  let lastLabel = '';
  const text = (label: string, done?: number, total?: number) => {
    if (done === undefined) return label;
    if (total === undefined || total <= 0) return `${label} ${formatBytes(done)}`;
    const fraction = Math.min(1, done / total);
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = tty ? ` [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]` : '';
    return `${label}${bar} ${(fraction * 100).toFixed(0)}% ${formatBytes(done)}/${formatBytes(total)}`;
  };
  return {
    update(label, done, total) {
      if (tty) {
        stream.write(`\r\x1b[2K${text(label, done, total)}`);
        return;
      }
      if (label !== lastLabel || now() - lastPlain >= PLAIN_PROGRESS_INTERVAL_MS) {
        stream.write(`${text(label, done, total)}\n`);
        lastPlain = now();
        lastLabel = label;
      }
    },
    finish(label) {
      stream.write(tty ? `\r\x1b[2K${label}\n` : `${label}\n`);
    },
  };
}
