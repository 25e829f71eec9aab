/**
 * What the filesystem-reader suites (bench/suites/fs*.ts) share: running a tool such as `fls` or
 * `icat` with its output counted, walking an image with one of this project's readers, and the
 * comparison of a reader's walk against `fls -r -m` on the same image.
 *
 * The comparison is made fair on a noisy shared machine: one untimed walk and one untimed `fls`
 * first (both then read the image from the same warm page cache, and the walk's code is compiled,
 * as it is a few thousand entries into any real catalog walk), then pairs of timed runs, the order
 * within a pair alternating, so that a change of load hits both sides alike. Each pair gives a
 * ratio; the median is the figure and the minimum is reported beside it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { FilesystemReader } from '../lambdas/core/fs/filesystem.ts';
import type { ByteRangeReader } from '../lambdas/core/ports.ts';
import { FileByteRangeReader } from '../test/support/file-byte-range-reader.ts';
import { prng, randomBytes } from '../test/support/fs-images.ts';
import type { BenchResult } from './harness.ts';
import { round } from './harness.ts';

/** The goal of every reader's walk: at least half of The Sleuth Kit's rate (TSK is C). */
export const WALK_GOAL_RATIO = 0.5;
/** Timed pairs (walk, fls) after the warm-up pair: an odd count, so the median is one pair's ratio. */
export const WALK_PAIRS = 5;

const MIB = 1024 * 1024;
/** The real-tree images of the NTFS and XFS benches. */
export const REAL_TREE = {
  /** The trees copied in when present (about 50,000 files between them). */
  sources: ['/usr/lib/python3', '/usr/share/perl5', path.resolve('node_modules/@aws-sdk')],
  imageBytes: 2048 * MIB,
  /** Best of this many reads of the large file (a noisy 2-core machine). */
  readRuns: 3,
} as const;
/** The issue asks for files over 100 MiB in the end-to-end images: one per image, read for throughput. */
export const LARGE_FILE_BYTES = 160 * MIB;

/** Writes LARGE_FILE_BYTES of seeded random bytes to `file` (through a mounted filesystem). */
export async function writeLargeFile(file: string): Promise<void> {
  const handle = await open(file, 'w');
  try {
    const rand = prng(160);
    for (let at = 0; at < LARGE_FILE_BYTES; at += 4 * MIB) await handle.write(randomBytes(rand, 4 * MIB));
  } finally {
    await handle.close();
  }
}

/** One sequential read of /large.bin through readFileStream: its wall time, bytes and inode. */
export async function readLargeFile(
  image: string,
  opener: Opener,
): Promise<{ ms: number; bytes: number; inode: number }> {
  const reader = await FileByteRangeReader.open(image);
  try {
    const fs = await opener(reader);
    const inode = await fs.lookup('/large.bin');
    const started = performance.now();
    let bytes = 0;
    for await (const piece of fs.readFileStream(inode)) bytes += piece.length;
    return { ms: performance.now() - started, bytes, inode };
  } finally {
    await reader.close();
  }
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time (user + system, ms) of this process's children that have ended, from /proc/self/stat's
 * cutime and cstime (fields 16 and 17; proc(5)); undefined where there is no /proc.
 */
function childrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}

export interface ToolRun {
  readonly ms: number;
  /** CPU time of the tool (user + system, 10 ms resolution), where /proc gives it. */
  readonly cpuMs?: number;
  /** Lines of stdout, without those containing `skip`. */
  readonly lines: number;
  readonly bytes: number;
}

/**
 * Runs a tool, counting its stdout's lines (leaving out lines that contain `skip`) and bytes;
 * returns the wall time. `fls -m` on NTFS prints each file twice, once more for its $FILE_NAME times.
 */
export async function timedTool(command: string, args: readonly string[], skip?: string): Promise<ToolRun> {
  const started = performance.now();
  const cpuBefore = childrenCpuMs();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let lines = 0;
    let bytes = 0;
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (skip === undefined) {
        for (const byte of chunk) if (byte === 0x0a) lines += 1;
        return;
      }
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop()!;
      for (const line of parts) if (!line.includes(skip)) lines += 1;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const cpuAfter = childrenCpuMs();
      if (code !== 0) reject(new Error(`${command} exited ${code}`));
      else if (cpuBefore === undefined || cpuAfter === undefined) resolve({ ms, lines, bytes });
      else resolve({ ms, cpuMs: cpuAfter - cpuBefore, lines, bytes });
    });
  });
}

export type Opener = (reader: ByteRangeReader) => Promise<FilesystemReader>;

export interface WalkRun {
  readonly ms: number;
  /** CPU time of this process during the walk (user + system, all threads: reads included). */
  readonly cpuMs: number;
  readonly entries: number;
  readonly errors: number;
  /** Reads the reader was asked for (page misses of the metadata cache, plus file data). */
  readonly requests: number;
}

/** A whole walk of `image` (opening the filesystem included), counting entries and errors. */
export async function walkImage(
  image: string,
  opener: Opener,
  wrap: (reader: ByteRangeReader) => ByteRangeReader = (reader) => reader,
): Promise<WalkRun> {
  const reader = await FileByteRangeReader.open(image);
  try {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const fs = await opener(wrap(reader));
    let entries = 0;
    let errors = 0;
    for await (const item of fs.walk()) {
      if (item.kind === 'entry') entries += 1;
      else errors += 1;
    }
    const used = process.cpuUsage(cpu);
    return {
      ms: performance.now() - started,
      cpuMs: (used.user + used.system) / 1000,
      entries,
      errors,
      requests: reader.reads,
    };
  } finally {
    await reader.close();
  }
}

/** Every request waits `ms` first, like a GET of a chunk from S3 (the image reader in production). */
export function withLatency(reader: ByteRangeReader, ms: number): ByteRangeReader {
  return {
    size: reader.size,
    read: (offset, length) =>
      new Promise((resolve) => setTimeout(resolve, ms)).then(() => reader.read(offset, length)),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export interface WalkComparison {
  /** Each timed pair: the walk's and fls's wall time and their ratio of rates. */
  readonly pairs: readonly { readonly walk: WalkRun; readonly fls: ToolRun; readonly ratio: number }[];
  readonly medianRatio: number;
  readonly minRatio: number;
  readonly walkRate: number;
  readonly flsRate: number;
}

/**
 * The walk of `image` against `fls -r -m /` on `flsImage` (the same image unless TSK cannot read
 * the reader's filesystem), interleaved as described at the top of this file. `flsSkip` leaves out
 * lines that are not entries (see timedTool).
 */
export async function compareWalkWithFls(
  image: string,
  opener: Opener,
  options: { readonly flsImage?: string; readonly flsSkip?: string; readonly pairs?: number } = {},
): Promise<WalkComparison> {
  const flsArgs = ['-r', '-m', '/', options.flsImage ?? image];
  const walk = (): Promise<WalkRun> => walkImage(image, opener);
  const fls = (): Promise<ToolRun> => timedTool('fls', flsArgs, options.flsSkip);
  await walk();
  await fls();
  const pairs: { walk: WalkRun; fls: ToolRun; ratio: number }[] = [];
  for (let i = 0; i < (options.pairs ?? WALK_PAIRS); i += 1) {
    let w: WalkRun;
    let f: ToolRun;
    if (i % 2 === 0) {
      w = await walk();
      f = await fls();
    } else {
      f = await fls();
      w = await walk();
    }
    pairs.push({ walk: w, fls: f, ratio: w.entries / w.ms / (f.lines / f.ms) });
  }
  const rate = (count: number, ms: number): number => count / (ms / 1000);
  return {
    pairs,
    medianRatio: median(pairs.map((p) => p.ratio)),
    minRatio: Math.min(...pairs.map((p) => p.ratio)),
    walkRate: median(pairs.map((p) => rate(p.walk.entries, p.walk.ms))),
    flsRate: median(pairs.map((p) => rate(p.fls.lines, p.fls.ms))),
  };
}

/** The median over pairs of the walk's entries per CPU second against fls's, where /proc gives fls's CPU. */
function cpuRatio(comparison: WalkComparison): number | undefined {
  const ratios = comparison.pairs.flatMap((p) =>
    p.fls.cpuMs === undefined || p.fls.cpuMs === 0
      ? []
      : [p.walk.entries / p.walk.cpuMs / (p.fls.lines / p.fls.cpuMs)],
  );
  return ratios.length === 0 ? undefined : round(median(ratios));
}

/** The bench row of a comparison: median rates and ratio, the minimum and every pair in details. */
export function walkComparisonResult(name: string, comparison: WalkComparison, goal: string): BenchResult {
  const last = comparison.pairs.at(-1)!;
  return {
    name,
    value: Math.round(comparison.walkRate),
    unit: 'entries/s',
    baseline: Math.round(comparison.flsRate),
    ratio: round(comparison.medianRatio),
    goal: `${goal} (median of ${comparison.pairs.length} interleaved pairs)`,
    met: comparison.medianRatio >= WALK_GOAL_RATIO,
    details: {
      minRatio: round(comparison.minRatio),
      ratios: comparison.pairs.map((p) => round(p.ratio, 2)).join(' '),
      walkMs: comparison.pairs.map((p) => Math.round(p.walk.ms)).join(' '),
      flsMs: comparison.pairs.map((p) => Math.round(p.fls.ms)).join(' '),
      // CPU times move less with the machine's load than wall times: a second view of the pairs.
      walkCpuMs: comparison.pairs.map((p) => Math.round(p.walk.cpuMs)).join(' '),
      flsCpuMs: comparison.pairs
        .map((p) => (p.fls.cpuMs === undefined ? '?' : Math.round(p.fls.cpuMs)))
        .join(' '),
      cpuRatio: cpuRatio(comparison) ?? 'no /proc',
      entries: last.walk.entries,
      walkErrors: last.walk.errors,
      flsLines: last.fls.lines,
      readerRequests: last.walk.requests,
    },
  };
}
