/**
 * FAT32 and exFAT reader benchmark, plus the ext4 reader on the same tree: for each filesystem, in
 * the same run, catalog-walk entries/s of our reader (open + walk of every entry) against The Sleuth
 * Kit's `fls -r -m /` on the same image (goal >= 0.5 of TSK, which is C). The tree is real files of
 * this machine: Debian's /usr/lib/python3 and /usr/share/perl5 (about 4,000 files) for FAT32, which
 * is populated through mtools (slow per file), and those plus node_modules/@aws-sdk for exFAT and
 * ext4. Walks and fls runs are interleaved in pairs after a warm-up pair (bench/fs-walk-bench.ts).
 * Images are built once per machine (bench/bench-cache.ts) and reused.
 */
import { mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { openExt4 } from '../../lambdas/core/fs/ext4/filesystem.ts';
import { openExfat } from '../../lambdas/core/fs/fat/exfat.ts';
import { openFat } from '../../lambdas/core/fs/fat/fat.ts';
import { copyTree, makeExfatImage, makeFatImage } from '../../test/support/fat-images.ts';
import { makeExtImage, removeDir } from '../../test/support/fs-images.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { benchCacheDir, fileExists } from '../bench-cache.ts';
import { WALK_GOAL_RATIO, compareWalkWithFls, walkComparisonResult, type Opener } from '../fs-walk-bench.ts';

const MIB = 1024 * 1024;
/** Bump to rebuild the cached images. */
const IMAGE_VERSION = 'v1';
const FAT_SOURCES = ['/usr/lib/python3', '/usr/share/perl5'];
const LARGE_SOURCES = [...FAT_SOURCES, path.resolve('node_modules/@aws-sdk')];

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

async function compare(name: string, image: string, opener: Opener): Promise<BenchResult> {
  return walkComparisonResult(
    `fs-fat/${name}-walk-entries-per-s`,
    await compareWalkWithFls(image, opener),
    `>= ${WALK_GOAL_RATIO} of fls -r -m`,
  );
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
