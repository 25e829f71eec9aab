/**
 * ext2/3/4 images made by mke2fs -d from generated trees; the source tree is the oracle. Covers
 * 1/4/64 KiB blocks, extents and indirect maps, inline data, 64bit + meta_bg, huge sparse files,
 * fast/slow symlinks, hard links, special files, label/UUID, and changes made with debugfs -w.
 */
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { openExt4 } from '../../lambdas/core/fs/index.ts';
import type { Ext4Filesystem } from '../../lambdas/core/fs/index.ts';
import { FileNotFoundInImageError } from '../../lambdas/core/fs/errors.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import {
  debugfs,
  generateTree,
  makeExtImage,
  prng,
  randomBytes,
  writeSparseFile,
} from '../support/fs-images.ts';
import { useScratchDir } from '../support/scratch-dir.ts';
import type { ExtImageOptions } from '../support/fs-images.ts';
import { collectWalk, verifyAgainstSource } from './verify-against-source.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const work = useScratchDir('ext4');
const readers: FileByteRangeReader[] = [];

afterAll(async () => {
  await Promise.all(readers.map((r) => r.close()));
});

/** Opens an image file; the reader is closed after all tests. */
async function openImage(img: string): Promise<{ fs: Ext4Filesystem; reader: FileByteRangeReader }> {
  const reader = await FileByteRangeReader.open(img);
  readers.push(reader);
  return { fs: await openExt4(reader), reader };
}

/**
 * An image made by mke2fs -d from a generated tree, opened; with `sparse`, the tree also holds
 * `/huge-sparse`, a SPARSE_SIZE-byte file with only these pieces written.
 */
async function build(
  name: string,
  tree: Parameters<typeof generateTree>[1],
  image: Omit<ExtImageOptions, 'sourceDir'>,
  sparse?: { offset: number; data: Uint8Array }[],
): Promise<{ fs: Ext4Filesystem; src: string; img: string; reader: FileByteRangeReader }> {
  const src = path.join(work(), `${name}-src`);
  const img = path.join(work(), `${name}.img`);
  await generateTree(src, tree);
  if (sparse !== undefined) await writeSparseFile(path.join(src, 'huge-sparse'), SPARSE_SIZE, sparse);
  await makeExtImage(img, { ...image, sourceDir: src });
  return { ...(await openImage(img)), src, img };
}

/** Data pieces of the huge sparse file: one crosses the 4 GiB boundary, one ends at EOF. */
const SPARSE_SIZE = 5 * GIB + 12_345;
function sparsePieces(seed: number): { offset: number; data: Uint8Array }[] {
  const rand = prng(seed);
  return [
    { offset: 0, data: randomBytes(rand, 5000) },
    { offset: 4 * GIB - 3000, data: randomBytes(rand, 10_000) },
    { offset: 5 * GIB - MIB, data: randomBytes(rand, MIB) },
    { offset: SPARSE_SIZE - 7, data: randomBytes(rand, 7) },
  ];
}

async function checkSparse(
  fs: Ext4Filesystem,
  pieces: { offset: number; data: Uint8Array }[],
): Promise<void> {
  const inode = await fs.lookup('/huge-sparse');
  expect((await fs.stat(inode)).size).toBe(SPARSE_SIZE);
  for (const piece of pieces) {
    expect(Buffer.from(await fs.readFile(inode, piece.offset, piece.data.length)).equals(piece.data)).toBe(
      true,
    );
  }
  // A hole reads as zeros, and the mapped extents cover exactly the blocks holding data.
  expect(await fs.readFile(inode, 2 * GIB, 4096)).toEqual(new Uint8Array(4096));
  const extents = await fs.fileExtents(inode);
  const bs = fs.blockSize;
  const expectedBlocks = new Set<number>();
  for (const p of pieces) {
    for (let b = Math.floor(p.offset / bs); b <= Math.floor((p.offset + p.data.length - 1) / bs); b += 1)
      expectedBlocks.add(b);
  }
  const mapped = new Set<number>();
  for (const e of extents) {
    for (let off = e.logicalOffset; off < e.logicalOffset + e.length; off += bs)
      mapped.add(Math.floor(off / bs));
  }
  expect([...mapped].sort((a, b) => a - b)).toEqual([...expectedBlocks].sort((a, b) => a - b));
  // The stream variant agrees with ranged reads around the 4 GiB boundary.
  const around: Uint8Array[] = [];
  for await (const piece of fs.readFileStream(inode, {
    offset: 4 * GIB - 4096,
    length: 3 * 4096,
    pieceBytes: 5000,
  })) {
    around.push(piece);
  }
  expect(Buffer.concat(around).equals(Buffer.from(await fs.readFile(inode, 4 * GIB - 4096, 3 * 4096)))).toBe(
    true,
  );
}

/** One image variant: its tree and mke2fs options, and what it shows besides walking equal to its tree. */
interface Variant {
  readonly title: string;
  readonly name: string;
  readonly tree: Parameters<typeof generateTree>[1];
  readonly image: Omit<ExtImageOptions, 'sourceDir'>;
  /** Seed of the pieces of `/huge-sparse`, when the tree holds one (checked with checkSparse). */
  readonly sparseSeed?: number;
  /** Checks of the opened filesystem, before the walk. */
  readonly check?: (fs: Ext4Filesystem) => Promise<void> | void;
  /** Checks of the walk's figures. */
  readonly walked?: (result: Awaited<ReturnType<typeof verifyAgainstSource>>) => void;
}

const ROOT_UUID = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';

const VARIANTS: readonly Variant[] = [
  {
    title:
      'ext4 with 4 KiB blocks, extents, flex_bg, a 5 GiB sparse file: every file reads back byte for byte',
    name: 'ext4-4k',
    tree: { seed: 1, files: 2500, deepChain: 80 },
    image: { type: 'ext4', sizeBytes: 160 * MIB, blockSize: 4096, label: 'rbp-root', uuid: ROOT_UUID },
    sparseSeed: 7,
    check: (fs) => {
      expect({ label: fs.label, uuid: fs.uuid, blockSize: fs.blockSize, fsType: fs.fsType }).toEqual({
        label: 'rbp-root',
        uuid: ROOT_UUID,
        blockSize: 4096,
        fsType: 'ext4',
      });
    },
    walked: (result) => expect(result.filesCompared).toBeGreaterThan(2500),
  },
  {
    title: 'ext4 with 1 KiB blocks, including htree directories and deep chains',
    name: 'ext4-1k',
    tree: { seed: 2, files: 1200, deepChain: 150, maxFileBytes: 120_000 },
    image: { type: 'ext4', sizeBytes: 96 * MIB, blockSize: 1024, htreeDirectories: true },
    check: async (fs) => {
      const many = await fs.stat(await fs.lookup('/many-entries'));
      expect(many.flags & 0x1000).toBe(0x1000); // dir_index: the big directory is an htree
    },
    walked: (result) => expect(result.entries).toBeGreaterThan(1400),
  },
  {
    title: 'ext4 with 64 KiB blocks: rec_len encoded for 64 KiB blocks',
    name: 'ext4-64k',
    tree: { seed: 3, files: 300, deepChain: 5, maxSymlinkBytes: 2000 },
    image: { type: 'ext4', sizeBytes: 128 * MIB, blockSize: 65536 },
    check: (fs) => {
      expect(fs.blockSize).toBe(65536);
    },
  },
  {
    title: 'ext3 with 4 KiB blocks, including a 5 GiB sparse file through triple-indirect blocks',
    name: 'ext3',
    tree: { seed: 4, files: 800, deepChain: 20 },
    image: { type: 'ext3', sizeBytes: 96 * MIB, blockSize: 4096 },
    sparseSeed: 11,
    check: (fs) => {
      expect(fs.fsType).toBe('ext3');
    },
  },
  {
    title: 'ext2 with 1 KiB blocks and 128-byte inodes',
    name: 'ext2',
    tree: { seed: 5, files: 600, deepChain: 10, maxFileBytes: 400_000 },
    image: { type: 'ext2', sizeBytes: 64 * MIB, blockSize: 1024, inodeSize: 128 },
    check: async (fs) => {
      expect(fs.fsType).toBe('ext2');
      const root = await fs.stat(2);
      expect(root.crtime).toBeUndefined();
    },
  },
  {
    title: 'ext4 without extents (-O ^extent)',
    name: 'ext4-noextent',
    tree: { seed: 6, files: 500 },
    image: { type: 'ext4', sizeBytes: 64 * MIB, blockSize: 1024, features: ['^extent', '^64bit'] },
  },
  {
    title: 'inline_data: small files and small directories live inside their inodes',
    name: 'inline',
    tree: { seed: 8, files: 700, maxFileBytes: 20_000 },
    image: { type: 'ext4', sizeBytes: 64 * MIB, blockSize: 4096, inodeSize: 256, features: ['inline_data'] },
    check: async (fs) => {
      const items = await collectWalk(fs);
      const inlineFiles = items.filter(
        (i) => i.kind === 'entry' && i.flags & 0x10000000 && i.type === 'file' && i.size > 60,
      );
      const inlineDirs = items.filter(
        (i) => i.kind === 'entry' && i.flags & 0x10000000 && i.type === 'directory',
      );
      expect(inlineFiles.length).toBeGreaterThan(10);
      expect(inlineDirs.length).toBeGreaterThan(0);
    },
  },
  {
    title: '64bit + meta_bg: group descriptors spread across meta groups',
    name: 'metabg',
    tree: { seed: 9, files: 400 },
    image: {
      type: 'ext4',
      sizeBytes: 64 * MIB,
      blockSize: 1024,
      features: ['64bit', 'meta_bg', '^resize_inode'],
      blocksPerGroup: 1024,
    },
    check: (fs) => {
      const sb = fs.superblock;
      expect(sb.descSize).toBe(64);
      expect(sb.featureIncompat & 0x10).toBe(0x10);
      // 64 groups of 16 descriptors per 1 KiB block: the descriptors span 4 meta groups.
      expect(sb.groupCount).toBe(64);
      expect(sb.firstMetaBg).toBeLessThan(sb.groupCount / (sb.blockSize / sb.descSize));
    },
  },
];

describe('ext2/3/4 variants walk equal to their source trees', () => {
  it.each(VARIANTS)('$title', async (variant) => {
    const pieces = variant.sparseSeed === undefined ? undefined : sparsePieces(variant.sparseSeed);
    const { fs, src } = await build(variant.name, variant.tree, variant.image, pieces);
    await variant.check?.(fs);
    const result = await verifyAgainstSource(
      fs,
      src,
      pieces === undefined ? {} : { skipContent: new Set(['/huge-sparse']) },
    );
    variant.walked?.(result);
    if (pieces !== undefined) await checkSparse(fs, pieces);
  });
});

describe('changes made with debugfs -w', () => {
  it('sees removed, written and re-timestamped files', async () => {
    const { fs: before, img } = await build(
      'debugfs',
      { seed: 12, files: 200 },
      {
        type: 'ext4',
        sizeBytes: 32 * MIB,
        blockSize: 1024,
      },
    );
    const victim = (await collectWalk(before)).find(
      (i) => i.kind === 'entry' && i.type === 'file' && i.nlink === 1 && i.size > 2000 && i.depth === 1,
    )!;
    const newContent = path.join(work(), 'new-content');
    await writeSparseFile(newContent, 300_000, [{ offset: 1000, data: randomBytes(prng(99), 250_000) }]);
    await debugfs(img, [
      `rm "${victim.path}"`,
      'mkdir /added-dir',
      `write ${newContent} /added-dir/new-file`,
      'symlink /added-dir/link /a/target/that/is/long/enough/to/need/its/own/data/block/for/sure/xyz',
      'sif /added-dir/new-file mtime 0x12345678',
      'sif /added-dir/new-file mtime_extra 0x1d6f3455',
      'sif /added-dir/new-file uid 4242',
      'sif /added-dir/new-file mode 0100640',
    ]);
    const { fs } = await openImage(img);
    await expect(fs.lookup(victim.path)).rejects.toThrow(FileNotFoundInImageError);
    await expect(fs.lookup(victim.path)).rejects.toThrow(`no such file or directory: ${victim.path}`);
    const inode = await fs.lookup('/added-dir/new-file');
    const stat = await fs.stat(inode);
    // mtime_extra 0x1d6f3455: epoch bits 01 (seconds + 2^32), nanoseconds 123456789.
    expect({
      mtime: stat.mtime,
      uid: stat.uid,
      permissions: stat.permissions,
      type: stat.type,
      size: stat.size,
    }).toEqual({
      mtime: { seconds: 0x12345678 + 2 ** 32, nanoseconds: 123_456_789 },
      uid: 4242,
      permissions: 0o640,
      type: 'file',
      size: 300_000,
    });
    const expected = new Uint8Array(300_000);
    expected.set(randomBytes(prng(99), 250_000), 1000);
    expect(Buffer.from(await fs.readFile(inode)).equals(Buffer.from(expected))).toBe(true);
    expect(new TextDecoder().decode(await fs.readLink(await fs.lookup('/added-dir/link')))).toBe(
      '/a/target/that/is/long/enough/to/need/its/own/data/block/for/sure/xyz',
    );
    // Everything else is unchanged.
    const remaining = (await collectWalk(fs)).filter(
      (i) => i.kind === 'entry' && !i.path.startsWith('/added-dir'),
    );
    const original = (await collectWalk(before)).filter((i) => i.kind === 'entry' && i.path !== victim.path);
    expect(remaining.map((i) => i.path).sort()).toEqual(original.map((i) => i.path).sort());
  });
});

describe('readers that return views into pooled Node Buffers', () => {
  it('verifies inode checksums on the bytes of that inode, not on the start of the pool', async () => {
    const { reader, src } = await build(
      'pooled',
      { seed: 3, files: 40 },
      {
        type: 'ext4',
        sizeBytes: 16 * MIB,
        blockSize: 4096,
      },
    );
    // Every answer is a Buffer that starts 13 bytes into a larger allocation, the way pooled
    // Buffers and Buffer.subarray() views come back from the engine's image reader.
    const pooled = {
      size: reader.size,
      async read(offset: number, length: number): Promise<Uint8Array> {
        const bytes = await reader.read(offset, length);
        return Buffer.concat([Buffer.alloc(13, 0xee), bytes]).subarray(13);
      },
    };
    const fs = await openExt4(pooled);
    const result = await verifyAgainstSource(fs, src);
    expect(result.filesCompared).toBeGreaterThanOrEqual(40);
  });
});
