/**
 * End to end on a Windows-like GPT disk (sgdisk): an EFI system partition (FAT32, mcopy), a
 * Microsoft reserved partition, an NTFS data partition (mkntfs + ntfs-3g) and a Windows recovery
 * partition. The NTFS partition holds a real tree of several thousand files (/usr/share/perl5 and
 * /usr/lib/python3) plus Unicode names, a sparse file, hard links, a mostly sparse file over
 * 100 MiB, an LZNT1-compressed file and alternate data streams. Catalogued through buildCatalog
 * with the in-memory store; every entry The Sleuth Kit's `fls -r -p` lists on the EFI and NTFS
 * partitions is in the catalog; every regular file (and each stream, as `path:stream`) restores
 * byte for byte through the file-restore path; then changed through the filesystems' own tools
 * and catalogued again: the incremental gives the right versions.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import { WINDOWS_ATTRIBUTES } from '../../lambdas/core/fs/filesystem.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { listAll } from '../catalog/catalog-images.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { copyTree, makeFatImage, sourceFiles } from '../support/fat-images.ts';
import { makeGptDisk, prng, randomBytes, run, spliceImage, writeSparseFile } from '../support/fs-images.ts';
import {
  catalogDisk,
  catalogEntries,
  expectFatListingInCatalog,
  expectNtfsListingInCatalog,
  partitionInMiB,
  restoreAndCompare,
  restoreStream,
} from './end-to-end.ts';
import { useScratchDir } from '../support/scratch-dir.ts';
import { NtfsMount, makeNtfsImage, setWindowsAttributes, setXattr } from './ntfs-images.ts';

const MIB = 1024 * 1024;
const SECTORS_PER_MIB = 2048;
/** Layout in MiB: EFI 1..65, MSR 65..81, NTFS 81..593, recovery 593..609 (sparse files: free). */
const EFI = { start: 1, size: 64 };
const MSR = { start: 65, size: 16 };
/** 512 MiB: the ~62 MiB tree, its cluster slack and the large file if ntfs-3g wrote it whole. */
const DATA = { start: 81, size: 512 };
const RECOVERY = { start: 593, size: 16 };
const DISK_BYTES = 612 * MIB;
/** Over 100 MiB, as the issue asks; mostly holes so that it costs little to write and read. */
const LARGE_FILE_BYTES = 120 * MIB + 12_345;
/**
 * The alternate data streams of /Users/Ann/setup.exe: one resident, one non-resident (50 KB:
 * setXattr passes the bytes as hex in one argument, which Linux caps at 128 KiB).
 */
const STREAMS = new Map<string, Buffer>([
  ['Zone.Identifier', Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n')],
  ['thumbnail', Buffer.from(randomBytes(prng(7), 50_000))],
]);

const work = useScratchDir('windows-disk');
let efiSource: string;
let dataSource: string;
let disk: string;
let efiImage: string;
let ntfsImage: string;

async function assemble(): Promise<void> {
  await run('rm', ['-f', disk]);
  await makeGptDisk(disk, DISK_BYTES, [
    partitionInMiB(EFI, 'EF00', 'EFI system partition'),
    partitionInMiB(MSR, '0C01', 'Microsoft reserved partition'),
    partitionInMiB(DATA, '0700', 'Basic data partition'),
    partitionInMiB(RECOVERY, '2700', 'Windows RE'),
  ]);
  await spliceImage(disk, EFI.start * MIB, efiImage);
  await spliceImage(disk, DATA.start * MIB, ntfsImage);
}

function catalog(store: MemoryCatalogStore, n: number) {
  return catalogDisk(store, disk, 'vol-win', n);
}

async function restoreAll(partition: number, source: string): Promise<number> {
  const files = [...(await sourceFiles(source))].filter(([, size]) => size >= 0).map(([file]) => file);
  return (await restoreAndCompare(disk, partition, source, files)).files;
}

beforeAll(async () => {
  disk = path.join(work(), 'disk.img');
  efiSource = path.join(work(), 'efi');
  await mkdir(path.join(efiSource, 'EFI', 'Microsoft', 'Boot'), { recursive: true });
  await writeFile(
    path.join(efiSource, 'EFI', 'Microsoft', 'Boot', 'bootmgfw.efi'),
    Buffer.alloc(300_000, 0x4d),
  );
  await writeFile(path.join(efiSource, 'EFI', 'Microsoft', 'Boot', 'BCD'), Buffer.alloc(32_768, 0x42));
  efiImage = path.join(work(), 'efi.img');
  await makeFatImage(efiImage, EFI.size * MIB, 32, efiSource, 'SYSTEM');
  dataSource = path.join(work(), 'data');
  await makeDataSource(dataSource);
  ntfsImage = path.join(work(), 'ntfs.img');
  await makeNtfsImage(ntfsImage, { sizeBytes: DATA.size * MIB, label: 'Windows' });
  const mount = await NtfsMount.mount(ntfsImage, path.join(work(), 'ntfs-mnt'));
  try {
    // Files written into a directory with FILE_ATTRIBUTE_COMPRESSED are LZNT1-compressed by ntfs-3g.
    await mkdir(path.join(mount.dir, 'Compressed'));
    await setWindowsAttributes(
      path.join(mount.dir, 'Compressed'),
      WINDOWS_ATTRIBUTES.DIRECTORY | WINDOWS_ATTRIBUTES.COMPRESSED,
    );
    await run('cp', ['-r', '--preserve=timestamps,links', '--sparse=always', `${dataSource}/.`, mount.dir]);
    // Alternate data streams through ntfs-3g's xattr interface (user.<name> is stream <name>).
    for (const [stream, data] of STREAMS)
      await setXattr(path.join(mount.dir, 'Users', 'Ann', 'setup.exe'), `user.${stream}`, data);
  } finally {
    await mount.unmount();
  }
  await assemble();
}, 240_000);

/** The NTFS partition's tree: real files plus the cases the issue names, all plain POSIX files. */
async function makeDataSource(root: string): Promise<void> {
  await copyTree('/usr/share/perl5', path.join(root, 'Program Files', 'perl5'));
  await copyTree('/usr/lib/python3', path.join(root, 'Program Files', 'python3'));
  const ann = path.join(root, 'Users', 'Ann');
  await mkdir(path.join(ann, 'Ωmega – ßtraße'), { recursive: true });
  await writeFile(path.join(ann, 'notes – ünïcode.txt'), 'version 1\n');
  for (const name of ['日本語のファイル.txt', 'emoji-🎉-party.txt', 'Ωmega – ßtraße/café.md'])
    await writeFile(path.join(ann, name), `${name}\n`);
  await writeFile(path.join(ann, 'setup.exe'), 'MZ main data\n');
  const rand = prng(11);
  const data = path.join(root, 'Data');
  await mkdir(path.join(data, 'hard', 'b'), { recursive: true });
  await writeSparseFile(path.join(data, 'sparse.db'), 8 * MIB, [
    { offset: 0, data: randomBytes(rand, 5000) },
    { offset: 3 * MIB + 17, data: randomBytes(rand, 70_000) },
    { offset: 8 * MIB - 100, data: randomBytes(rand, 100) },
  ]);
  await writeSparseFile(path.join(data, 'disk.vhdx'), LARGE_FILE_BYTES, [
    { offset: 0, data: randomBytes(rand, 65_536) },
    { offset: 64 * MIB, data: randomBytes(rand, 200_000) },
    { offset: LARGE_FILE_BYTES - 4096, data: randomBytes(rand, 4096) },
  ]);
  await writeFile(path.join(data, 'hard', 'original.txt'), 'linked from two directories\n');
  await run('ln', [path.join(data, 'hard', 'original.txt'), path.join(data, 'hard', 'b', 'second name.txt')]);
  await mkdir(path.join(root, 'Compressed'));
  const lines = Array.from({ length: 8000 }, (_, i) => `line ${i}: the quick brown fox ${i % 97}\n`);
  await writeFile(path.join(root, 'Compressed', 'log.txt'), lines.join(''));
}

describe('a Windows-like GPT disk: EFI FAT32 + MSR + NTFS + recovery', () => {
  it('catalogues the EFI and NTFS partitions, records MSR and recovery as skipped, restores byte for byte, and an incremental gives the right versions', async () => {
    const store = new MemoryCatalogStore();
    const first = await catalog(store, 1);
    expect(first.partitions.map((p) => [p.index, p.fsType, p.status])).toEqual([
      [1, 'vfat', 'complete'],
      [2, 'unknown', 'unsupported'],
      [3, 'ntfs', 'complete'],
      [4, 'unknown', 'unsupported'],
    ]);
    expect(first.partitions[1]!.reason).toMatch(/^Microsoft reserved partition/);
    expect(first.partitions[3]!.reason).toMatch(/^Windows recovery partition/);
    expect(first.warnings.filter((w) => w.partition === 2 || w.partition === 4)).toEqual([]);
    expect(first.errorCount).toBe(0);
    const boot = await listAll(store, imageAt('vol-win', 1), 1, '/EFI/Microsoft/Boot');
    expect(boot.map((e) => e.name).sort()).toEqual(['BCD', 'bootmgfw.efi']);
    const ann = await listAll(store, imageAt('vol-win', 1), 3, '/Users/Ann');
    expect(ann.map((e) => e.name).sort()).toEqual(
      [
        'emoji-🎉-party.txt',
        'notes – ünïcode.txt',
        'setup.exe',
        'Ωmega – ßtraße',
        '日本語のファイル.txt',
      ].sort(),
    );

    // The Sleuth Kit as the oracle: every entry fls lists is in the catalog.
    const efiCatalog = await catalogEntries(store, imageAt('vol-win', 1), 1);
    expect(await expectFatListingInCatalog(disk, EFI.start * SECTORS_PER_MIB, efiCatalog)).toBe(5);
    const ntfsCatalog = await catalogEntries(store, imageAt('vol-win', 1), 3);
    expect(await expectNtfsListingInCatalog(disk, DATA.start * SECTORS_PER_MIB, ntfsCatalog)).toBeGreaterThan(
      4300,
    );
    const flags = (p: string) => ntfsCatalog.get(p)?.windowsAttributes ?? 0;
    expect(flags('/Compressed/log.txt') & WINDOWS_ATTRIBUTES.COMPRESSED).toBe(WINDOWS_ATTRIBUTES.COMPRESSED);
    expect(flags('/Data/disk.vhdx') & WINDOWS_ATTRIBUTES.SPARSE_FILE).toBe(WINDOWS_ATTRIBUTES.SPARSE_FILE);
    expect(ntfsCatalog.get('/Data/disk.vhdx')?.size).toBe(LARGE_FILE_BYTES);
    expect(ntfsCatalog.get('/Data/hard/b/second name.txt')?.nlink).toBe(2);
    expect(
      ntfsCatalog
        .get('/Users/Ann/setup.exe')
        ?.streams?.map((s) => [s.name, s.size])
        .sort(),
    ).toEqual([...STREAMS].map(([name, bytes]) => [name, bytes.length]).sort());

    expect(await restoreAll(1, efiSource)).toBe(2);
    expect(await restoreAll(3, dataSource)).toBeGreaterThan(3900);
    for (const [stream, bytes] of STREAMS)
      expect((await restoreStream(disk, 3, '/Users/Ann/setup.exe', stream)).equals(bytes), stream).toBe(true);

    // Changes made through the filesystems' own tools, then the second image.
    await writeFile(path.join(dataSource, 'Users', 'Ann', 'notes – ünïcode.txt'), 'version 2, longer\n');
    const mount = await NtfsMount.mount(ntfsImage, path.join(work(), 'ntfs-mnt'));
    try {
      await writeFile(path.join(mount.dir, 'Users', 'Ann', 'notes – ünïcode.txt'), 'version 2, longer\n');
      await writeFile(path.join(mount.dir, 'Users', 'Ann', 'new.txt'), 'new\n');
    } finally {
      await mount.unmount();
    }
    await writeFile(path.join(dataSource, 'Users', 'Ann', 'new.txt'), 'new\n');
    await writeFile(path.join(efiSource, 'EFI', 'Microsoft', 'Boot', 'BCD'), Buffer.alloc(40_000, 0x43));
    await run('mcopy', [
      '-o',
      '-i',
      efiImage,
      path.join(efiSource, 'EFI', 'Microsoft', 'Boot', 'BCD'),
      '::/EFI/Microsoft/Boot/BCD',
    ]);
    await assemble();
    const second = await catalog(store, 2);
    expect(second.errorCount).toBe(0);
    expect(second.changes.added).toBe(1);
    const notes = await listVersions(store, 'vol-win', 3, '/Users/Ann/notes – ünïcode.txt');
    expect(notes.map((v) => v.meta.size)).toEqual([10, 18]);
    const bcd = await listVersions(store, 'vol-win', 1, '/EFI/Microsoft/Boot/BCD');
    expect(bcd.map((v) => v.meta.size)).toEqual([32_768, 40_000]);
    expect(await restoreAll(1, efiSource)).toBe(2);
    expect(await restoreAll(3, dataSource)).toBeGreaterThan(3900);
  }, 240_000);
});
