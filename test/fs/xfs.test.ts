/**
 * XFS images made by mkfs.xfs and filled by the kernel's XFS driver through a loop mount (v5), or
 * by mkfs.xfs -p (v4, which this kernel no longer mounts). The oracle is the mounted filesystem
 * itself: every path, inode number, mode, owner, time and byte the reader returns must equal what
 * the kernel shows. xfs_db and xfs_bmap confirm that each on-disk format is really exercised.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileNotFoundInImageError, FilesystemCorruptError } from '../../lambdas/core/fs/errors.ts';
import { openXfs } from '../../lambdas/core/fs/xfs/filesystem.ts';
import type { XfsFilesystem } from '../../lambdas/core/fs/xfs/filesystem.ts';
import type { FileExtent } from '../../lambdas/core/fs/filesystem.ts';
import { FileByteRangeReader, MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { generateTree, prng, randomBytes, run, writeSparseFile } from '../support/fs-images.ts';
import { useScratchDir } from '../support/scratch-dir.ts';
import { makeXfsImage, verifyAgainstTree, writeInterleaved } from './xfs-images.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** Real trees copied in when present (several thousand files between them). */
const REAL_TREES = ['/usr/share/perl5', '/usr/share/perl', path.resolve('node_modules/typescript')];
const SPARSE_SIZE = 5 * GIB + 12_345;
const SPARSE_PIECES = (() => {
  const rand = prng(77);
  return [
    { offset: 0, data: randomBytes(rand, 5000) },
    { offset: 4 * GIB - 3000, data: randomBytes(rand, 10_000) },
    { offset: SPARSE_SIZE - 7, data: randomBytes(rand, 7) },
  ];
})();
const FRAGMENTED_PIECES = 300;

const work = useScratchDir('xfs');
const mounts: string[] = [];
const readers: FileByteRangeReader[] = [];
let v5: { fs: XfsFilesystem; img: string; mnt: string };

async function mountReadOnly(img: string): Promise<string> {
  const mnt = `${img}.ro`;
  await run('mkdir', ['-p', mnt]);
  await run('mount', ['-o', 'ro,loop', img, mnt]);
  mounts.push(mnt);
  return mnt;
}

async function openImage(img: string): Promise<XfsFilesystem> {
  const reader = await FileByteRangeReader.open(img);
  readers.push(reader);
  return openXfs(reader);
}

/** `xfs_db -r -c "inode N" -c "p core.format"` → "local", "extents" or "btree". */
async function forkFormat(img: string, inode: number): Promise<string> {
  const out = await run('xfs_db', ['-r', '-c', `inode ${inode}`, '-c', 'p core.format', img]);
  return /\((\w+)\)/.exec(out)![1]!;
}

beforeAll(async () => {
  const src = path.join(work(), 'gen');
  await generateTree(src, { seed: 13, files: 800, deepChain: 8, maxSymlinkBytes: 1000 });
  const img = path.join(work(), 'v5.img');
  await makeXfsImage(img, {
    sizeBytes: 256 * MIB,
    label: 'rbp-xfs-v5',
    sourceDir: src,
    populate: async (m) => {
      for (const tree of REAL_TREES) {
        // A missing tree only makes the image smaller; the oracle is the mount either way.
        await run('cp', ['-a', tree, path.join(m, `real-${path.basename(tree)}`)]).catch(() => undefined);
      }
      await run('mkdir', [path.join(m, 'big-dir'), path.join(m, 'leaf-dir'), path.join(m, 'block-dir')]);
      // 3000 entries: a node directory (data blocks, several leaf blocks and a free index).
      for (let i = 0; i < 3000; i += 1) await writeFile(path.join(m, 'big-dir', `entry-${i}-ünï`), '');
      // 150 entries: a leaf directory (a few data blocks and one leaf block).
      for (let i = 0; i < 150; i += 1)
        await writeFile(path.join(m, 'leaf-dir', `${'x'.repeat(20)}-${i}`), `${i}`);
      // 30 entries: too many for the inode, one block.
      for (let i = 0; i < 30; i += 1) await writeFile(path.join(m, 'block-dir', `name-${i}`), `${i}`);
      await writeInterleaved(m, 'fragmented', FRAGMENTED_PIECES);
      await writeSparseFile(path.join(m, 'huge-sparse'), SPARSE_SIZE, SPARSE_PIECES);
      await writeSparseFile(
        path.join(m, 'holes'),
        600 * 4096,
        Array.from({ length: 300 }, (_, i) => ({ offset: i * 8192, data: new Uint8Array(4096).fill(i + 1) })),
      );
      // Unwritten extents: preallocated space reads as zeros, with a written piece in the middle.
      await run('fallocate', ['-l', String(2 * MIB), path.join(m, 'preallocated')]);
      await run('fallocate', ['-l', String(3 * MIB), path.join(m, 'partly-written')]);
      const handle = await open(path.join(m, 'partly-written'), 'r+');
      await handle.write(new Uint8Array(10_000).fill(0xab), 0, 10_000, MIB + 100);
      await handle.close();
      await writeFile(path.join(m, 'large'), randomBytes(prng(5), 20 * MIB + 3));
      await writeFile(path.join(m, 'after-2038'), 'bigtime\n');
      await run('touch', ['-d', '2200-03-04 05:06:07.123456789', path.join(m, 'after-2038')]);
      await writeFile(path.join(m, 'before-1970'), 'old\n');
      await run('touch', ['-d', '1950-01-02 03:04:05.5', path.join(m, 'before-1970')]);
    },
  });
  v5 = { fs: await openImage(img), img, mnt: await mountReadOnly(img) };
}, 180_000);

afterAll(async () => {
  await Promise.all(readers.map((r) => r.close()));
  for (const mnt of mounts) await run('umount', [mnt]).catch(() => undefined);
});

describe('XFS v5 (CRC, ftype, bigtime, sparse inodes) filled by the kernel', () => {
  it('walks equal to the mounted filesystem, and every file reads back byte for byte', async () => {
    const result = await verifyAgainstTree(v5.fs, v5.mnt, {
      sameInodes: true,
      times: 'all',
      skipContent: new Set(['/huge-sparse']),
    });
    expect(result.entries).toBeGreaterThan(5000);
    expect(v5.fs.warnings).toEqual([]);
    expect({ label: v5.fs.label, uuid: v5.fs.uuid }).toEqual({
      label: 'rbp-xfs-v5',
      uuid: (await run('blkid', ['-s', 'UUID', '-o', 'value', v5.img])).trim(),
    });
  });

  it('exercises every data-fork and directory format (as xfs_db reports them)', async () => {
    const formats: Record<string, string> = {};
    for (const p of ['/block-dir', '/leaf-dir', '/big-dir', '/fragmented', '/tiny-dir', '/large']) {
      formats[p] = await forkFormat(v5.img, await v5.fs.lookup(p));
    }
    expect(formats).toEqual({
      '/block-dir': 'extents',
      '/leaf-dir': 'extents',
      '/big-dir': 'btree',
      '/fragmented': 'btree',
      '/tiny-dir': 'local',
      '/large': 'extents',
    });
    // Directory shape from its block map (xfs_db; FIEMAP stops at di_size): leaf blocks start at
    // byte 2^35, the free index of a node directory at 2^36. Block form: one block, nothing above;
    // leaf form: one leaf block, no free index.
    const sections = async (p: string): Promise<{ data: number; leaf: number; free: number }> => {
      const out = { data: 0, leaf: 0, free: 0 };
      const inode = await v5.fs.lookup(p);
      const bmap = await run('xfs_db', ['-r', '-c', `inode ${inode}`, '-c', 'bmap', v5.img]);
      for (const m of bmap.matchAll(/data offset (\d+) startblock \d+ \(\S+\) count (\d+)/g)) {
        const byte = Number(m[1]) * v5.fs.blockSize;
        const blocks = Number(m[2]);
        if (byte >= 2 ** 36) out.free += blocks;
        else if (byte >= 2 ** 35) out.leaf += blocks;
        else out.data += blocks;
      }
      return out;
    };
    expect(await sections('/block-dir')).toEqual({ data: 1, leaf: 0, free: 0 });
    const leaf = await sections('/leaf-dir');
    expect({ leaf: leaf.leaf, free: leaf.free }).toEqual({ leaf: 1, free: 0 });
    expect(leaf.data).toBeGreaterThan(1);
    const node = await sections('/big-dir');
    expect(node.leaf).toBeGreaterThan(1);
    expect(node.free).toBeGreaterThan(0);
    const links = { short: 0, long: 0 };
    for await (const item of v5.fs.walk()) {
      if (item.kind !== 'entry' || item.type !== 'symlink') continue;
      const format = item.size <= 60 ? 'short' : 'long';
      if (format === 'long' && (await forkFormat(v5.img, item.inode)) === 'extents') links.long += 1;
      if (format === 'short') links.short += 1;
    }
    expect(links.short).toBeGreaterThan(5);
    expect(links.long).toBeGreaterThan(5);
  });

  it('maps extents exactly as xfs_bmap does: B+tree leaves, holes and unwritten extents left out', async () => {
    for (const p of ['/fragmented', '/holes', '/partly-written', '/preallocated']) {
      const ours = [];
      for await (const e of v5.fs.extents(await v5.fs.lookup(p))) {
        ours.push(
          `[${e.logicalOffset / 512}..${(e.logicalOffset + e.length) / 512 - 1}]: ${e.physicalOffset / 512}`,
        );
      }
      // -vp: one line per extent with its FLAGS; 0o10000 marks an unwritten (preallocated) extent.
      const bmap = await run('xfs_bmap', ['-vp', path.join(v5.mnt, p)]);
      const theirs = [...bmap.matchAll(/\[(\d+)\.\.(\d+)\]:\s+(\d+)\.\.\d+\s+\d+\s+\(\S+\)\s+\d+\s+(\d+)/g)]
        .filter((m) => (Number.parseInt(m[4]!, 8) & 0o10000) === 0)
        .map((m) => `[${m[1]}..${m[2]}]: ${m[3]}`);
      expect({ p, extents: ours }).toEqual({ p, extents: theirs });
    }
    let fragmented = 0;
    for await (const _ of v5.fs.extents(await v5.fs.lookup('/fragmented'))) fragmented += 1;
    expect(fragmented).toBeGreaterThan(FRAGMENTED_PIECES / 2);
  });

  it('reads a 5 GiB sparse file at its pieces, holes as zeros, and streams across pieces', async () => {
    const inode = await v5.fs.lookup('/huge-sparse');
    expect((await v5.fs.stat(inode)).size).toBe(SPARSE_SIZE);
    for (const piece of SPARSE_PIECES) {
      const got = await v5.fs.readFile(inode, piece.offset, piece.data.length);
      expect(Buffer.from(got).equals(piece.data)).toBe(true);
    }
    expect(await v5.fs.readFile(inode, 2 * GIB, 4096)).toEqual(new Uint8Array(4096));
    const streamed: Uint8Array[] = [];
    for await (const piece of v5.fs.readFileStream(inode, {
      offset: 4 * GIB - 5000,
      length: 20_000,
      pieceBytes: 4096,
    })) {
      expect(piece.length).toBeLessThanOrEqual(4096);
      streamed.push(piece);
    }
    const handle = await open(path.join(v5.mnt, 'huge-sparse'), 'r');
    const want = Buffer.alloc(20_000);
    await handle.read(want, 0, 20_000, 4 * GIB - 5000);
    await handle.close();
    expect(Buffer.concat(streamed).equals(want)).toBe(true);
  });

  it('looks up Unicode paths, and names a missing path exactly', async () => {
    const inode = await v5.fs.lookup('/big-dir/entry-2999-ünï');
    expect((await v5.fs.stat(inode)).size).toBe(0);
    const missing = v5.fs.lookup('/big-dir/entry-3000-ünï');
    await expect(missing).rejects.toThrow('no such file or directory: /big-dir/entry-3000-ünï');
    await expect(missing).rejects.toBeInstanceOf(FileNotFoundInImageError);
    const sub = [];
    for await (const item of v5.fs.walk({ root: '/leaf-dir' }))
      if (item.kind === 'entry') sub.push(item.path);
    expect(sub.length).toBe(151);
    expect(sub[0]).toBe('/leaf-dir');
  });

  it('records a damaged directory block as an error for that directory and walks on', async () => {
    const bytes = new Uint8Array(await readFile(v5.img));
    const fs = await openXfs(new MemoryByteRangeReader(bytes));
    const dir = await fs.lookup('/block-dir');
    const first = await fs.extents(dir).next();
    bytes[(first.value as FileExtent).physicalOffset + 200]! ^= 0xff;
    const damaged = await openXfs(new MemoryByteRangeReader(bytes));
    const errors: { path: string; message: string }[] = [];
    let entries = 0;
    for await (const item of damaged.walk()) {
      if (item.kind === 'error') errors.push({ path: item.path, message: item.error.message });
      else entries += 1;
    }
    expect(errors.map((e) => e.path)).toEqual(['/block-dir']);
    expect(errors[0]!.message).toMatch(
      new RegExp(`^directory inode ${dir}: data block at sector \\d+: checksum mismatch$`),
    );
    expect(entries).toBeGreaterThan(5000);
    for await (const item of damaged.walk({ root: '/block-dir' })) {
      if (item.kind === 'error') expect(item.error).toBeInstanceOf(FilesystemCorruptError);
    }
  });
});

describe('XFS variants', () => {
  it('v4 (no CRCs, made by mkfs.xfs -p from a protofile): walks equal to its source', async () => {
    const src = path.join(work(), 'v4-src');
    await run('mkdir', ['-p', src]);
    await run('cp', ['-a', '/usr/share/perl5', path.join(src, 'perl5')]).catch(() => undefined);
    await run('mkdir', [path.join(src, 'many')]);
    for (let i = 0; i < 700; i += 1) await writeFile(path.join(src, 'many', `file-${i}-日本`), `${i}\n`);
    await writeFile(path.join(src, 'setuid'), 'x');
    await run('chmod', ['4755', path.join(src, 'setuid')]);
    await run('ln', ['-s', 'short-target', path.join(src, 'short-link')]);
    await run('ln', ['-s', `${'long/'.repeat(180)}end`, path.join(src, 'long-link')]);
    const img = path.join(work(), 'v4.img');
    await makeXfsImage(img, {
      sizeBytes: 64 * MIB,
      mkfsArgs: ['-m', 'crc=0'],
      label: 'v4',
      protofileFrom: src,
    });
    const fs = await openImage(img);
    expect(fs.superblock.version).toBe(4);
    expect(fs.warnings).toEqual(['XFS v4 (no metadata checksums): damage is found by structure checks only']);
    const result = await verifyAgainstTree(fs, src, { sameInodes: false, times: 'none' });
    expect(result.entries).toBeGreaterThan(1000);
    expect(await forkFormat(img, await fs.lookup('/long-link'))).toBe('extents');
  });

  it('1 KiB blocks, 8 KiB directory blocks (one spans several filesystem blocks) and 64-bit extent counters (nrext64)', async () => {
    const src = path.join(work(), 'small-src');
    await generateTree(src, { seed: 21, files: 300, deepChain: 4, maxSymlinkBytes: 1000 });
    const img = path.join(work(), 'k1.img');
    await makeXfsImage(img, {
      sizeBytes: 96 * MIB,
      mkfsArgs: ['-b', 'size=1024', '-n', 'size=8192', '-i', 'nrext64=1'],
      sourceDir: src,
      populate: async (m) => {
        await run('mkdir', [path.join(m, 'wide')]);
        for (let i = 0; i < 2000; i += 1) await writeFile(path.join(m, 'wide', `n-${i}`), '');
      },
    });
    const fs = await openImage(img);
    expect({ block: fs.blockSize, dirBlock: fs.superblock.dirBlockSize }).toEqual({
      block: 1024,
      dirBlock: 8192,
    });
    const result = await verifyAgainstTree(fs, await mountReadOnly(img), { sameInodes: true, times: 'all' });
    expect(result.entries).toBeGreaterThan(2300);
  });
});

describe('hostile XFS images (crafted with xfs_db -x, which rewrites the checksums: only structure checks can catch them)', () => {
  it('a directory entry pointing at the root, a symlink with an absurd size, a B+tree leaf listed twice', async () => {
    const img = path.join(work(), 'hostile.img');
    await run('cp', ['--sparse=always', v5.img, img]);
    const tiny = await v5.fs.lookup('/tiny-dir');
    let link = 0;
    let linkPath = '';
    for await (const item of v5.fs.walk()) {
      if (item.kind === 'entry' && item.type === 'symlink' && item.size < 40) {
        link = item.inode;
        linkPath = item.path;
        break;
      }
    }
    const holes = await v5.fs.lookup('/holes');
    const ptrs = await run('xfs_db', ['-r', '-c', `inode ${holes}`, '-c', 'p u3.bmbt.ptrs', img]);
    const first = /= 1:(\d+)/.exec(ptrs)![1]!;
    await run('xfs_db', [
      '-x',
      '-c',
      `inode ${tiny}`,
      '-c',
      `write u3.sfdir3.list[0].inumber.i4 ${v5.fs.superblock.rootInode}`,
      '-c',
      `inode ${link}`,
      '-c',
      'write core.size 5000',
      '-c',
      `inode ${holes}`,
      '-c',
      `write u3.bmbt.ptrs[2] ${first}`,
      img,
    ]);
    const fs = await openImage(img);
    const errors: { path: string; message: string; typed: boolean }[] = [];
    let entries = 0;
    for await (const item of fs.walk()) {
      if (item.kind === 'error') {
        errors.push({
          path: item.path,
          message: item.error.message,
          typed: item.error instanceof FilesystemCorruptError,
        });
      } else entries += 1;
    }
    expect(errors.sort((x, y) => (x.path < y.path ? -1 : 1))).toEqual(
      [
        { path: linkPath, message: `symlink inode ${link} has an invalid target length 5000`, typed: true },
        {
          path: '/tiny-dir/only-file',
          message: `directory inode ${v5.fs.superblock.rootInode} is reachable twice (a cycle or a hard-linked directory)`,
          typed: true,
        },
      ].sort((x, y) => (x.path < y.path ? -1 : 1)),
    );
    expect(entries).toBeGreaterThan(5000);
    await expect(fs.readFile(holes)).rejects.toThrow(
      /^inode \d+: extent at block \d+ is empty or overlaps the previous one$/,
    );
    // Everything else still reads.
    expect(
      Buffer.from(await fs.readFile(await fs.lookup('/large'), 0, 1000)).equals(
        Buffer.from(await v5.fs.readFile(await v5.fs.lookup('/large'), 0, 1000)),
      ),
    ).toBe(true);
  });
});
