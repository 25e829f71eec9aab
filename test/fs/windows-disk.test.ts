/**
 * End to end on a Windows-like GPT disk (sgdisk): an EFI system partition (FAT32, mcopy), a
 * Microsoft reserved partition, an NTFS data partition (mkntfs + ntfs-3g) and a Windows recovery
 * partition. Catalogued through buildCatalog with the in-memory store, restored byte for byte
 * through the file-restore path, then changed through the filesystems' own tools and catalogued
 * again: the incremental gives the right versions.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { listAll } from '../catalog/catalog-images.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { copyTree, makeFatImage, sourceFiles } from '../support/fat-images.ts';
import { makeGptDisk, run, spliceImage } from '../support/fs-images.ts';
import { catalogDisk, partitionInMiB, restoreAndCompare, useScratchDir } from './end-to-end.ts';
import { NtfsMount, makeNtfsImage } from './ntfs-images.ts';

const MIB = 1024 * 1024;
/** Layout in MiB: EFI 1..65, MSR 65..81, NTFS 81..241, recovery 241..257. */
const EFI = { start: 1, size: 64 };
const MSR = { start: 65, size: 16 };
const DATA = { start: 81, size: 160 };
const RECOVERY = { start: 241, size: 16 };
const DISK_BYTES = 260 * MIB;

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
  await copyTree('/usr/share/perl5', path.join(dataSource, 'Program Files', 'perl5'));
  await mkdir(path.join(dataSource, 'Users', 'Ann'), { recursive: true });
  await writeFile(path.join(dataSource, 'Users', 'Ann', 'notes – ünïcode.txt'), 'version 1\n');
  ntfsImage = path.join(work(), 'ntfs.img');
  await makeNtfsImage(ntfsImage, { sizeBytes: DATA.size * MIB, label: 'Windows' });
  const mount = await NtfsMount.mount(ntfsImage, path.join(work(), 'ntfs-mnt'));
  try {
    await run('cp', ['-r', '--preserve=timestamps', `${dataSource}/.`, mount.dir]);
  } finally {
    await mount.unmount();
  }
  await assemble();
}, 240_000);

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
    expect(ann.map((e) => e.name)).toEqual(['notes – ünïcode.txt']);
    expect(await restoreAll(1, efiSource)).toBe(2);
    expect(await restoreAll(3, dataSource)).toBeGreaterThan(1000);

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
    expect(await restoreAll(3, dataSource)).toBeGreaterThan(1000);
  }, 240_000);
});
