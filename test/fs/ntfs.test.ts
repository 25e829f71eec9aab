/**
 * NTFS images made by mkntfs and written through ntfs-3g (FUSE) from a real directory tree (zod
 * from node_modules and /usr/share/perl5, about 1,900 files) plus Unicode names, a many-entry
 * directory (a multi-level $I30 B+tree), sparse and fragmented files (an $ATTRIBUTE_LIST with
 * $DATA in extension records), a file with 15 hard links (its $FILE_NAMEs spill into an extension
 * record), hard links across directories, an LZNT1-compressed directory, alternate data streams,
 * reparse points (symlink, junction) and a DOS 8.3 alias. Oracles: the source tree, and The
 * Sleuth Kit's `fls -r -p` (every entry it lists is in the walk) and `icat` (same bytes).
 */
import { copyFile, lstat, mkdir, open, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileNotFoundInImageError, UnsupportedFilesystemError } from '../../lambdas/core/fs/errors.ts';
import type { WalkEntry, WalkItem } from '../../lambdas/core/fs/filesystem.ts';
import { WINDOWS_ATTRIBUTES } from '../../lambdas/core/fs/filesystem.ts';
import { openNtfs } from '../../lambdas/core/fs/ntfs/filesystem.ts';
import type { NtfsFilesystem } from '../../lambdas/core/fs/ntfs/filesystem.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { prng, randomBytes, removeDir, run, scratchDir, writeSparseFile } from '../support/fs-images.ts';
import {
  NtfsMount,
  flsList,
  icat,
  makeNtfsImage,
  reparseBuffer,
  setWindowsAttributes,
  setXattr,
} from './ntfs-images.ts';

const MIB = 1024 * 1024;
const REAL_TREES = [
  { from: path.resolve('node_modules/zod'), to: 'real/zod' },
  { from: '/usr/share/perl5', to: 'real/perl5' },
];
const MANY_ENTRIES = 700;
const FRAGMENT_ISLANDS = 3000;
const SPARSE_PIECES = [
  { offset: 0, length: 5000 },
  { offset: 17 * MIB + 123, length: 70_000 },
  { offset: 40 * MIB - 9, length: 9 },
];
const SPARSE_SIZE = 40 * MIB;

let work: string;
const readers: FileByteRangeReader[] = [];
const mounts: NtfsMount[] = [];

interface Built {
  readonly image: string;
  readonly src: string;
  readonly fs: NtfsFilesystem;
  readonly items: WalkItem[];
  readonly entries: Map<string, WalkEntry>;
  readonly ads: Map<string, Uint8Array>;
}

const built = new Map<string, Built>();

async function collect(fs: NtfsFilesystem): Promise<WalkItem[]> {
  const items: WalkItem[] = [];
  for await (const item of fs.walk()) items.push(item);
  return items;
}

async function readAll(fs: NtfsFilesystem, inode: number, stream?: string): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  for await (const piece of fs.readFileStream(inode, stream === undefined ? {} : { stream }))
    pieces.push(piece);
  return Buffer.concat(pieces);
}

/** Text that LZNT1 compresses well, with zero runs long enough for whole sparse units. */
function compressibleText(lines: number): Buffer {
  const out: string[] = [];
  for (let i = 0; i < lines; i += 1)
    out.push(`line ${i}: the quick brown fox jumps over the lazy dog ${i % 97}\n`);
  return Buffer.concat([
    Buffer.from(out.join('')),
    Buffer.alloc(200_000),
    Buffer.from(out.slice(0, 500).join('')),
  ]);
}

/** The source tree: real files plus the special cases, all plain POSIX files (the oracle). */
async function makeSource(src: string, small: boolean): Promise<void> {
  const rand = prng(small ? 2 : 1);
  for (const tree of small ? REAL_TREES.slice(0, 1) : REAL_TREES) {
    await mkdir(path.dirname(path.join(src, tree.to)), { recursive: true });
    await run('cp', ['-r', '--preserve=timestamps', tree.from, path.join(src, tree.to)]);
  }
  const unicode = path.join(src, 'unicode');
  await mkdir(path.join(unicode, 'Ωmega dir'), { recursive: true });
  for (const name of [
    'café.txt',
    '日本語のファイル.md',
    'emoji-🎉-party',
    'ünïcødé',
    'Ωmega dir/ß-straße',
    'Long File Name.txt',
  ]) {
    await writeFile(path.join(unicode, name), `${name}\n`);
  }
  await writeFile(path.join(unicode, `${'n'.repeat(250)}.long`), 'a 255-character name\n');
  const many = path.join(src, 'many-entries');
  await mkdir(many);
  for (let i = 0; i < (small ? 200 : MANY_ENTRIES); i += 1) {
    await writeFile(
      path.join(many, `entry-${String(i).padStart(4, '0')}-${['a', 'é', '字'][i % 3]}`),
      `${i}\n`,
    );
  }
  await writeSparseFile(
    path.join(src, 'sparse.bin'),
    SPARSE_SIZE,
    SPARSE_PIECES.map((p) => ({ offset: p.offset, data: randomBytes(rand, p.length) })),
  );
  await writeSparseFile(
    path.join(src, 'fragmented.bin'),
    FRAGMENT_ISLANDS * 8192,
    Array.from({ length: FRAGMENT_ISLANDS }, (_, i) => ({ offset: i * 8192, data: randomBytes(rand, 100) })),
  );
  await writeFile(path.join(src, 'large.bin'), randomBytes(rand, small ? 2 * MIB : 12 * MIB + 777));
  await mkdir(path.join(src, 'hard', 'a'), { recursive: true });
  await mkdir(path.join(src, 'hard', 'b'));
  await writeFile(path.join(src, 'hard', 'a', 'original'), 'linked from two directories\n');
  await run('ln', [path.join(src, 'hard', 'a', 'original'), path.join(src, 'hard', 'b', 'second name')]);
  await mkdir(path.join(src, 'links'));
  await writeFile(path.join(src, 'links', 'name-00'), 'fifteen names\n');
  for (let i = 1; i < 15; i += 1) {
    await run('ln', [
      path.join(src, 'links', 'name-00'),
      path.join(src, 'links', `name-${String(i).padStart(2, '0')}`),
    ]);
  }
  const compressed = path.join(src, 'compressed');
  await mkdir(compressed);
  await writeFile(path.join(compressed, 'text.txt'), compressibleText(small ? 2000 : 6000));
  await writeFile(path.join(compressed, 'random.bin'), randomBytes(rand, 150_000));
  await writeFile(path.join(compressed, 'tiny.txt'), 'resident even when compressed\n');
  await copyFile(path.join(src, 'large.bin'), path.join(compressed, 'large-copy.bin'));
}

async function buildImage(name: string, clusterBytes: number | undefined, small: boolean): Promise<Built> {
  const src = path.join(work, `${name}-src`);
  const image = path.join(work, `${name}.img`);
  await makeSource(src, small);
  await makeNtfsImage(image, {
    sizeBytes: (small ? 48 : 160) * MIB,
    label: `rbp-${name}`,
    ...(clusterBytes === undefined ? {} : { clusterBytes }),
  });
  const mount = await NtfsMount.mount(image, path.join(work, `${name}-mnt`));
  mounts.push(mount);
  const mnt = mount.dir;
  // Files written into a directory with FILE_ATTRIBUTE_COMPRESSED are compressed by ntfs-3g.
  await mkdir(path.join(mnt, 'compressed'));
  await setWindowsAttributes(
    path.join(mnt, 'compressed'),
    WINDOWS_ATTRIBUTES.DIRECTORY | WINDOWS_ATTRIBUTES.COMPRESSED,
  );
  await run('cp', ['-r', '--preserve=timestamps,links', '--sparse=always', `${src}/.`, mnt]);
  // NTFS-only objects, made through ntfs-3g's xattr interface.
  const rand = prng(3);
  const ads = new Map<string, Uint8Array>([
    ['small', new TextEncoder().encode('a resident alternate stream')],
    ['big', randomBytes(rand, 60_000)],
  ]);
  await writeFile(path.join(mnt, 'streams-host.txt'), 'main data\n');
  for (const [stream, data] of ads)
    await setXattr(path.join(mnt, 'streams-host.txt'), `user.${stream}`, data);
  await writeFile(path.join(mnt, 'reparse-symlink'), '');
  await setXattr(
    path.join(mnt, 'reparse-symlink'),
    'system.ntfs_reparse_data',
    reparseBuffer('symlink', 'unicode\\café.txt', 'unicode\\café.txt'),
  );
  await mkdir(path.join(mnt, 'junction'));
  await setXattr(
    path.join(mnt, 'junction'),
    'system.ntfs_reparse_data',
    reparseBuffer('junction', '\\??\\C:\\Windows', 'C:\\Windows'),
  );
  await setXattr(
    path.join(mnt, 'unicode', 'Long File Name.txt'),
    'system.ntfs_dos_name',
    new TextEncoder().encode('LONGFI~1.TXT'),
  );
  await mount.unmount();
  mounts.splice(mounts.indexOf(mount), 1);
  const reader = await FileByteRangeReader.open(image);
  readers.push(reader);
  const fs = await openNtfs(reader);
  const items = await collect(fs);
  const entries = new Map<string, WalkEntry>();
  for (const item of items) if (item.kind === 'entry') entries.set(item.path, item);
  const result = { image, src, fs, items, entries, ads };
  built.set(name, result);
  return result;
}

async function sourceFiles(
  root: string,
): Promise<Map<string, { ino: bigint; nlink: number; size: number; mtimeNs: bigint; dir: boolean }>> {
  const out = new Map<string, { ino: bigint; nlink: number; size: number; mtimeNs: bigint; dir: boolean }>();
  const visit = async (rel: string): Promise<void> => {
    for (const name of await readdir(path.join(root, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = await lstat(path.join(root, child), { bigint: true });
      out.set(`/${child}`, {
        ino: st.ino,
        nlink: Number(st.nlink),
        size: Number(st.size),
        mtimeNs: st.mtimeNs,
        dir: st.isDirectory(),
      });
      if (st.isDirectory()) await visit(child);
    }
  };
  await visit('');
  return out;
}

beforeAll(async () => {
  work = await scratchDir('ntfs');
  await buildImage('c4k', undefined, false);
  await buildImage('c512', 512, true);
}, 240_000);

afterAll(async () => {
  for (const mount of mounts) await mount.unmount().catch(() => undefined);
  await Promise.all(readers.map((r) => r.close()));
  await removeDir(work);
});

function get(name: string): Built {
  return built.get(name)!;
}

describe.each(['c4k', 'c512'])('NTFS image %s', (name) => {
  it('walks without errors and lists exactly what fls -r lists (same record numbers and streams)', async () => {
    const { image, items, entries } = get(name);
    expect(items.filter((i) => i.kind === 'error')).toEqual([]);
    const fls = await flsList(image);
    const flsPaths = new Set(fls.map((e) => e.path));
    const walkPaths = [...entries.keys()].filter((p) => p !== '/');
    expect(walkPaths.length).toBe(new Set(walkPaths).size);
    expect([...flsPaths].sort()).toEqual(walkPaths.sort());
    for (const e of fls) {
      const got = entries.get(e.path)!;
      expect({ path: e.path, inode: got.inode }).toEqual({ path: e.path, inode: e.inode });
      if (e.stream !== undefined && e.attributeType === 128) {
        expect(
          got.streams?.map((s) => s.name),
          `${e.path}:${e.stream}`,
        ).toContain(e.stream);
      }
      // TSK names directories (junctions too) d/d and everything else r/r.
      const isDir = got.type === 'directory' || (got.reparseTag === 0xa0000003 && got.type === 'symlink');
      expect({ path: e.path, dir: isDir }).toEqual({ path: e.path, dir: e.type === 'd' });
    }
    // Every alternate data stream in the walk is one fls lists.
    for (const entry of entries.values()) {
      for (const s of entry.streams ?? []) {
        expect(
          fls.some((e) => e.path === entry.path && e.stream === s.name),
          `${entry.path}:${s.name}`,
        ).toBe(true);
      }
    }
  });

  it('every file of the source tree is in the walk with its size, mtime and bytes; hard links share the record', async () => {
    const { fs, src, entries } = get(name);
    const source = await sourceFiles(src);
    const recordOfIno = new Map<bigint, number>();
    let compared = 0;
    for (const [p, st] of source) {
      const got = entries.get(p);
      expect(got, p).toBeDefined();
      expect({ path: p, type: got!.type }).toEqual({ path: p, type: st.dir ? 'directory' : 'file' });
      if (st.dir) continue;
      // NTFS keeps times in 100 ns units.
      const mtimeNs = BigInt(got!.mtime.seconds) * 1_000_000_000n + BigInt(got!.mtime.nanoseconds);
      expect({ path: p, size: got!.size, nlink: got!.nlink, mtimeNs }).toEqual({
        path: p,
        size: st.size,
        nlink: st.nlink,
        mtimeNs: st.mtimeNs - (st.mtimeNs % 100n),
      });
      const known = recordOfIno.get(st.ino);
      if (known === undefined) recordOfIno.set(st.ino, got!.inode);
      else expect(got!.inode, `hard link ${p}`).toBe(known);
      const want = await readFile(path.join(src, p));
      expect((await readAll(fs, got!.inode)).equals(want), `content of ${p}`).toBe(true);
      compared += 1;
    }
    expect(compared).toBeGreaterThan(name === 'c4k' ? 1800 : 800);
  });

  it('the special files read equal to icat (compressed, sparse, fragmented, large, many names, streams)', async () => {
    const { fs, image, entries, ads } = get(name);
    const paths = [
      '/compressed/text.txt',
      '/compressed/random.bin',
      '/compressed/tiny.txt',
      '/compressed/large-copy.bin',
      '/sparse.bin',
      '/fragmented.bin',
      '/large.bin',
      '/links/name-07',
      '/streams-host.txt',
    ];
    for (const p of paths) {
      const inode = entries.get(p)!.inode;
      expect((await readAll(fs, inode)).equals(await icat(image, String(inode))), p).toBe(true);
    }
    const host = entries.get('/streams-host.txt')!;
    const flsStreams = (await flsList(image)).filter(
      (e) => e.path === '/streams-host.txt' && e.stream !== undefined,
    );
    expect(flsStreams.map((e) => e.stream).sort()).toEqual(['big', 'small']);
    const ids = (await run('istat', [image, String(host.inode)])).matchAll(
      /\$DATA \(128-(\d+)\)\s+Name: (\w+)/g,
    );
    let streamsCompared = 0;
    for (const m of ids) {
      const stream = m[2]!;
      if (stream === 'N') continue; // "Name: N/A": the main stream
      streamsCompared += 1;
      const viaIcat = await icat(image, `${host.inode}-128-${m[1]}`);
      expect(viaIcat.equals(Buffer.from(ads.get(stream)!)), stream).toBe(true);
      expect((await readAll(fs, host.inode, stream)).equals(viaIcat), stream).toBe(true);
    }
    expect(streamsCompared).toBe(2);
  });
});

describe('NTFS specifics (4 KiB clusters)', () => {
  it('reports the label from $Volume, the serial number as blkid prints it, version 3.1, no warnings', async () => {
    const { fs, image } = get('c4k');
    const blkidUuid = (await run('blkid', ['-o', 'value', '-s', 'UUID', image])).trim();
    expect({
      label: fs.label,
      uuid: fs.uuid,
      version: fs.version,
      warnings: fs.warnings,
      fsType: fs.fsType,
    }).toEqual({
      label: 'rbp-c4k',
      uuid: blkidUuid,
      version: '3.1',
      warnings: [],
      fsType: 'ntfs',
    });
  });

  it('compressed data: flagged, not plain extents, ranged reads across compression units equal the source', async () => {
    const { fs, src, entries } = get('c4k');
    const text = entries.get('/compressed/text.txt')!;
    expect(text.windowsAttributes! & WINDOWS_ATTRIBUTES.COMPRESSED).toBe(WINDOWS_ATTRIBUTES.COMPRESSED);
    expect(text.plainExtents).toBe(false);
    await expect(fs.extents(text.inode).next()).rejects.toThrow(UnsupportedFilesystemError);
    const want = await readFile(path.join(src, 'compressed/text.txt'));
    for (const [offset, length] of [
      [0, 10],
      [65_536 - 5, 10],
      [100_000, 300_000],
      [want.length - 3, 100],
    ] as const) {
      const got = await fs.readFile(text.inode, offset, length);
      expect(Buffer.from(got).equals(want.subarray(offset, offset + length)), `${offset}+${length}`).toBe(
        true,
      );
    }
    const pieces: Uint8Array[] = [];
    for await (const p of fs.readFileStream(text.inode, { offset: 1000, length: 200_000, pieceBytes: 7000 }))
      pieces.push(p);
    expect(pieces.every((p) => p.length <= 7000)).toBe(true);
    expect(Buffer.concat(pieces).equals(want.subarray(1000, 201_000))).toBe(true);
  });

  it('sparse data: extents cover only the written clusters, holes read as zeros', async () => {
    const { fs, src, entries } = get('c4k');
    const sparse = entries.get('/sparse.bin')!;
    expect(sparse.windowsAttributes! & WINDOWS_ATTRIBUTES.SPARSE_FILE).toBe(WINDOWS_ATTRIBUTES.SPARSE_FILE);
    const extents = [];
    for await (const e of fs.extents(sparse.inode)) extents.push(e);
    const mapped = extents.reduce((n, e) => n + e.length, 0);
    expect(mapped).toBeLessThan(2 * MIB);
    expect(await fs.readFile(sparse.inode, 30 * MIB, 4096)).toEqual(new Uint8Array(4096));
    // Physical extents hold the same bytes as the source at their logical offsets.
    const handle = await open(path.join(src, 'sparse.bin'));
    const reader = await FileByteRangeReader.open(get('c4k').image);
    readers.push(reader);
    for (const e of extents) {
      const want = Buffer.alloc(Math.min(e.length, 100_000));
      await handle.read(want, 0, want.length, e.logicalOffset);
      expect(Buffer.from(await reader.read(e.physicalOffset, want.length)).equals(want)).toBe(true);
    }
    await handle.close();
  });

  it('$ATTRIBUTE_LIST: the fragmented file and the file with 15 names keep attributes in extension records', async () => {
    const { image, entries } = get('c4k');
    for (const p of ['/fragmented.bin', '/links/name-00']) {
      const istat = await run('istat', [image, String(entries.get(p)!.inode)]);
      expect(istat, p).toMatch(/\$ATTRIBUTE_LIST/);
    }
    const names = [...entries.values()].filter((e) => e.path.startsWith('/links/'));
    expect(names.length).toBe(15);
    expect(new Set(names.map((e) => e.inode)).size).toBe(1);
    expect(names.every((e) => e.nlink === 15)).toBe(true);
    const a = entries.get('/hard/a/original')!;
    const b = entries.get('/hard/b/second name')!;
    expect({ inode: b.inode, nlink: b.nlink, parentDiffers: a.parentInode !== b.parentInode }).toEqual({
      inode: a.inode,
      nlink: 2,
      parentDiffers: true,
    });
  });

  it('alternate data streams: listed with sizes, read by name, a missing name is not found', async () => {
    const { fs, entries, ads } = get('c4k');
    const host = entries.get('/streams-host.txt')!;
    expect([...(host.streams ?? [])].sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: 'big', size: ads.get('big')!.length },
      { name: 'small', size: ads.get('small')!.length },
    ]);
    expect(
      Buffer.from(await fs.readFile(host.inode, 10, 20, 'big')).equals(
        Buffer.from(ads.get('big')!.subarray(10, 30)),
      ),
    ).toBe(true);
    expect(Buffer.from(await fs.readFile(host.inode)).toString()).toBe('main data\n');
    await expect(fs.readFile(host.inode, 0, undefined, 'nope')).rejects.toThrow(FileNotFoundInImageError);
  });

  it('reparse points: symlink and junction recorded with tag and target, never followed', async () => {
    const { fs, entries } = get('c4k');
    const link = entries.get('/reparse-symlink')!;
    const junction = entries.get('/junction')!;
    expect({ type: link.type, tag: link.reparseTag, target: link.symlinkTarget, size: link.size }).toEqual({
      type: 'symlink',
      tag: 0xa000000c,
      target: 'unicode\\café.txt',
      size: Buffer.byteLength('unicode\\café.txt'),
    });
    expect({ type: junction.type, tag: junction.reparseTag, target: junction.symlinkTarget }).toEqual({
      type: 'symlink',
      tag: 0xa0000003,
      target: 'C:\\Windows',
    });
    expect(new TextDecoder().decode(await fs.readLink(link.inode))).toBe('unicode\\café.txt');
    expect([...entries.keys()].filter((p) => p.startsWith('/junction/'))).toEqual([]);
    expect(link.windowsAttributes! & WINDOWS_ATTRIBUTES.REPARSE_POINT).toBe(WINDOWS_ATTRIBUTES.REPARSE_POINT);
  });

  it('names: the long name is catalogued, the DOS alias kept as shortName; Unicode survives; lookup is exact', async () => {
    const { fs, entries } = get('c4k');
    const long = entries.get('/unicode/Long File Name.txt')!;
    expect(long.shortName).toBe('LONGFI~1.TXT');
    expect([...entries.keys()].some((p) => p.endsWith('LONGFI~1.TXT'))).toBe(false);
    expect(await fs.lookup('/unicode/Ωmega dir/ß-straße')).toBe(
      entries.get('/unicode/Ωmega dir/ß-straße')!.inode,
    );
    expect(await fs.lookup('/unicode/emoji-🎉-party')).toBe(entries.get('/unicode/emoji-🎉-party')!.inode);
    await expect(fs.lookup('/unicode/missing')).rejects.toThrow(FileNotFoundInImageError);
    const root = entries.get('/')!;
    expect({ type: root.type, inode: root.inode, depth: root.depth, permissions: root.permissions }).toEqual({
      type: 'directory',
      inode: 5,
      depth: 0,
      permissions: 0o755,
    });
    // Entries come in B+tree order: the many-entry directory lists its names sorted.
    const many = [...entries.values()].filter((e) => e.path.startsWith('/many-entries/')).map((e) => e.name);
    expect(many.length).toBe(MANY_ENTRIES);
    expect(many).toEqual([...many].sort());
  });

  it('a walk from a subdirectory yields that directory first, then its tree', async () => {
    const { fs } = get('c4k');
    const items = [];
    for await (const item of fs.walk({ root: '/hard' })) items.push(item);
    expect(items.map((i) => (i.kind === 'entry' ? `${i.depth} ${i.path}` : 'error'))).toEqual([
      '0 /hard',
      '1 /hard/a',
      '2 /hard/a/original',
      '1 /hard/b',
      '2 /hard/b/second name',
    ]);
  });

  it('EFS: a file whose $STANDARD_INFORMATION says encrypted is listed and its data refused with the reason', async () => {
    const { image, entries } = get('c4k');
    const victim = entries.get('/unicode/café.txt')!;
    const copy = path.join(work, 'efs.img');
    await copyFile(image, copy);
    // Set FILE_ATTRIBUTE_ENCRYPTED in the record's $STANDARD_INFORMATION (no fixup bytes touched).
    const boot = Buffer.alloc(512);
    const handle = await open(copy, 'r+');
    await handle.read(boot, 0, 512, 0);
    const cluster = boot.readUInt16LE(0x0b) * boot[0x0d]!;
    const recordAt = Number(boot.readBigUInt64LE(0x30)) * cluster + victim.inode * 1024;
    const record = Buffer.alloc(1024);
    await handle.read(record, 0, 1024, recordAt);
    expect(record.readUInt32LE(0x2c)).toBe(victim.inode);
    const si = record.readUInt16LE(0x14);
    expect(record.readUInt32LE(si)).toBe(0x10);
    const flagsAt = si + record.readUInt16LE(si + 0x14) + 0x20;
    record.writeUInt32LE(record.readUInt32LE(flagsAt) | WINDOWS_ATTRIBUTES.ENCRYPTED, flagsAt);
    await handle.write(record, 0, 1024, recordAt);
    await handle.close();
    const reader = await FileByteRangeReader.open(copy);
    readers.push(reader);
    const efs = await openNtfs(reader);
    const stat = await efs.stat(victim.inode);
    expect({ encrypted: stat.encrypted, plain: stat.plainExtents }).toEqual({
      encrypted: true,
      plain: false,
    });
    await expect(efs.readFile(victim.inode)).rejects.toThrow(
      `MFT record ${victim.inode} is EFS-encrypted: its data is ciphertext that only Windows with the owner's key can decrypt`,
    );
    expect(stat.size).toBe(Buffer.byteLength('café.txt\n'));
  });
});
