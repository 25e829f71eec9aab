/**
 * NTFS reader benchmark: a real tree (/usr/lib/python3, /usr/share/perl5 and node_modules/@aws-sdk,
 * about 50,000 files) written through ntfs-3g onto a mkntfs volume with a 160 MiB file, then in
 * the same run:
 * - catalog walk entries/s of the reader (open + walk + stat of every entry) against The Sleuth
 *   Kit's `fls -r -m /` on the same image (goal >= 0.5 of TSK, which is C). Both read a local
 *   file with no latency to hide, so this compares parsing work: read-ahead is off here (its
 *   promise bookkeeping costs CPU) and measured on its own in the latency case below;
 * - the same walk over a reader that waits 2 ms per request, with and without read-ahead;
 * - sequential read MiB/s of the large file through readFileStream against `icat`.
 * The image is built once per machine (bench/bench-cache.ts) and reused.
 */
import { spawn } from 'node:child_process';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { openNtfs } from '../../lambdas/core/fs/ntfs/filesystem.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { FileByteRangeReader } from '../../test/support/file-byte-range-reader.ts';
import { prng, randomBytes, removeDir, run } from '../../test/support/fs-images.ts';
import { NtfsMount, makeNtfsImage } from '../../test/fs/ntfs-images.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { benchCacheDir, fileExists } from '../bench-cache.ts';

const MIB = 1024 * 1024;
/** Bump to rebuild the cached image. */
const IMAGE_VERSION = 'v1';
const IMAGE_BYTES = 2048 * MIB;
/** The issue asks for files over 100 MiB in the end-to-end images: one here, read for throughput. */
const LARGE_FILE_BYTES = 160 * MIB;
const SOURCES = ['/usr/lib/python3', '/usr/share/perl5', path.resolve('node_modules/@aws-sdk')];
/** Best of this many runs of each side (a noisy 2-core machine). */
const RUNS = 3;
const WALK_GOAL_RATIO = 0.5;
/** Simulated latency per request for the read-ahead comparison (a GET from S3 is 10-50 ms). */
const LATENCY_MS = 2;

async function benchImage(dir: string): Promise<string> {
  const image = path.join(dir, `ntfs-real-${IMAGE_VERSION}.img`);
  if (await fileExists(image)) return image;
  console.error(`bench fs-ntfs: building ${image} through ntfs-3g (once)`);
  const tmp = `${image}.tmp`;
  await makeNtfsImage(tmp, { sizeBytes: IMAGE_BYTES, label: 'rbp-bench' });
  const mount = await NtfsMount.mount(tmp, path.join(dir, 'ntfs-bench-mnt'));
  try {
    for (const source of SOURCES) {
      if (!(await fileExists(source))) continue;
      await run('cp', [
        '-r',
        '--preserve=timestamps,links',
        source,
        path.join(mount.dir, path.basename(source)),
      ]);
    }
    const large = path.join(mount.dir, 'large.bin');
    const rand = prng(160);
    const handle = await open(large, 'w');
    for (let at = 0; at < LARGE_FILE_BYTES; at += 4 * MIB) await handle.write(randomBytes(rand, 4 * MIB));
    await handle.close();
  } finally {
    await mount.unmount();
  }
  await removeDir(path.join(dir, 'ntfs-bench-mnt'));
  await rename(tmp, image);
  return image;
}

/**
 * Runs a tool, counting its stdout's lines (leaving out lines that contain `skip`) and bytes;
 * returns the wall time. `fls -m` prints each file twice, once more for its $FILE_NAME times.
 */
async function timedTool(
  command: string,
  args: readonly string[],
  skip?: string,
): Promise<{ ms: number; lines: number; bytes: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let lines = 0;
    let bytes = 0;
    let partial = '';
    child.stdout.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (skip === undefined) return;
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop()!;
      for (const line of parts) if (!line.includes(skip)) lines += 1;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ ms: performance.now() - started, lines, bytes })
        : reject(new Error(`${command} exited ${code}`)),
    );
  });
}

/** Every request waits `ms` first, like a GET of a chunk from S3 (the image reader in production). */
function withLatency(reader: ByteRangeReader, ms: number): ByteRangeReader {
  return {
    size: reader.size,
    read: (offset, length) =>
      new Promise((resolve) => setTimeout(resolve, ms)).then(() => reader.read(offset, length)),
  };
}

async function mineWalk(
  image: string,
  options: { latencyMs?: number; readAhead?: boolean } = {},
): Promise<{ ms: number; entries: number; errors: number; requests: number; pageMisses: number }> {
  const reader = await FileByteRangeReader.open(image);
  try {
    const started = performance.now();
    const fs = await openNtfs(
      options.latencyMs === undefined ? reader : withLatency(reader, options.latencyMs),
      {
        readAhead: options.readAhead ?? true,
      },
    );
    let entries = 0;
    let errors = 0;
    for await (const item of fs.walk()) {
      if (item.kind === 'entry') entries += 1;
      else errors += 1;
    }
    return {
      ms: performance.now() - started,
      entries,
      errors,
      requests: reader.reads,
      pageMisses: fs.cache.pageMisses,
    };
  } finally {
    await reader.close();
  }
}

async function mineRead(image: string): Promise<{ ms: number; bytes: number; inode: number }> {
  const reader = await FileByteRangeReader.open(image);
  try {
    const fs = await openNtfs(reader);
    const inode = await fs.lookup('/large.bin');
    const started = performance.now();
    let bytes = 0;
    for await (const piece of fs.readFileStream(inode)) bytes += piece.length;
    return { ms: performance.now() - started, bytes, inode };
  } finally {
    await reader.close();
  }
}

export const suite: BenchSuite = {
  name: 'fs-ntfs',
  async run(): Promise<readonly BenchResult[]> {
    const image = await benchImage(await benchCacheDir());
    let mine = await mineWalk(image, { readAhead: false });
    let tsk = await timedTool('fls', ['-r', '-m', '/', image], '($FILE_NAME)');
    for (let i = 1; i < RUNS; i += 1) {
      const m = await mineWalk(image, { readAhead: false });
      if (m.ms < mine.ms) mine = m;
      const t = await timedTool('fls', ['-r', '-m', '/', image], '($FILE_NAME)');
      if (t.ms < tsk.ms) tsk = t;
    }
    const mineRate = mine.entries / (mine.ms / 1000);
    const tskRate = tsk.lines / (tsk.ms / 1000);
    let read = await mineRead(image);
    let icat = await timedTool('icat', [image, String(read.inode)]);
    for (let i = 1; i < RUNS; i += 1) {
      const r = await mineRead(image);
      if (r.ms < read.ms) read = r;
      const t = await timedTool('icat', [image, String(read.inode)]);
      if (t.ms < icat.ms) icat = t;
    }
    const readRate = read.bytes / MIB / (read.ms / 1000);
    const slowAhead = await mineWalk(image, { latencyMs: LATENCY_MS });
    const slowSerial = await mineWalk(image, { latencyMs: LATENCY_MS, readAhead: false });
    const icatRate = icat.bytes / MIB / (icat.ms / 1000);
    const ratio = round(mineRate / tskRate);
    return [
      {
        name: 'fs-ntfs/walk-entries-per-s',
        value: Math.round(mineRate),
        unit: 'entries/s',
        baseline: Math.round(tskRate),
        ratio,
        goal: `>= ${WALK_GOAL_RATIO} of fls -r -m`,
        met: ratio >= WALK_GOAL_RATIO,
        details: {
          entries: mine.entries,
          walkErrors: mine.errors,
          flsLines: tsk.lines,
          walkMs: Math.round(mine.ms),
          flsMs: Math.round(tsk.ms),
          readerRequests: mine.requests,
          pageMisses: mine.pageMisses,
        },
      },
      {
        name: `fs-ntfs/walk-${LATENCY_MS}ms-latency`,
        value: Math.round(slowAhead.ms),
        unit: 'ms',
        baseline: Math.round(slowSerial.ms),
        ratio: round(slowAhead.ms / slowSerial.ms),
        goal: 'read-ahead < 1 of one request at a time',
        met: slowAhead.ms < slowSerial.ms,
        details: { entries: slowAhead.entries, requests: slowAhead.requests },
      },
      {
        name: 'fs-ntfs/read-large-file',
        value: round(readRate, 1),
        unit: 'MiB/s',
        baseline: round(icatRate, 1),
        ratio: round(readRate / icatRate),
        details: { bytes: read.bytes, icatBytes: icat.bytes },
      },
    ];
  },
};
