/**
 * The FAT12/16/32 and exFAT readers against real images: mkfs.vfat + mcopy and mkfs.exfat +
 * exfat-fuse populated from a real tree of several thousand files on this machine (plus Unicode and
 * long names, a 700-entry directory, a 30-level chain, a 5 MiB file). Oracles: the source tree
 * (names, sizes, bytes, mtimes) and The Sleuth Kit (the catalogue lists exactly what `fls -r` lists;
 * restored bytes equal `icat`'s).
 */
import { readFile, utimes, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { readFileBytes } from '../../lambdas/core/file-restore/file-bytes.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import {
  FileNotFoundInImageError,
  openExfat,
  openFat,
  type FilesystemReader,
  type WalkEntry,
} from '../../lambdas/core/fs/index.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { listAll } from '../catalog/catalog-images.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import {
  addFatSpecials,
  copyTree,
  makeExfatImage,
  makeFatImage,
  sourceFiles,
  tskCat,
  tskList,
} from '../support/fat-images.ts';
import { removeDir, scratchDir } from '../support/fs-images.ts';

const MIB = 1024 * 1024;
/** Real files copied as the source: Debian's Perl and Python libraries (several thousand files). */
const REAL_TREES = ['/usr/share/perl5', '/usr/lib/python3'];
/** icat is one process per file: a sample of this many files (and every file over 1 MiB). */
const ICAT_SAMPLE = 40;

let work: string;
let source: string;
let expected: Map<string, number>;
const images: Record<string, string> = {};
const readers: FileByteRangeReader[] = [];

beforeAll(async () => {
  work = await scratchDir('fat');
  source = path.join(work, 'src');
  for (const tree of REAL_TREES) await copyTree(tree, path.join(source, path.basename(tree)));
  await addFatSpecials(source);
  await utimes(
    path.join(source, 'big.bin'),
    new Date('2031-05-06T07:08:10Z'),
    new Date('2031-05-06T07:08:10Z'),
  );
  expected = await sourceFiles(source);
  images.fat32 = path.join(work, 'fat32.img');
  images.exfat = path.join(work, 'exfat.img');
  // The images are built at the same time: most of each build is waiting on mtools' per-file
  // work or on FUSE round trips (measured: mcopy 36 s, exfat-fuse cp 43 s, one after the other).
  const fat32 = makeFatImage(images.fat32, 160 * MIB, 32, source, 'RBPFAT32');
  const exfat = makeExfatImage(images.exfat, 160 * MIB, source, 'rbp exFAT', async (mount) => {
    await writeFile(path.join(mount, 'emoji-🎉-party.txt'), 'astral\n');
    // Two files written in alternating pieces: their clusters interleave, so both need FAT chains.
    const { open } = await import('node:fs/promises');
    const a = await open(path.join(mount, 'interleaved-a.bin'), 'w');
    const b = await open(path.join(mount, 'interleaved-b.bin'), 'w');
    for (let i = 0; i < 40; i += 1) {
      await a.write(Buffer.alloc(40_000, i + 1));
      await a.sync();
      await b.write(Buffer.alloc(40_000, 200 - i));
      await b.sync();
    }
    await a.close();
    await b.close();
  });
  // FAT12 and FAT16: the fixed root directory region and 12/16-bit FAT entries.
  const small = path.join(work, 'small');
  images.fat12 = path.join(work, 'fat12.img');
  images.fat16 = path.join(work, 'fat16.img');
  const smallImages = (async () => {
    await copyTree('/usr/share/perl5/Debian', small);
    await addFatSpecials(small);
    await makeFatImage(images.fat12!, 15 * MIB, 12, small, 'RBPFAT12');
    await makeFatImage(images.fat16!, 40 * MIB, 16, small, 'RBPFAT16');
  })();
  await Promise.all([fat32, exfat, smallImages]);
}, 240_000);

afterAll(async () => {
  for (const reader of readers) await reader.close();
  await removeDir(work);
});

async function open(kind: string): Promise<{ fs: FilesystemReader; reader: FileByteRangeReader }> {
  const reader = await FileByteRangeReader.open(images[kind]!);
  readers.push(reader);
  const fs = kind === 'exfat' ? await openExfat(reader) : await openFat(reader);
  return { fs, reader };
}

async function walkAll(fs: FilesystemReader): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  for await (const item of fs.walk()) {
    if (item.kind === 'error') throw item.error;
    out.push(item);
  }
  return out;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const piece of stream) parts.push(Buffer.from(piece));
  return Buffer.concat(parts);
}

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

describe.each(['fat32', 'exfat'])('%s built from a real tree', (kind) => {
  it('walks exactly the source tree, with sizes, and reads every file byte for byte', async () => {
    const { fs, reader } = await open(kind);
    const entries = await walkAll(fs);
    const walked = new Map(
      entries.filter((e) => e.depth > 0).map((e) => [e.path, e.type === 'directory' ? -1 : e.size]),
    );
    const fromSource = new Map(expected);
    if (kind === 'exfat') {
      fromSource.set('/interleaved-a.bin', 1_600_000);
      fromSource.set('/interleaved-b.bin', 1_600_000);
      fromSource.set('/emoji-🎉-party.txt', 7);
    }
    expect(walked).toEqual(fromSource);
    expect(expected.size).toBeGreaterThan(3000);
    for (const entry of entries) {
      if (entry.type !== 'file') continue;
      const restored = await collect(readFileBytes(fs, reader, entry.inode));
      if (entry.path === '/emoji-🎉-party.txt') {
        expect(restored.toString()).toBe('astral\n');
        continue;
      }
      if (entry.path.startsWith('/interleaved-')) {
        const first = entry.path.endsWith('a.bin') ? (i: number) => i + 1 : (i: number) => 200 - i;
        const want = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.alloc(40_000, first(i))));
        expect(restored.equals(want), entry.path).toBe(true);
        continue;
      }
      const original = await readFile(path.join(source, entry.path));
      expect(restored.equals(original), entry.path).toBe(true);
    }
  }, 120_000);

  it('lists what The Sleuth Kit lists, and restores what icat reads', async () => {
    const { fs, reader } = await open(kind);
    const tsk = await tskList(images[kind]!);
    const entries = (await walkAll(fs)).filter((e) => e.depth > 0);
    expect(new Set(entries.map((e) => `${e.type} ${e.path}`))).toEqual(
      new Set(tsk.map((t) => `${t.type} ${t.path}`)),
    );
    const byPath = new Map(tsk.map((t) => [t.path, t.inode]));
    const files = entries.filter((e) => e.type === 'file');
    const sample = files.filter((e, i) => e.size > MIB || i % Math.ceil(files.length / ICAT_SAMPLE) === 0);
    for (const entry of sample) {
      const mine = await collect(readFileBytes(fs, reader, entry.inode));
      expect(sha(mine), entry.path).toBe(sha(await tskCat(images[kind]!, byPath.get(entry.path)!)));
    }
  }, 120_000);

  it('keeps the metadata FAT has: mtimes (as stored, local time taken as UTC), attributes, synthesized modes', async () => {
    const { fs } = await open(kind);
    const big = await fs.stat(await fs.lookup('/big.bin'));
    expect(big.mtime.seconds).toBe(Date.parse('2031-05-06T07:08:10Z') / 1000);
    expect(big).toMatchObject({
      type: 'file',
      size: 5 * MIB + 4321,
      uid: 0,
      gid: 0,
      nlink: 1,
      mode: 0o100644,
    });
    expect(big.windowsAttributes! & 0x10).toBe(0);
    const dir = await fs.stat(await fs.lookup('/deep/level-0'));
    expect(dir).toMatchObject({ type: 'directory', mode: 0o40755 });
    expect(dir.windowsAttributes! & 0x10).toBe(0x10);
    // Case-insensitive lookup, as the filesystem compares names.
    expect(await fs.lookup('/BIG.BIN')).toBe(await fs.lookup('/big.bin'));
    await expect(fs.lookup('/no/such/file')).rejects.toThrow(FileNotFoundInImageError);
    expect(fs.label).toBe(kind === 'exfat' ? 'rbp exFAT' : 'RBPFAT32');
    expect(fs.uuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
    expect(fs.warnings).toEqual([]);
  });

  it('is catalogued through buildCatalog like ext4: every directory lists what the walk found', async () => {
    const store = new MemoryCatalogStore();
    const reader = await FileByteRangeReader.open(images[kind]!);
    readers.push(reader);
    const record = await buildCatalog({ store }, { image: imageAt(`vol-${kind}`, 1), disk: reader });
    expect(record.partitions).toEqual([
      expect.objectContaining({ index: 0, fsType: kind === 'exfat' ? 'exfat' : 'vfat', status: 'complete' }),
    ]);
    expect(record.errorCount).toBe(0);
    const { fs } = await open(kind);
    const entries = (await walkAll(fs)).filter((e) => e.depth > 0);
    const dirs = new Map<string, string[]>([['/', []]]);
    for (const e of entries) {
      const parent = e.path.slice(0, e.path.lastIndexOf('/')) || '/';
      dirs.get(parent)!.push(e.name);
      if (e.type === 'directory') dirs.set(e.path, []);
    }
    let listed = 0;
    for (const [dir, names] of dirs) {
      const items = await listAll(store, imageAt(`vol-${kind}`, 1), 0, dir);
      expect(items.map((i) => i.name).sort(), dir).toEqual([...names].sort());
      listed += items.length;
    }
    expect(listed).toBe(entries.length);
    // A restore opens the same filesystem through the one opener.
    const opened = await openImageFilesystem(reader);
    expect(opened.partition).toBe(0);
    expect(opened.fs.fsType).toBe(kind === 'exfat' ? 'exfat' : 'vfat');
  }, 120_000);
});

describe.each(['fat12', 'fat16'])('%s', (kind) => {
  it('walks the fixed root region and 12/16-bit chains like TSK, bytes equal to the source', async () => {
    const { fs, reader } = await open(kind);
    const entries = (await walkAll(fs)).filter((e) => e.depth > 0);
    const tsk = await tskList(images[kind]!);
    expect(new Set(entries.map((e) => `${e.type} ${e.path}`))).toEqual(
      new Set(tsk.map((t) => `${t.type} ${t.path}`)),
    );
    const small = path.join(work, 'small');
    for (const entry of entries.filter((e) => e.type === 'file')) {
      const restored = await collect(readFileBytes(fs, reader, entry.inode));
      expect(restored.equals(await readFile(path.join(small, entry.path))), entry.path).toBe(true);
    }
    expect((fs as { variant?: string }).variant).toBe(kind.toUpperCase());
  }, 60_000);
});
