/**
 * Handcrafted hostile images: each damage is made with debugfs or by patching the bytes the way a
 * guest could, and must give a typed error for that file or directory while the rest still reads.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FilesystemCorruptError,
  FilesystemLimitError,
  UnsupportedFilesystemError,
  openExt4,
} from '../../lambdas/core/fs/index.ts';
import type { WalkItem } from '../../lambdas/core/fs/index.ts';
import { crc32cRaw } from '../../lambdas/core/fs/bytes.ts';
import { FileByteRangeReader, MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import {
  debugfs,
  generateTree,
  makeExtImage,
  removeDir,
  scratchDir,
  writeSparseFile,
} from '../support/fs-images.ts';
import { collectWalk } from './verify-against-source.ts';

const MIB = 1024 * 1024;
let work: string;
let src: string;

beforeAll(async () => {
  work = await scratchDir('hostile');
  src = path.join(work, 'src');
  await generateTree(src, { seed: 31, files: 60, deepChain: 12, specialFiles: false });
  // 20 one-block pieces separated by holes: more extents than fit in the inode, so a depth-1 tree.
  await writeSparseFile(
    path.join(src, 'fragmented'),
    40 * 1024,
    Array.from({ length: 20 }, (_, i) => ({ offset: i * 2048, data: new Uint8Array(1024).fill(i + 1) })),
  );
});
afterAll(async () => {
  await removeDir(work);
});

async function freshImage(name: string): Promise<string> {
  const image = path.join(work, `${name}.img`);
  await makeExtImage(image, { type: 'ext4', sizeBytes: 8 * MIB, blockSize: 1024, sourceDir: src });
  return image;
}

async function walkImage(image: string, limits = {}): Promise<WalkItem[]> {
  const reader = await FileByteRangeReader.open(image);
  try {
    return await collectWalk(await openExt4(reader, { limits }));
  } finally {
    await reader.close();
  }
}

/** The promise rejects with exactly this class and message. */
async function expectRejection(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => Error,
  message: string,
): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(type);
  expect((error as Error).message).toBe(message);
}

function errorsOf(items: readonly WalkItem[]): { path: string; type: string; message: string }[] {
  return items.flatMap((i) =>
    i.kind === 'error' ? [{ path: i.path, type: i.error.name, message: i.error.message }] : [],
  );
}

function pathsOf(items: readonly WalkItem[]): string[] {
  return items.flatMap((i) => (i.kind === 'entry' ? [i.path] : []));
}

describe('hostile ext4 images', () => {
  it('a directory cycle yields one error and the walk ends', async () => {
    const image = await freshImage('cycle');
    const pristine = pathsOf(await walkImage(image));
    await debugfs(image, ['ln /level-0 /level-0/level-1/level-2/back-to-top']);
    const items = await walkImage(image);
    const inode = items.find((i) => i.kind === 'entry' && i.path === '/level-0')!;
    expect(errorsOf(items)).toEqual([
      {
        path: '/level-0/level-1/level-2/back-to-top',
        type: 'FilesystemCorruptError',
        message: `directory inode ${(inode as { inode: number }).inode} is reachable twice (a cycle or a hard-linked directory)`,
      },
    ]);
    expect(pathsOf(items).sort()).toEqual([...pristine, '/level-0/level-1/level-2/back-to-top'].sort());
  });

  it('an extent tree that points at itself is a loop error for that file only', async () => {
    const image = await freshImage('extent-loop');
    const stat = await debugfs(image, ['stat /fragmented', 'imap /fragmented'], false);
    const node = Number(/\(ETB0\):(\d+)/.exec(stat)![1]);
    const [, inodeBlock, inodeOffset] = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(stat)!;
    const bytes = new Uint8Array(await readFile(image));
    const view = new DataView(bytes.buffer);
    const root = Number(inodeBlock) * 1024 + parseInt(inodeOffset!, 16) + 0x28;
    view.setUint16(root + 6, 2, true); // root claims depth 2
    const nodeAt = node * 1024;
    view.setUint16(nodeAt + 2, 1, true); // one entry
    view.setUint16(nodeAt + 6, 1, true); // an index node (depth 1)...
    view.setUint32(nodeAt + 12, 0, true);
    view.setUint32(nodeAt + 16, node, true); // ...whose only child is itself
    view.setUint16(nodeAt + 20, 0, true);
    // A guest can write valid checksums too: loop detection must hold without them.
    const fs = await openExt4(new MemoryByteRangeReader(bytes), { verifyChecksums: false });
    await expect(
      openExt4(new MemoryByteRangeReader(bytes)).then((f) =>
        f.lookup('/fragmented').then((i) => f.readFile(i)),
      ),
    ).rejects.toThrow(`inode ${Number(/Inode: (\d+)/.exec(stat)![1])}: checksum mismatch`);
    const inode = await fs.lookup('/fragmented');
    await expectRejection(
      fs.readFile(inode),
      FilesystemCorruptError,
      `inode ${inode}: extent tree loops: node ${node} is visited twice`,
    );
    await expect(fs.fileExtents(inode)).rejects.toThrow(FilesystemCorruptError);
    // The walk does not read file data, so it is unaffected.
    expect(errorsOf(await collectWalk(fs))).toEqual([]);
  });

  it('an inode claiming a 2^60-byte size is an error for that path', async () => {
    const image = await freshImage('huge-size');
    await debugfs(image, ['sif /fragmented size 0x1000000000000000']);
    const items = await walkImage(image);
    const inode = Number(/Inode: (\d+)/.exec(await debugfs(image, ['stat /fragmented'], false))![1]);
    expect(errorsOf(items)).toEqual([
      {
        path: '/fragmented',
        type: 'FilesystemCorruptError',
        message: `inode ${inode} claims a size of 2^53 bytes or more`,
      },
    ]);
  });

  it('a directory claiming 1 TiB is refused by the size limit, siblings still read', async () => {
    const image = await freshImage('huge-dir');
    await debugfs(image, ['sif /tiny-dir size 0x10000000000']);
    const inode = Number(/Inode: (\d+)/.exec(await debugfs(image, ['stat /tiny-dir'], false))![1]);
    const items = await walkImage(image);
    expect(errorsOf(items)).toEqual([
      {
        path: '/tiny-dir',
        type: 'FilesystemLimitError',
        message: `directory inode ${inode} claims 1099511627776 bytes, above the 4294967296-byte limit`,
      },
    ]);
    expect(pathsOf(items)).toContain('/empty-dir');
  });

  it('a directory block shared by two directories is read once, then an error', async () => {
    const image = await freshImage('shared-dir-block');
    const tinyBlock = Number(
      (await debugfs(image, ['blocks /tiny-dir'], false)).split(/\s+/).filter((t) => /^\d+$/.test(t))[0],
    );
    // The first extent of /empty-dir now starts at /tiny-dir's block (i_block word 5 = ee_start_lo).
    await debugfs(image, [`sif /empty-dir block[5] ${tinyBlock}`]);
    const reader = await FileByteRangeReader.open(image);
    try {
      // Without checksums (a guest can write valid ones for an ext3-like image): the Set catches it.
      const items = await collectWalk(await openExt4(reader, { verifyChecksums: false }));
      const order = pathsOf(items);
      // Whichever of the two the walk reaches second gets the error; the first lists normally.
      const second = order.indexOf('/tiny-dir') < order.indexOf('/empty-dir') ? '/empty-dir' : '/tiny-dir';
      const secondInode = (items.find((i) => i.kind === 'entry' && i.path === second) as { inode: number })
        .inode;
      expect(errorsOf(items)).toEqual([
        {
          path: second,
          type: 'FilesystemCorruptError',
          message: `directory inode ${secondInode}: block ${tinyBlock} also belongs to another directory (or twice to this one)`,
        },
      ]);
    } finally {
      await reader.close();
    }
  });

  it('an extent pointing past the end of the filesystem is an error for that file', async () => {
    const image = await freshImage('past-end');
    await debugfs(image, ['sif /tiny-dir/only-file block[5] 99999999']);
    const fs = await openExt4(new MemoryByteRangeReader(new Uint8Array(await readFile(image))));
    const inode = await fs.lookup('/tiny-dir/only-file');
    await expectRejection(
      fs.readFile(inode),
      FilesystemCorruptError,
      `inode ${inode}: block 99999999+1 lies outside the filesystem (8192 blocks)`,
    );
  });

  it('nesting beyond maxDirectoryDepth is recorded and not descended', async () => {
    const image = await freshImage('deep');
    const pristine = await walkImage(image);
    const items = await walkImage(image, { maxDirectoryDepth: 5 });
    const atLimit = pristine.filter((i) => i.kind === 'entry' && i.type === 'directory' && i.depth === 5);
    expect(atLimit.map((i) => i.path)).toContain('/level-0/level-1/level-2/level-3/level-4');
    expect(errorsOf(items)).toEqual(
      atLimit.map((i) => ({
        path: i.path,
        type: 'FilesystemLimitError',
        message: 'directory nesting deeper than 5; not descended',
      })),
    );
    expect(pathsOf(items)).toEqual(
      pathsOf(pristine).filter((p) => atLimit.every((d) => !p.startsWith(`${d.path}/`))),
    );
    expect(pathsOf(items).some((p) => p.startsWith('/level-0/level-1/level-2/level-3/level-4/'))).toBe(false);
  });

  it('refuses unknown INCOMPAT features by name', async () => {
    const image = await freshImage('incompat');
    const bytes = new Uint8Array(await readFile(image));
    bytes[1024 + 0x60 + 1]! |= 0x10; // INCOMPAT_DIRDATA (0x1000)
    // ...with the superblock checksum recomputed, as a guest could.
    new DataView(bytes.buffer).setUint32(
      1024 + 0x3fc,
      crc32cRaw(0xffffffff, bytes.subarray(1024, 1024 + 0x3fc)),
      true,
    );
    await expectRejection(
      openExt4(new MemoryByteRangeReader(bytes)),
      UnsupportedFilesystemError,
      'ext filesystem uses unsupported INCOMPAT features: dirdata',
    );
  });

  it('a read larger than maxReadBytes must use the stream', async () => {
    const image = await freshImage('big-read');
    const reader = await FileByteRangeReader.open(image);
    try {
      const fs = await openExt4(reader, { limits: { maxReadBytes: 1000 } });
      const inode = await fs.lookup('/fragmented');
      await expectRejection(
        fs.readFile(inode),
        FilesystemLimitError,
        'read of 40960 bytes exceeds the 1000-byte limit; use readFileStream',
      );
      const pieces: Uint8Array[] = [];
      for await (const piece of fs.readFileStream(inode, { pieceBytes: 1000 })) pieces.push(piece);
      const all = Buffer.concat(pieces);
      expect(all.length).toBe(40 * 1024);
      expect([all[0], all[1024], all[2048], all[40 * 1024 - 1024 - 1], all[40 * 1024 - 1]]).toEqual([
        1, 0, 2, 20, 0,
      ]);
    } finally {
      await reader.close();
    }
  });

  it('metadata checksums turn a flipped byte into an error for that inode or directory block', async () => {
    const image = await freshImage('checksums');
    const info = await debugfs(image, ['imap /tiny-dir/only-file', 'stat /tiny-dir/only-file'], false);
    const [, inodeBlock, inodeOffset] = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(info)!;
    const fileInode = Number(/Inode: (\d+)/.exec(info)![1]);
    // debugfs -f echoes each request ("debugfs: blocks ..."): keep the numbers.
    const dirBlocks = (await debugfs(image, ['blocks /many-entries'], false))
      .split(/\s+/)
      .filter((t) => /^\d+$/.test(t))
      .map(Number);
    const bytes = new Uint8Array(await readFile(image));
    bytes[Number(inodeBlock) * 1024 + parseInt(inodeOffset!, 16) + 0x2]! ^= 0x01; // uid
    bytes[dirBlocks[0]! * 1024 + 20]! ^= 0x01; // inside the ".." entry of the directory's first block
    const manyInode = Number(/Inode: (\d+)/.exec(await debugfs(image, ['stat /many-entries'], false))![1]);
    const checked = await collectWalk(await openExt4(new MemoryByteRangeReader(bytes)));
    expect(errorsOf(checked)).toEqual(
      [
        {
          path: '/many-entries',
          type: 'FilesystemCorruptError',
          message: `directory inode ${manyInode}, block 0: checksum mismatch`,
        },
        {
          path: '/tiny-dir/only-file',
          type: 'FilesystemCorruptError',
          message: `inode ${fileInode}: checksum mismatch`,
        },
      ].sort(
        (a, b) => checked.findIndex((i) => i.path === a.path) - checked.findIndex((i) => i.path === b.path),
      ),
    );
    // Without verification the damage goes unnoticed: the flipped uid bit is reported as the owner.
    const unchecked = await collectWalk(
      await openExt4(new MemoryByteRangeReader(bytes), { verifyChecksums: false }),
    );
    const file = unchecked.find((i) => i.kind === 'entry' && i.path === '/tiny-dir/only-file');
    const original = (await walkImage(image)).find(
      (i) => i.kind === 'entry' && i.path === '/tiny-dir/only-file',
    );
    expect((file as { uid: number }).uid).toBe((original as { uid: number }).uid ^ 1);
  });
});
