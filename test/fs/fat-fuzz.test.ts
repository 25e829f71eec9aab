/**
 * Fuzz, with the harness and budget of fuzz.test.ts: real small FAT12, FAT32 and exFAT images
 * (mkfs.vfat + mcopy, mkfs.exfat + exfat-fuse) get random bytes mutated in their metadata (boot
 * region, FAT, and the start of the data area where the root and the first directories lie),
 * deterministically from a seed. Each mutated image is opened, walked and every file read; it must
 * finish within the time bound with results or typed errors: no unhandled exception, no hang.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openExfat, openFat, type FilesystemReader } from '../../lambdas/core/fs/index.ts';
import { parseExfatBoot, parseFatBoot } from '../../lambdas/core/fs/fat/boot.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import * as fuzz from './fuzz-harness.ts';
import { makeExfatImage, makeFatImage } from '../support/fat-images.ts';
import { removeDir, scratchDir } from '../support/fs-images.ts';

const MIB = 1024 * 1024;
/** Bytes of the data area mutated: the root directory and the first directories are written first. */
const DATA_AREA_BYTES = 256 * 1024;

interface Target extends fuzz.FuzzTarget {
  readonly exfat: boolean;
}

let work: string;
const targets: Target[] = [];

async function smallTree(root: string): Promise<void> {
  for (let d = 0; d < 6; d += 1) {
    const dir = path.join(root, `directory ${d} with a long name`, d % 2 === 0 ? 'sub' : 'ünïcödé');
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < 12; f += 1) {
      await writeFile(
        path.join(dir, `file-${f}-${'x'.repeat(f * 3)}.txt`),
        Buffer.alloc(f * 700 + 1, 65 + f),
      );
    }
  }
  await writeFile(path.join(root, 'SHORT.TXT'), 'short\n');
}

beforeAll(async () => {
  work = await scratchDir('fat-fuzz');
  const tree = path.join(work, 'tree');
  await smallTree(tree);
  for (const [name, bits, size] of [
    ['fat12', 12, 4 * MIB],
    ['fat32', 32, 34 * MIB],
  ] as const) {
    const image = path.join(work, `${name}.img`);
    await makeFatImage(image, size, bits, tree, 'FUZZ');
    const bytes = new Uint8Array(await readFile(image));
    const boot = parseFatBoot(bytes.subarray(0, 512), bytes.length);
    targets.push({
      name,
      exfat: false,
      bytes,
      regions: [
        { start: 0, length: 512, kind: 'boot' },
        { start: boot.fatOffset, length: Math.min(boot.fatBytes, 64 * 1024), kind: 'fat' },
        { start: boot.rootDirOffset, length: boot.dataStart - boot.rootDirOffset || 1, kind: 'root' },
        { start: boot.dataStart, length: DATA_AREA_BYTES, kind: 'data' },
      ],
    });
  }
  const image = path.join(work, 'exfat.img');
  await makeExfatImage(image, 8 * MIB, tree, 'FUZZ');
  const bytes = new Uint8Array(await readFile(image));
  const boot = parseExfatBoot(bytes.subarray(0, 12 * 512), bytes.length);
  targets.push({
    name: 'exfat',
    exfat: true,
    bytes,
    regions: [
      { start: 0, length: 512, kind: 'boot' },
      { start: boot.fatOffset, length: Math.min(boot.fatBytes, 64 * 1024), kind: 'fat' },
      { start: boot.dataStart, length: DATA_AREA_BYTES, kind: 'data' },
    ],
  });
}, 120_000);

afterAll(async () => {
  await removeDir(work);
});

async function exercise(bytes: Uint8Array, exfat: boolean): Promise<fuzz.WalkOutcome> {
  const reader = new MemoryByteRangeReader(bytes);
  return fuzz.exerciseWalk(
    (): Promise<FilesystemReader> => (exfat ? openExfat(reader) : openFat(reader)),
    async (fs, item) => {
      if (item.type !== 'file') return;
      await fuzz.readHead(fs, item);
      await fs.stat(item.inode);
      await fuzz.countExtents(fs, item.inode);
    },
  );
}

describe('fuzzed FAT and exFAT images', () => {
  it('intact images walk without errors (the baseline the mutations start from)', async () => {
    for (const target of targets) {
      const outcome = await exercise(target.bytes, target.exfat);
      fuzz.expectWalkIntact(target.name, outcome);
      expect(outcome.entries).toBeGreaterThan(80);
    }
  });

  fuzz.itFinishesEveryMutatedImage(
    'fat fuzz',
    targets,
    { mutations: fuzz.FUZZ_MUTATIONS_PER_IMAGE },
    (target, bytes) => exercise(bytes, target.exfat),
    {
      images: () => 3 * fuzz.FUZZ_MUTATIONS_PER_IMAGE,
      damaged: (totals) => totals.walkErrors + totals.fileErrors,
      damagedMoreThanOneIn: 10,
    },
  );
});
