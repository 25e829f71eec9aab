/**
 * End to end on a RHEL-like GPT disk (sgdisk): an EFI system partition (FAT32, mcopy), an XFS
 * /boot partition and an LVM2 PV partition whose volume group holds an XFS root LV (two linear
 * segments) and a swap LV (pvcreate, vgcreate and vgcfgrestore: test/fs/lvm-images.ts). The root
 * is a real tree (/usr/lib/python3 and /etc from this machine) plus Unicode names, sparse files,
 * hard links, symlinks and a 120 MiB mostly-sparse file, copied in by the kernel's XFS driver
 * through a loop mount. Catalogued through buildCatalog with the in-memory store, every regular
 * file restored through the file-restore path and compared with its source, then changed through
 * the mounted filesystems and catalogued again: the incremental gives the right versions.
 */
import { appendFile, link, lstat, mkdir, open, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { expectCatalogEqualsSource, listAll } from '../catalog/catalog-images.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { makeFatImage } from '../support/fat-images.ts';
import {
  makeGptDisk,
  prng,
  randomBytes,
  readSourceTree,
  run,
  spliceImage,
  writeSparseFile,
} from '../support/fs-images.ts';
import { catalogDisk, partitionInMiB, restoreAndCompare } from './end-to-end.ts';
import { useScratchDir } from '../support/scratch-dir.ts';
import { linear, lv, makeLvmVolumeGroup, placeLv, type SegmentReport } from './lvm-images.ts';
import { makeXfsImage } from './xfs-images.ts';

const MIB = 1024 * 1024;
const EXTENT_MIB = 4;
/** Layout in MiB: EFI 1..65, /boot 65..129, LVM PV 129..513. */
const EFI = { start: 1, size: 64 };
const BOOT = { start: 65, size: 64 };
const PV = { start: 129, size: 384 };
const DISK_BYTES = 516 * MIB;
/** Root: 70 extents (280 MiB) in two linear segments, the swap LV between them. */
const ROOT_EXTENTS = { first: 50, second: 20 };
const SWAP_EXTENTS = 4;
const VG = 'rhel9';
/** Partition 3's logical volumes: 1000 × the PV's partition index + the LV's position. */
const ROOT_LV = 3001;
const SWAP_LV = 3002;
const BIG_FILE_BYTES = 120 * MIB;
const REAL_SOURCES = ['/usr/lib/python3', '/etc'];

const LOGICAL_VOLUMES = [
  lv('root', true, [
    linear(0, ROOT_EXTENTS.first, 'pv0', 0),
    linear(ROOT_EXTENTS.first, ROOT_EXTENTS.second, 'pv0', ROOT_EXTENTS.first + SWAP_EXTENTS),
  ]),
  lv('swap', true, [linear(0, SWAP_EXTENTS, 'pv0', ROOT_EXTENTS.first)]),
].join('');

const work = useScratchDir('rhel-disk');
let disk: string;
let efiSource: string;
let bootSource: string;
let rootSource: string;
let efiImage: string;
let bootImage: string;
let rootImage: string;
let swapImage: string;
let segments: SegmentReport[];
let peStart: number;

async function assemble(): Promise<void> {
  await spliceImage(disk, EFI.start * MIB, efiImage);
  await spliceImage(disk, BOOT.start * MIB, bootImage);
  const of = (name: string) => segments.filter((s) => s.lv_name === name);
  await placeLv(disk, PV.start * MIB, EXTENT_MIB, of('root'), peStart, rootImage);
  await placeLv(disk, PV.start * MIB, EXTENT_MIB, of('swap'), peStart, swapImage);
}

/** Mounts an XFS image through a loop device for `change` (the kernel's XFS writes), and unmounts. */
async function throughMount(image: string, change: (dir: string) => Promise<void>): Promise<void> {
  const dir = `${image}.mnt`;
  await mkdir(dir, { recursive: true });
  await run('mount', ['-o', 'loop', image, dir]);
  try {
    await change(dir);
  } finally {
    await run('umount', [dir]);
  }
}

function catalog(store: MemoryCatalogStore, n: number) {
  return catalogDisk(store, disk, 'vol-rhel', n);
}

/** Restores every regular file of `source` from `partition` and compares it with the source. */
async function restoreAll(partition: number, source: string): Promise<number> {
  const files = [...(await readSourceTree(source))].filter(([, e]) => e.stat.isFile()).map(([file]) => file);
  return (await restoreAndCompare(disk, partition, source, files)).files;
}

/** What a real tree lacks: Unicode names, sparse files, hard links, symlinks, a file over 100 MiB. */
async function addSpecials(root: string): Promise<void> {
  const rand = prng(13);
  const home = path.join(root, 'home', 'ann');
  await mkdir(path.join(home, 'Документы – ünïcode'), { recursive: true });
  await writeFile(path.join(home, 'Документы – ünïcode', '日本語 🎉.txt'), 'version 1\n');
  await writeFile(path.join(home, 'remove-me.txt'), 'bye\n');
  await writeSparseFile(path.join(home, 'sparse.db'), 40 * MIB, [
    { offset: 0, data: randomBytes(rand, 8192) },
    { offset: 17 * MIB + 512, data: randomBytes(rand, 70_000) },
    { offset: 40 * MIB - 3, data: randomBytes(rand, 3) },
  ]);
  await writeSparseFile(path.join(home, 'hole-only'), 5 * MIB, []);
  // Over 100 MiB, mostly holes so the LV stays small: data at both ends and in the middle.
  await writeSparseFile(path.join(root, 'var-lib-big.img'), BIG_FILE_BYTES, [
    { offset: 0, data: randomBytes(rand, 4 * MIB) },
    { offset: 60 * MIB + 4097, data: randomBytes(rand, 3 * MIB) },
    { offset: BIG_FILE_BYTES - 2 * MIB, data: randomBytes(rand, 2 * MIB) },
  ]);
  await writeFile(path.join(home, 'linked'), 'shared by two names\n');
  await link(path.join(home, 'linked'), path.join(home, 'Документы – ünïcode', 'linked too'));
  await symlink('Документы – ünïcode/日本語 🎉.txt', path.join(home, 'shortcut'));
}

beforeAll(async () => {
  disk = path.join(work(), 'disk.img');
  await makeGptDisk(disk, DISK_BYTES, [
    partitionInMiB(EFI, 'EF00', 'EFI System Partition'),
    partitionInMiB(BOOT, '8300', 'boot'),
    partitionInMiB(PV, '8E00', 'lvm'),
  ]);
  ({ segments, peStart } = await makeLvmVolumeGroup({
    diskImage: disk,
    pvOffset: PV.start * MIB,
    pvBytes: PV.size * MIB,
    vgName: VG,
    extentMiB: EXTENT_MIB,
    logicalVolumes: LOGICAL_VOLUMES,
    work: work(),
  }));

  efiSource = path.join(work(), 'efi');
  await mkdir(path.join(efiSource, 'EFI', 'redhat'), { recursive: true });
  await writeFile(path.join(efiSource, 'EFI', 'redhat', 'shimx64.efi'), randomBytes(prng(1), 950_000));
  await writeFile(path.join(efiSource, 'EFI', 'redhat', 'grub.cfg'), 'search --fs-uuid --set=dev\n');
  efiImage = path.join(work(), 'efi.img');
  await makeFatImage(efiImage, EFI.size * MIB, 32, efiSource, 'EFI');

  bootSource = path.join(work(), 'boot');
  await mkdir(path.join(bootSource, 'grub2'), { recursive: true });
  await writeFile(path.join(bootSource, 'vmlinuz-5.14.0-427.el9.x86_64'), randomBytes(prng(2), 12 * MIB));
  await writeFile(path.join(bootSource, 'grub2', 'grubenv'), '# GRUB Environment Block\n');
  bootImage = path.join(work(), 'boot.img');
  await makeXfsImage(bootImage, { sizeBytes: BOOT.size * MIB, label: 'boot', sourceDir: bootSource });

  rootSource = path.join(work(), 'root');
  await mkdir(path.join(rootSource, 'usr', 'lib'), { recursive: true });
  await run('cp', ['-a', REAL_SOURCES[0]!, path.join(rootSource, 'usr', 'lib')]);
  await run('cp', ['-a', REAL_SOURCES[1]!, rootSource]);
  // Sockets and fifos would not survive the copy alike; none are expected in these trees.
  await run('find', [rootSource, '(', '-type', 's', '-o', '-type', 'p', ')', '-delete']);
  await addSpecials(rootSource);
  rootImage = path.join(work(), 'root.img');
  await makeXfsImage(rootImage, {
    sizeBytes: (ROOT_EXTENTS.first + ROOT_EXTENTS.second) * EXTENT_MIB * MIB,
    label: 'root',
    sourceDir: rootSource,
  });
  swapImage = path.join(work(), 'swap.img');
  await run('truncate', ['-s', String(SWAP_EXTENTS * EXTENT_MIB * MIB), swapImage]);
  await run('mkswap', ['-q', swapImage]);
  await assemble();
}, 600_000);

describe('a RHEL-like GPT disk: EFI FAT32 + XFS /boot + LVM2 with an XFS root LV', () => {
  it('catalogues /boot, the EFI partition and the root LV, restores every file byte for byte, and an incremental gives the right versions', async () => {
    const store = new MemoryCatalogStore();
    const first = await catalog(store, 1);
    expect(first.partitions.map((p) => [p.index, p.logicalVolume ?? '-', p.fsType, p.status])).toEqual([
      [1, '-', 'vfat', 'complete'],
      [2, '-', 'xfs', 'complete'],
      [ROOT_LV, `${VG}/root`, 'xfs', 'complete'],
      [SWAP_LV, `${VG}/swap`, 'swap', 'unsupported'],
    ]);
    expect(first.errorCount).toBe(0);
    const entries = await expectCatalogEqualsSource(store, imageAt('vol-rhel', 1), ROOT_LV, rootSource, []);
    expect(entries).toBeGreaterThan(4000);
    await expectCatalogEqualsSource(store, imageAt('vol-rhel', 1), 2, bootSource, []);
    const efi = await listAll(store, imageAt('vol-rhel', 1), 1, '/EFI/redhat');
    expect(efi.map((e) => e.name).sort()).toEqual(['grub.cfg', 'shimx64.efi']);
    const big = await listAll(store, imageAt('vol-rhel', 1), ROOT_LV, '/');
    expect(big.find((e) => e.name === 'var-lib-big.img')?.size).toBe(BIG_FILE_BYTES);
    expect(await restoreAll(ROOT_LV, rootSource)).toBeGreaterThan(2500);
    expect(await restoreAll(2, bootSource)).toBe(2);
    expect(await restoreAll(1, efiSource)).toBe(2);

    // Changes made through the mounted filesystems, kept in step in the source trees.
    const notes = path.join('home', 'ann', 'Документы – ünïcode', '日本語 🎉.txt');
    const change = async (dir: string): Promise<void> => {
      await writeFile(path.join(dir, notes), 'version 2, longer\n');
      await writeFile(path.join(dir, 'home', 'ann', 'added – new.txt'), 'added\n');
      await rm(path.join(dir, 'home', 'ann', 'remove-me.txt'));
      await appendFile(path.join(dir, 'home', 'ann', 'linked'), 'appended through one name\n');
      const big = await open(path.join(dir, 'var-lib-big.img'), 'r+');
      try {
        await big.write(Buffer.alloc(4096, 0x5a), 0, 4096, 90 * MIB);
      } finally {
        await big.close();
      }
    };
    await change(rootSource);
    await throughMount(rootImage, async (dir) => {
      await change(dir);
      // The source tree stays the oracle for times too: the image takes the source's mtimes.
      const touched = [notes, path.dirname(notes), 'home/ann', 'home/ann/added – new.txt', 'home/ann/linked'];
      for (const p of [...touched, 'var-lib-big.img']) {
        const st = await lstat(path.join(rootSource, p));
        await utimes(path.join(dir, p), st.atime, st.mtime);
      }
    });
    await writeFile(path.join(bootSource, 'grub2', 'grubenv'), '# GRUB Environment Block\nsaved_entry=1\n');
    await throughMount(bootImage, (dir) =>
      writeFile(path.join(dir, 'grub2', 'grubenv'), '# GRUB Environment Block\nsaved_entry=1\n'),
    );
    await assemble();

    const second = await catalog(store, 2);
    expect(second.errorCount).toBe(0);
    expect(second.partitions.find((p) => p.index === ROOT_LV)?.status).toBe('complete');
    expect(second.changes).toMatchObject({ added: 1, removed: 1 });
    const versionsOf = async (partition: number, p: string) =>
      (await listVersions(store, 'vol-rhel', partition, p)).map((v) => ({
        size: v.meta.size,
        removed: v.removedAtUntil ?? false,
      }));
    expect(await versionsOf(ROOT_LV, `/${notes}`)).toEqual([
      { size: 10, removed: false },
      { size: 18, removed: false },
    ]);
    expect(await versionsOf(ROOT_LV, '/home/ann/added – new.txt')).toEqual([{ size: 6, removed: false }]);
    expect(await versionsOf(ROOT_LV, '/home/ann/remove-me.txt')).toEqual([{ size: 4, removed: true }]);
    expect(await versionsOf(ROOT_LV, '/home/ann/linked')).toEqual([
      { size: 20, removed: false },
      { size: 46, removed: false },
    ]);
    expect((await versionsOf(ROOT_LV, '/var-lib-big.img')).length).toBe(2);
    expect(await versionsOf(2, '/grub2/grubenv')).toEqual([
      { size: 25, removed: false },
      { size: 39, removed: false },
    ]);
    expect(await versionsOf(ROOT_LV, '/etc/passwd')).toHaveLength(1);
    await expectCatalogEqualsSource(store, imageAt('vol-rhel', 2), ROOT_LV, rootSource, []);
    expect(await restoreAll(ROOT_LV, rootSource)).toBeGreaterThan(2500);
    expect(await restoreAll(2, bootSource)).toBe(2);
  }, 600_000);
});
