/**
 * Fuzz: real small images (ext4 with extent trees, ext3 with indirect blocks, ext4 with inline data)
 * get random bytes mutated in their metadata (superblock, group descriptors, inode tables,
 * directory blocks, extent and indirect blocks: located with dumpe2fs and debugfs), deterministically
 * from a seed. Each mutated image is walked and every file read; it must finish within a time bound
 * with results or typed errors: no unhandled exception, no hang.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openExt4, readPartitionTable } from '../../lambdas/core/fs/index.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import * as fuzz from './fuzz-harness.ts';
import { debugfs, generateTree, makeExtImage, run, writeSparseFile } from '../support/fs-images.ts';
import { useScratchDir } from '../support/scratch-dir.ts';
import type { ExtImageOptions } from '../support/fs-images.ts';

const MIB = 1024 * 1024;

type Target = fuzz.FuzzTarget;

const work = useScratchDir('fuzz');
const targets: Target[] = [];

async function metadataRegions(image: string, blockSize: number): Promise<fuzz.Region[]> {
  const regions: fuzz.Region[] = [{ start: 1024, length: 1024, kind: 'superblock' }];
  const dump = await run('dumpe2fs', [image]);
  for (const m of dump.matchAll(/Group descriptors at (\d+)-(\d+)/g)) {
    regions.push({
      start: Number(m[1]) * blockSize,
      length: (Number(m[2]) - Number(m[1]) + 1) * blockSize,
      kind: 'gdt',
    });
  }
  const inodeSize = Number(/Inode size:\s+(\d+)/.exec(dump)![1]);
  const used = Number(/Inode count:\s+(\d+)/.exec(dump)![1]) - Number(/Free inodes:\s+(\d+)/.exec(dump)![1]);
  const firstTable = /Inode table at (\d+)-/.exec(dump)!;
  // The used inodes of group 0 (where mke2fs -d puts the tree of a small image).
  regions.push({ start: Number(firstTable[1]) * blockSize, length: (used + 16) * inodeSize, kind: 'inodes' });
  // Directory blocks and extent/indirect blocks of every inode in use, from debugfs.
  const requests: string[] = [];
  for (let ino = 2; ino <= used + 11; ino += 1) requests.push(`stat <${ino}>`);
  const stats = await debugfs(image, requests, false);
  for (const block of stats.split(/Inode: \d+/).slice(1)) {
    const isDir = /Type: directory/.test(block);
    for (const m of block.matchAll(/\((ETB\d+|IND|DIND|TIND)\):(\d+)/g)) {
      regions.push({ start: Number(m[2]) * blockSize, length: blockSize, kind: 'map' });
    }
    if (isDir) {
      for (const m of block.matchAll(/\((\d+)(?:-\d+)?\):(\d+)(?:-(\d+))?/g)) {
        const first = Number(m[2]);
        const last = m[3] === undefined ? first : Number(m[3]);
        regions.push({ start: first * blockSize, length: (last - first + 1) * blockSize, kind: 'dir' });
      }
    }
  }
  return regions;
}

async function addTarget(
  name: string,
  options: Omit<ExtImageOptions, 'sourceDir'>,
  seed: number,
  journaled = false,
): Promise<void> {
  const src = path.join(work(), `${name}-src`);
  await generateTree(src, { seed, files: 70, deepChain: 6, maxFileBytes: 30_000, maxSymlinkBytes: 500 });
  await writeSparseFile(
    path.join(src, 'fragmented'),
    64 * 1024,
    Array.from({ length: 16 }, (_, i) => ({ offset: i * 4096, data: new Uint8Array(1500).fill(i + 1) })),
  );
  const image = path.join(work(), `${name}.img`);
  await makeExtImage(image, { ...options, sourceDir: src });
  const regions = await metadataRegions(image, options.blockSize!);
  if (journaled) {
    // Two committed transactions (the root directory's blocks, then a revoke): needs_recovery is
    // set, so opening replays the journal, and the journal's own blocks become mutation targets.
    const rootBlocks = (await debugfs(image, ['blocks /'], false))
      .split(/\s+/)
      .filter((t) => /^\d+$/.test(t));
    const data = path.join(work(), `${name}.journal-data`);
    const bytes = await readFile(image);
    const bs = options.blockSize!;
    await writeFile(
      data,
      Buffer.concat(rootBlocks.map((b) => bytes.subarray(Number(b) * bs, (Number(b) + 1) * bs))),
    );
    await debugfs(image, [
      'jo',
      `jw -b ${rootBlocks.join(',')} ${data}`,
      'jc',
      'jo',
      `jw -r ${rootBlocks[0]}`,
      'jc',
    ]);
    const journal = /\(0-\d+\):(\d+)-/.exec(await debugfs(image, ['stat <8>'], false))!;
    regions.push({ start: Number(journal[1]) * bs, length: 8 * bs, kind: 'journal' });
  }
  targets.push({ name, bytes: new Uint8Array(await readFile(image)), regions });
}

beforeAll(async () => {
  await addTarget('ext4', { type: 'ext4', sizeBytes: 4 * MIB, blockSize: 1024 }, 41);
  await addTarget('ext3', { type: 'ext3', sizeBytes: 4 * MIB, blockSize: 1024 }, 42);
  await addTarget(
    'inline',
    { type: 'ext4', sizeBytes: 4 * MIB, blockSize: 1024, inodeSize: 256, features: ['inline_data'] },
    43,
  );
  await addTarget('journaled', { type: 'ext4', sizeBytes: 4 * MIB, blockSize: 1024 }, 44, true);
});

/** Walks and reads everything; any error that is not one of ours is "unexpected" (a bug). */
async function exercise(bytes: Uint8Array, verifyChecksums = true): Promise<fuzz.WalkOutcome> {
  const outcome = fuzz.newWalkOutcome();
  const reader = new MemoryByteRangeReader(bytes);
  try {
    await readPartitionTable(reader);
  } catch (error) {
    fuzz.checkTyped(outcome.unexpected, error, 'partitions');
  }
  return fuzz.exerciseWalk(
    () => openExt4(reader, { verifyChecksums }),
    async (fs, item) => {
      if (item.type !== 'file' && item.type !== 'directory') return;
      await fuzz.readHead(fs, item);
      await fuzz.countExtents(fs, item.inode);
    },
    outcome,
  );
}

describe('fuzzed ext images', () => {
  it('intact images walk without errors (the baseline the mutations start from)', async () => {
    for (const target of targets) {
      const outcome = await exercise(target.bytes);
      fuzz.expectWalkIntact(target.name, outcome);
      expect(outcome.entries).toBeGreaterThan(90);
      if (target.name === 'journaled') {
        const fs = await openExt4(new MemoryByteRangeReader(target.bytes));
        expect(fs.warnings[0]).toMatch(/^journal replayed in memory: 2 transactions, \d+ blocks$/);
      }
      const kinds = new Set(target.regions.map((r) => r.kind));
      expect(['superblock', 'gdt', 'inodes', 'dir', 'map'].every((k) => kinds.has(k))).toBe(true);
    }
  });

  fuzz.itFinishesEveryMutatedImage(
    'fuzz',
    targets,
    { mutations: fuzz.FUZZ_MUTATIONS_PER_IMAGE },
    // Odd seeds skip checksum verification: a guest can write valid checksums, so the
    // structural defences must hold on their own.
    (_target, bytes, seed) => exercise(bytes, seed % 2 === 0),
    {
      images: () => 4 * fuzz.FUZZ_MUTATIONS_PER_IMAGE,
      damaged: (totals) => totals.walkErrors + totals.fileErrors,
      damagedMoreThanOneIn: 5,
    },
  );
});
