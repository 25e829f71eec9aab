/**
 * Filesystem reader benchmarks (issue 4):
 * - walk + stat of a generated 100,000-file ext4 image: files/s, reader requests, bytes and 1 MiB
 *   pages fetched, and the peak RSS of a fresh process doing it (goal < 1 GiB: a Lambda's budget);
 * - the same on a real Debian root filesystem (debootstrap --variant=minbase, cached per machine;
 *   skipped with a printed reason when debootstrap or the mirror is unavailable);
 * - the comparison with the `ext2fs` package (libext2fs compiled to WebAssembly) on the same
 *   images through the same page-cached ByteRangeReader, and the robustness of both on mutated
 *   images (each ext2fs run in its own process with a timeout, since a hang in WebAssembly cannot
 *   be interrupted from JavaScript).
 *
 * The suite re-invokes this file in child processes (env RBP_FS_BENCH_CHILD) so every RSS figure
 * comes from a clean process.
 */
import { execFile } from 'node:child_process';
import { readFile, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RbpError } from '../../lambdas/core/errors.ts';
import { PageCachedReader, openExt4 } from '../../lambdas/core/fs/index.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { FileByteRangeReader, MemoryByteRangeReader } from '../../test/support/file-byte-range-reader.ts';
import { generateTree, makeExtImage, prng, removeDir } from '../../test/support/fs-images.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { withLatency } from '../fs-walk-bench.ts';
import { benchCacheDir, fileExists, generated100kImage } from '../bench-cache.ts';
import { peakRssKiB, runBenchChild } from '../bench-child.ts';

const execFileAsync = promisify(execFile);
const thisFile = fileURLToPath(import.meta.url);
const MIB = 1024 * 1024;
/** Bump to rebuild the cached images (cached by bench/bench-cache.ts, outside the repository). */
const IMAGE_VERSION = 'v1';
/** A Lambda's memory budget: the walk must stay well below it. */
const RSS_GOAL_MIB = 1024;
/** ext2fs walks by path (open + fstat + close per entry): give it a bounded time, report its rate. */
const EXT2FS_WALK_BUDGET_MS = 60_000;
/** Mutated images for the robustness comparison, and the time allowed to each. */
const ROBUSTNESS_IMAGES = 30;
const ROBUSTNESS_TIMEOUT_MS = 10_000;
const DEBOOTSTRAP_TIMEOUT_MS = 10 * 60_000;

// ------------------------------------------------------------------------------------ child side

type ChildTask =
  | { kind: 'walk'; image: string; latencyMs?: number; readAhead?: boolean }
  | { kind: 'ext2fs-walk'; image: string; budgetMs: number }
  | { kind: 'ext2fs-robust'; image: string; seed: number }
  | { kind: 'mine-robust'; image: string; seed: number };

interface WalkFigures {
  entries: number;
  errors: number;
  ms: number;
  readerRequests: number;
  readerBytes: number;
  pageMisses: number;
  maxRssMiB: number;
  complete: boolean;
}

interface RobustFigures {
  outcome: 'walked' | 'refused';
  entries: number;
  errors: number;
  message?: string;
}

/** The subset of the ext2fs package's API used here (it ships no types). */
interface Ext2fsStats {
  isDirectory(): boolean;
}
interface Ext2fsModule {
  mount(
    disk: {
      read(buffer: Uint8Array, bufferOffset: number, length: number, fileOffset: number): Promise<unknown>;
      write(): Promise<never>;
      flush(): Promise<void>;
      discard(): Promise<void>;
    },
    offset: number,
  ): Promise<{ promises: { readdir(p: string): Promise<string[]>; lstat(p: string): Promise<Ext2fsStats> } }>;
}

function ext2fsDisk(reader: ByteRangeReader): Parameters<Ext2fsModule['mount']>[0] {
  return {
    async read(buffer, bufferOffset, length, fileOffset) {
      const len = Math.max(0, Math.min(length, reader.size - fileOffset));
      const data = await reader.read(fileOffset, len);
      buffer.set(data, bufferOffset);
      return { bytesRead: len, buffer };
    },
    write: () => Promise.reject(new Error('read-only benchmark disk')),
    flush: () => Promise.resolve(),
    discard: () => Promise.resolve(),
  };
}

async function ext2fsWalk(
  reader: ByteRangeReader,
  deadline: number,
): Promise<{ entries: number; errors: number; complete: boolean }> {
  const ext2fs = createRequire(import.meta.url)('ext2fs') as Ext2fsModule;
  const fs = (await ext2fs.mount(ext2fsDisk(reader), 0)).promises;
  let entries = 0;
  let errors = 0;
  let complete = true;
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      errors += 1;
      return;
    }
    for (const name of names) {
      if (performance.now() > deadline) {
        complete = false;
        return;
      }
      const full = dir === '/' ? `/${name}` : `${dir}/${name}`;
      try {
        const st = await fs.lstat(full);
        entries += 1;
        if (st.isDirectory()) await walk(full);
      } catch {
        errors += 1;
      }
    }
  };
  await walk('/');
  return { entries, errors, complete };
}

async function mineWalk(
  reader: ByteRangeReader,
  readAhead = true,
): Promise<{ entries: number; errors: number; pageMisses: number }> {
  const fs = await openExt4(reader, { readAhead });
  let entries = 0;
  let errors = 0;
  for await (const item of fs.walk()) {
    if (item.kind === 'entry') entries += 1;
    else errors += 1;
  }
  return { entries, errors, pageMisses: fs.cache.pageMisses };
}

async function childMain(task: ChildTask): Promise<unknown> {
  if (task.kind === 'walk') {
    const reader = await FileByteRangeReader.open(task.image);
    const started = performance.now();
    const { entries, errors, pageMisses } = await mineWalk(
      task.latencyMs === undefined ? reader : withLatency(reader, task.latencyMs),
      task.readAhead ?? true,
    );
    const figures: WalkFigures = {
      entries,
      errors,
      ms: performance.now() - started,
      readerRequests: reader.reads,
      readerBytes: reader.bytesRead,
      pageMisses,
      maxRssMiB: peakRssKiB() / 1024,
      complete: true,
    };
    return figures;
  }
  if (task.kind === 'ext2fs-walk') {
    const file = await FileByteRangeReader.open(task.image);
    const cached = new PageCachedReader(file);
    const started = performance.now();
    const result = await ext2fsWalk(cached, started + task.budgetMs);
    const figures: WalkFigures = {
      ...result,
      ms: performance.now() - started,
      readerRequests: file.reads,
      readerBytes: file.bytesRead,
      pageMisses: cached.pageMisses,
      maxRssMiB: peakRssKiB() / 1024,
    };
    return figures;
  }
  const bytes = mutateImage(new Uint8Array(await readFile(task.image)), task.seed);
  const reader = new PageCachedReader(new MemoryByteRangeReader(bytes));
  try {
    const r =
      task.kind === 'mine-robust'
        ? await mineWalk(reader)
        : await ext2fsWalk(reader, performance.now() + ROBUSTNESS_TIMEOUT_MS);
    const figures: RobustFigures = { outcome: 'walked', entries: r.entries, errors: r.errors };
    return figures;
  } catch (error) {
    const figures: RobustFigures = {
      outcome: 'refused',
      entries: 0,
      errors: 1,
      message: `${error instanceof RbpError ? 'typed ' : ''}${String(error).slice(0, 200)}`,
    };
    return figures;
  }
}

/** Same mutation scheme as test/fs/fuzz.test.ts, over the first 4 MiB (all metadata of a small image). */
function mutateImage(image: Uint8Array, seed: number): Uint8Array {
  const rand = prng(seed);
  const bytes = image.slice();
  const metadataEnd = Math.min(bytes.length, 400 * 1024);
  for (let i = 0, n = 1 + Math.floor(rand() * 24); i < n; i += 1) {
    const at = 1024 + Math.floor(rand() * (metadataEnd - 1024));
    bytes[at] = Math.floor(rand() * 256);
  }
  return bytes;
}

async function runChild<T>(
  task: ChildTask,
  timeoutMs: number,
): Promise<{ result?: T; status: string; aborted: boolean }> {
  const { result, code, signal, stderr } = await runBenchChild<T>(thisFile, 'RBP_FS_BENCH_CHILD', task, {
    timeoutMs,
  });
  // The WebAssembly runtime prints "Aborted(...)" when libext2fs aborts (out of memory, assertion).
  const aborted = stderr.includes('Aborted(');
  const lastLine = stderr.trim().split('\n').slice(-1)[0] ?? '';
  if (result !== undefined) return { result, status: 'ok', aborted };
  if (signal === 'SIGKILL') return { status: 'hang', aborted };
  return { status: `crash (exit ${code ?? signal}): ${lastLine}`, aborted };
}

// ----------------------------------------------------------------------------------- parent side

function generatedImage(dir: string): Promise<string> {
  return generated100kImage(dir, `fs-100k-${IMAGE_VERSION}`, 'fs');
}

async function smallImage(dir: string): Promise<string> {
  const image = path.join(dir, `fs-small-${IMAGE_VERSION}.img`);
  if (await fileExists(image)) return image;
  const src = path.join(dir, `fs-small-${IMAGE_VERSION}-src`);
  await removeDir(src);
  await generateTree(src, {
    seed: 101,
    files: 150,
    deepChain: 8,
    maxFileBytes: 20_000,
    maxSymlinkBytes: 500,
  });
  await makeExtImage(`${image}.tmp`, { type: 'ext4', sizeBytes: 4 * MIB, blockSize: 1024, sourceDir: src });
  await rename(`${image}.tmp`, image);
  await removeDir(src);
  return image;
}

export async function debianImage(dir: string): Promise<{ image?: string; reason?: string }> {
  const image = path.join(dir, `debian-bookworm-minbase-${IMAGE_VERSION}.img`);
  if (await fileExists(image)) return { image };
  const root = path.join(dir, 'debian-bookworm-minbase');
  if (!(await fileExists(root))) {
    try {
      await execFileAsync('debootstrap', ['--version']);
    } catch {
      return { reason: 'debootstrap is not installed (apt-get install debootstrap)' };
    }
    console.error('bench fs: debootstrap --variant=minbase bookworm (once; about a minute)');
    try {
      await rm(`${root}.tmp`, { recursive: true, force: true });
      await execFileAsync('debootstrap', ['--variant=minbase', 'bookworm', `${root}.tmp`], {
        timeout: DEBOOTSTRAP_TIMEOUT_MS,
        maxBuffer: 64 * MIB,
      });
      await rename(`${root}.tmp`, root);
    } catch (error) {
      return { reason: `debootstrap failed: ${String(error).split('\n')[0]}` };
    }
  }
  await makeExtImage(`${image}.tmp`, {
    type: 'ext4',
    sizeBytes: 1024 * MIB,
    blockSize: 4096,
    sourceDir: root,
  });
  await rename(`${image}.tmp`, image);
  return { image };
}

function walkResults(
  name: string,
  figures: WalkFigures,
  baseline?: WalkFigures,
  baselineAborted = false,
): BenchResult[] {
  const rate = round(figures.entries / (figures.ms / 1000), 0);
  const baseRate = baseline === undefined ? undefined : round(baseline.entries / (baseline.ms / 1000), 0);
  return [
    {
      name: `fs/${name}/walk-stat`,
      value: rate,
      unit: 'files/s',
      ...(baseRate === undefined
        ? {}
        : {
            baseline: baseRate,
            ratio: round(rate / baseRate, 1),
            goal: 'faster than ext2fs (WASM)',
            met: rate > baseRate,
          }),
      details: {
        entries: figures.entries,
        errors: figures.errors,
        ms: round(figures.ms, 0),
        readerRequests: figures.readerRequests,
        readerMiB: round(figures.readerBytes / MIB, 1),
        pages1MiB: figures.pageMisses,
        ...(baseline === undefined
          ? {}
          : {
              ext2fsEntries: baseline.entries,
              ext2fsErrors: baseline.errors,
              ext2fsAborted: String(baselineAborted),
              ext2fsComplete: String(baseline.complete),
              ext2fsReaderRequests: baseline.readerRequests,
              ext2fsMaxRssMiB: round(baseline.maxRssMiB, 0),
            }),
      },
    },
    {
      name: `fs/${name}/peak-rss`,
      value: round(figures.maxRssMiB, 0),
      unit: 'MiB',
      goal: `< ${RSS_GOAL_MIB} MiB`,
      met: figures.maxRssMiB < RSS_GOAL_MIB,
    },
  ];
}

async function robustness(image: string): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const kind of ['mine-robust', 'ext2fs-robust'] as const) {
    const tally: Record<string, number> = {
      walked: 0,
      refused: 0,
      hang: 0,
      crash: 0,
      entries: 0,
      errorsRecorded: 0,
    };
    for (let seed = 1; seed <= ROBUSTNESS_IMAGES; seed += 1) {
      const { result, status } = await runChild<RobustFigures>(
        { kind, image, seed },
        ROBUSTNESS_TIMEOUT_MS + 5000,
      );
      if (result === undefined) tally[status === 'hang' ? 'hang' : 'crash']! += 1;
      else {
        tally[result.outcome]! += 1;
        tally.entries! += result.entries;
        tally.errorsRecorded! += result.errors;
      }
    }
    results.push({
      name: `fs/robustness/${kind === 'mine-robust' ? 'rbp-reader' : 'ext2fs'}`,
      value: tally.walked! + tally.refused!,
      unit: `of ${ROBUSTNESS_IMAGES} mutated images finished`,
      goal: 'all finish (no hang, no crash)',
      met: tally.hang === 0 && tally.crash === 0,
      details: tally,
    });
  }
  return results;
}

/** Simulated S3 GET latency per 1 MiB page, for the read-ahead comparison. */
const SIMULATED_GET_LATENCY_MS = 20;

async function latencyResults(image: string): Promise<BenchResult[]> {
  const timed = async (readAhead: boolean): Promise<WalkFigures> => {
    const r = await runChild<WalkFigures>(
      { kind: 'walk', image, latencyMs: SIMULATED_GET_LATENCY_MS, readAhead },
      10 * 60_000,
    );
    if (r.result === undefined) throw new Error(`latency walk failed: ${r.status}`);
    return r.result;
  };
  const sequential = await timed(false);
  const ahead = await timed(true);
  const rate = (f: WalkFigures): number => round(f.entries / (f.ms / 1000), 0);
  return [
    {
      name: `fs/debian-minbase/walk-stat-${SIMULATED_GET_LATENCY_MS}ms-per-request`,
      value: rate(ahead),
      unit: 'files/s',
      baseline: rate(sequential),
      ratio: round(rate(ahead) / rate(sequential), 1),
      goal: 'read-ahead beats one request at a time',
      met: rate(ahead) > rate(sequential),
      details: {
        msWithReadAhead: round(ahead.ms, 0),
        msWithout: round(sequential.ms, 0),
        pagesWithReadAhead: ahead.pageMisses,
        pagesWithout: sequential.pageMisses,
      },
    },
  ];
}

export const suite: BenchSuite = {
  name: 'fs',
  async run(): Promise<readonly BenchResult[]> {
    const dir = await benchCacheDir();
    const results: BenchResult[] = [];
    const generated = await generatedImage(dir);
    const mine = await runChild<WalkFigures>({ kind: 'walk', image: generated }, 30 * 60_000);
    if (mine.result === undefined) throw new Error(`walk of the generated image failed: ${mine.status}`);
    const theirs = await runChild<WalkFigures>(
      { kind: 'ext2fs-walk', image: generated, budgetMs: EXT2FS_WALK_BUDGET_MS },
      EXT2FS_WALK_BUDGET_MS * 3,
    );
    results.push(...walkResults('generated-100k', mine.result, theirs.result, theirs.aborted));

    const debian = await debianImage(dir);
    if (debian.image === undefined) {
      console.error(`bench fs: Debian root filesystem skipped: ${debian.reason}`);
    } else {
      const d = await runChild<WalkFigures>({ kind: 'walk', image: debian.image }, 10 * 60_000);
      const e = await runChild<WalkFigures>(
        { kind: 'ext2fs-walk', image: debian.image, budgetMs: EXT2FS_WALK_BUDGET_MS },
        EXT2FS_WALK_BUDGET_MS * 3,
      );
      if (d.result !== undefined) {
        results.push(...walkResults('debian-minbase', d.result, e.result, e.aborted));
      }
      results.push(...(await latencyResults(debian.image)));
    }
    results.push(...(await robustness(await smallImage(dir))));
    return results;
  },
};

const childTask = process.env.RBP_FS_BENCH_CHILD;
if (childTask !== undefined && process.argv[1] === thisFile) {
  const result = await childMain(JSON.parse(childTask) as ChildTask);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}
