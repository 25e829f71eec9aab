/**
 * FAT32 and exFAT reader benchmark, plus the ext4 reader on the same tree: for each filesystem, in
 * the same run, catalog-walk entries/s of our reader (open + walk of every entry) against The Sleuth
 * Kit's `fls -r -m /` on the same image (goal >= 0.5 of TSK, which is C). The tree is real files of
 * this machine: Debian's /usr/lib/python3 and /usr/share/perl5 (about 4,000 files) for FAT32, which
 * is populated through mtools (slow per file), and those plus node_modules/@aws-sdk for exFAT and
 * ext4. Images are built once per machine (bench/bench-cache.ts) and reused.
 */
import { spawn } from 'node:child_process';
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { openExt4 } from '../../lambdas/core/fs/ext4/filesystem.ts';
import { openExfat } from '../../lambdas/core/fs/fat/exfat.ts';
import { openFat } from '../../lambdas/core/fs/fat/fat.ts';
import type { FilesystemReader } from '../../lambdas/core/fs/filesystem.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { copyTree, makeExfatImage, makeFatImage } from '../../test/support/fat-images.ts';
import { FileByteRangeReader } from '../../test/support/file-byte-range-reader.ts';
import { makeExtImage, removeDir } from '../../test/support/fs-images.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';
import { benchCacheDir, fileExists } from '../bench-cache.ts';

const MIB = 1024 * 1024;
/** Bump to rebuild the cached images. */
const IMAGE_VERSION = 'v1';
const FAT_SOURCES = ['/usr/lib/python3', '/usr/share/perl5'];
const LARGE_SOURCES = [...FAT_SOURCES, path.resolve('node_modules/@aws-sdk')];
/** Best of this many runs of each side (a noisy 2-core machine). */
const RUNS = 3;
const WALK_GOAL_RATIO = 0.5;

type Opener = (reader: ByteRangeReader) => Promise<FilesystemReader>;

async function sourceTree(dir: string, name: string, sources: readonly string[]): Promise<string> {
  const tree = path.join(dir, name);
  await removeDir(tree);
  await mkdir(tree, { recursive: true });
  for (const source of sources) {
    if (await fileExists(source)) await copyTree(source, path.join(tree, path.basename(source)));
  }
  return tree;
}

async function cachedImage(
  dir: string,
  name: string,
  build: (image: string) => Promise<void>,
): Promise<string> {
  const image = path.join(dir, `${name}-${IMAGE_VERSION}.img`);
  if (await fileExists(image)) return image;
  console.error(`bench fs-fat: building ${image} (once)`);
  await build(`${image}.tmp`);
  await rename(`${image}.tmp`, image);
  return image;
}

/** Runs fls, counting its output lines; returns the wall time. */
async function timedFls(image: string): Promise<{ ms: number; lines: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('fls', ['-r', '-m', '/', image], { stdio: ['ignore', 'pipe', 'ignore'] });
    let lines = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      for (const byte of chunk) if (byte === 0x0a) lines += 1;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ ms: performance.now() - started, lines })
        : reject(new Error(`fls exited ${code}`)),
    );
  });
}

async function mineWalk(
  image: string,
  opener: Opener,
): Promise<{ ms: number; entries: number; errors: number }> {
  const reader = await FileByteRangeReader.open(image);
  try {
    const started = performance.now();
    const fs = await opener(reader);
    let entries = 0;
    let errors = 0;
    for await (const item of fs.walk()) {
      if (item.kind === 'entry') entries += 1;
      else errors += 1;
    }
    return { ms: performance.now() - started, entries, errors };
  } finally {
    await reader.close();
  }
}

async function compare(name: string, image: string, opener: Opener): Promise<BenchResult> {
  let mine = await mineWalk(image, opener);
  let tsk = await timedFls(image);
  for (let i = 1; i < RUNS; i += 1) {
    const m = await mineWalk(image, opener);
    if (m.ms < mine.ms) mine = m;
    const t = await timedFls(image);
    if (t.ms < tsk.ms) tsk = t;
  }
  const mineRate = mine.entries / (mine.ms / 1000);
  const tskRate = tsk.lines / (tsk.ms / 1000);
  const ratio = round(mineRate / tskRate);
  return {
    name: `fs-fat/${name}-walk-entries-per-s`,
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
    },
  };
}

export const suite: BenchSuite = {
  name: 'fs-fat',
  async run(): Promise<readonly BenchResult[]> {
    const dir = await benchCacheDir();
    const fat32 = await cachedImage(dir, 'fat32-real', async (image) => {
      const tree = await sourceTree(dir, 'fat-bench-src', FAT_SOURCES);
      await makeFatImage(image, 512 * MIB, 32, tree, 'RBPBENCH');
      await removeDir(tree);
    });
    const large = (build: (image: string, tree: string) => Promise<void>) => async (image: string) => {
      const tree = await sourceTree(dir, 'fat-bench-large-src', LARGE_SOURCES);
      await build(image, tree);
      await removeDir(tree);
    };
    const exfat = await cachedImage(
      dir,
      'exfat-real',
      large((image, tree) => makeExfatImage(image, 4096 * MIB, tree, 'rbp bench')),
    );
    const ext4 = await cachedImage(
      dir,
      'ext4-same-tree',
      large((image, tree) =>
        makeExtImage(image, { type: 'ext4', sizeBytes: 2048 * MIB, blockSize: 4096, sourceDir: tree }),
      ),
    );
    return [
      await compare('fat32', fat32, (r) => openFat(r)),
      await compare('exfat', exfat, (r) => openExfat(r)),
      await compare('ext4', ext4, (r) => openExt4(r)),
    ];
  },
};
