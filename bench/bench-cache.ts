/**
 * The per-machine cache of generated benchmark images (outside the repository), shared by the
 * suites so that the 100,000-file ext4 image is built once and every suite builds it the same way.
 */
import { access, mkdir, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateTree, makeExtImage, removeDir, writeSparseFile } from '../test/support/fs-images.ts';

const MIB = 1024 * 1024;
/** Images are cached here between runs; a suite bumps the version in an image's name to rebuild it. */
const BENCH_CACHE_DIR = process.env.RBP_BENCH_CACHE ?? '/var/cache/rbp-bench';
/** Files in the generated image (plus their directories, links and special files). */
const GENERATED_FILES = 100_000;

export async function fileExists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** The cache directory, or a folder under the OS temp dir when it cannot be created or written. */
export async function benchCacheDir(): Promise<string> {
  try {
    await mkdir(BENCH_CACHE_DIR, { recursive: true });
    await access(BENCH_CACHE_DIR, 2);
    return BENCH_CACHE_DIR;
  } catch {
    const fallback = path.join(os.tmpdir(), 'rbp-bench');
    await mkdir(fallback, { recursive: true });
    return fallback;
  }
}

/**
 * `<dir>/<name>.img`: a 2 GiB ext4 image of GENERATED_FILES generated files (seed 100, a 60-deep
 * directory chain) and a 5 GiB sparse file, built once (slow) and reused while the file exists.
 * `suite` only labels the progress line.
 */
export async function generated100kImage(dir: string, name: string, suite: string): Promise<string> {
  const image = path.join(dir, `${name}.img`);
  if (await fileExists(image)) return image;
  const src = path.join(dir, `${name}-src`);
  await removeDir(src);
  console.error(`bench ${suite}: generating ${GENERATED_FILES} files (once; cached in ${dir})`);
  await generateTree(src, { seed: 100, files: GENERATED_FILES, deepChain: 60, maxFileBytes: 16_384 });
  await writeSparseFile(path.join(src, 'sparse-5g'), 5 * 1024 * MIB, [
    { offset: 4 * 1024 * MIB, data: new Uint8Array(MIB).fill(7) },
  ]);
  await makeExtImage(`${image}.tmp`, {
    type: 'ext4',
    sizeBytes: 2048 * MIB,
    blockSize: 4096,
    bytesPerInode: 8192,
    sourceDir: src,
  });
  await rename(`${image}.tmp`, image);
  await removeDir(src);
  return image;
}
