/**
 * A RHEL-like disk made by the real tools: a GPT (sgdisk) with an XFS /boot partition and an LVM2
 * PV partition. The VG "rhel" spans this disk and a second one; its LVs are written by
 * vgcfgrestore from a metadata file (device-mapper is not available, so lvcreate cannot run):
 * root (XFS, two linear segments), swap, data (XFS, striped over two areas), a snapshot, a thin
 * pool with a thin volume, and an LV on the other disk. `lvs --segments` (LVM2's own reading of
 * what it wrote) says where each LV lives; the XFS images are written there with dd, and the
 * mounted images are the oracle.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sliceReader } from '../../lambdas/core/fs/cached-reader.ts';
import { FilesystemCorruptError } from '../../lambdas/core/fs/errors.ts';
import { detectFsType } from '../../lambdas/core/fs/fs-type.ts';
import { readLogicalVolumes, readLvmPhysicalVolume } from '../../lambdas/core/fs/lvm/physical-volume.ts';
import type { LvmPhysicalVolume } from '../../lambdas/core/fs/lvm/physical-volume.ts';
import { readPartitionTable } from '../../lambdas/core/fs/partitions.ts';
import type { Partition } from '../../lambdas/core/fs/partitions.ts';
import { openVolume } from '../../lambdas/core/fs/volume.ts';
import { openXfs } from '../../lambdas/core/fs/xfs/filesystem.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { FileByteRangeReader, MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { generateTree, makeGptDisk, removeDir, run, scratchDir, spliceImage } from '../support/fs-images.ts';
import { linear, lv, makeLvmVolumeGroup, placeLv } from './lvm-images.ts';
import { makeXfsImage, verifyAgainstTree } from './xfs-images.ts';

const MIB = 1024 * 1024;
const EXTENT_MIB = 4;
const STRIPE_BYTES = 64 * 1024;
const BOOT = { start: 2048, end: 2048 + 48 * 2048 - 1 };
const PV = { start: BOOT.end + 1, end: BOOT.end + 320 * 2048 };

let work: string;
let disk: FileByteRangeReader;
let pv: LvmPhysicalVolume;
let pvPartition: Partition;
const mounts: string[] = [];
const images: Record<string, string> = {};

/** The LVs added to the VG: placement chosen here, read back through `lvs --segments`. */
const LOGICAL_VOLUMES = [
  lv('root', true, [linear(0, 14, 'pv0', 0), linear(14, 6, 'pv0', 30)]),
  lv('swap', true, [linear(0, 4, 'pv0', 14)]),
  lv('data', true, [
    `start_extent = 0\nextent_count = 16\ntype = "striped"\nstripe_count = 2\nstripe_size = ${STRIPE_BYTES / 512}\nstripes = ["pv0", 40, "pv0", 50]`,
  ]),
  lv('snap', true, [linear(0, 2, 'pv0', 60)]),
  lv('snapshot0', false, [
    'start_extent = 0\nextent_count = 20\ntype = "snapshot"\nchunk_size = 8\norigin = "root"\ncow_store = "snap"',
  ]),
  lv('pool', true, [
    'start_extent = 0\nextent_count = 4\ntype = "thin-pool"\nmetadata = "pool_tmeta"\npool = "pool_tdata"\ntransaction_id = 1\nchunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1',
  ]),
  lv('thin1', true, [
    'start_extent = 0\nextent_count = 10\ntype = "thin"\nthin_pool = "pool"\ntransaction_id = 0\ndevice_id = 1',
  ]),
  lv('pool_tmeta', false, [linear(0, 1, 'pv0', 62)]),
  lv('pool_tdata', false, [linear(0, 4, 'pv0', 63)]),
  lv('span', true, [linear(0, 4, 'pv1', 0)]),
].join('');

async function mountReadOnly(img: string): Promise<string> {
  const mnt = `${img}.ro`;
  if (mounts.includes(mnt)) return mnt;
  await run('mkdir', ['-p', mnt]);
  await run('mount', ['-o', 'ro,loop', img, mnt]);
  mounts.push(mnt);
  return mnt;
}

beforeAll(async () => {
  work = await scratchDir('lvm');
  const diskImage = path.join(work, 'disk.img');
  const otherDisk = path.join(work, 'other.img');
  await makeGptDisk(diskImage, (PV.end + 2048) * 512, [
    { startSector: BOOT.start, endSector: BOOT.end, typeCode: '8300', name: 'boot' },
    { startSector: PV.start, endSector: PV.end, typeCode: '8e00', name: 'lvm' },
  ]);
  await run('truncate', ['-s', String(64 * MIB), otherDisk]);
  const { segments, peStart } = await makeLvmVolumeGroup({
    diskImage,
    pvOffset: PV.start * 512,
    pvBytes: (PV.end - PV.start + 1) * 512,
    otherDisks: [otherDisk],
    vgName: 'rhel',
    extentMiB: EXTENT_MIB,
    logicalVolumes: LOGICAL_VOLUMES,
    work,
  });
  const of = (name: string) => segments.filter((s) => s.lv_name === name);
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 3, files: 400, deepChain: 5 });
  images.root = path.join(work, 'root.img');
  await makeXfsImage(images.root, { sizeBytes: 20 * EXTENT_MIB * MIB, label: 'root', sourceDir: src });
  images.data = path.join(work, 'data.img');
  await makeXfsImage(images.data, {
    sizeBytes: 16 * EXTENT_MIB * MIB,
    label: 'data',
    populate: async (m) => {
      await run('cp', ['-a', '/usr/share/perl5', path.join(m, 'perl5')]).catch(() => undefined);
      await run('dd', [
        'if=/dev/urandom',
        `of=${path.join(m, 'random')}`,
        'bs=1M',
        'count=20',
        'status=none',
      ]);
    },
  });
  images.boot = path.join(work, 'boot.img');
  await makeXfsImage(images.boot, {
    sizeBytes: (BOOT.end - BOOT.start + 1) * 512,
    label: 'boot',
    sourceDir: path.join(src, 'level-0'),
  });
  images.swap = path.join(work, 'swap.img');
  await run('truncate', ['-s', String(4 * EXTENT_MIB * MIB), images.swap]);
  await run('mkswap', ['-q', images.swap]);
  for (const name of ['root', 'data', 'swap'])
    await placeLv(diskImage, PV.start * 512, EXTENT_MIB, of(name), peStart, images[name]!);
  await spliceImage(diskImage, BOOT.start * 512, images.boot);
  disk = await FileByteRangeReader.open(diskImage);
  pvPartition = (await readPartitionTable(disk)).partitions[1]!;
  pv = await readLvmPhysicalVolume(sliceReader(disk, pvPartition.startByte, pvPartition.sizeBytes));
}, 180_000);

afterAll(async () => {
  await disk?.close();
  for (const mnt of mounts) await run('umount', [mnt]).catch(() => undefined);
  await removeDir(work);
});

function readerOf(name: string): ByteRangeReader {
  const found = pv.logicalVolumes.find((l) => l.lvName === name);
  if (found?.status !== 'readable') throw new Error(`${name} is not readable`);
  return found.reader;
}

describe('LVM2 on a GPT disk (RHEL-like)', () => {
  it('finds the XFS /boot partition and the LVM PV partition', async () => {
    const table = await readPartitionTable(disk);
    expect(table.partitions.map((p) => p.fsType)).toEqual(['xfs', 'lvm2']);
  });

  it('lists each visible LV, readable, unsupported (with the reason) or incomplete', () => {
    expect({ vg: pv.vgName, pv: pv.pvName, extent: pv.extentBytes, otherPvs: pv.otherPvs.length }).toEqual({
      vg: 'rhel',
      pv: 'pv0',
      extent: EXTENT_MIB * MIB,
      otherPvs: 1,
    });
    expect(
      pv.logicalVolumes.map((l) =>
        l.status === 'readable'
          ? { name: l.name, status: l.status, size: l.sizeBytes }
          : { name: l.name, status: l.status, reason: l.reason },
      ),
    ).toEqual([
      { name: 'rhel/root', status: 'readable', size: 20 * EXTENT_MIB * MIB },
      { name: 'rhel/swap', status: 'readable', size: 4 * EXTENT_MIB * MIB },
      { name: 'rhel/data', status: 'readable', size: 16 * EXTENT_MIB * MIB },
      {
        name: 'rhel/snap',
        status: 'unsupported',
        reason:
          'snapshot of rhel/root: its copy-on-write store holds only changed chunks; the origin is read instead',
      },
      {
        name: 'rhel/pool',
        status: 'unsupported',
        reason: 'thin pool: its blocks are mapped by the pool metadata B-trees, which are not read',
      },
      {
        name: 'rhel/thin1',
        status: 'unsupported',
        reason: 'thin volume in pool pool: thin provisioning is not read',
      },
      {
        name: 'rhel/span',
        status: 'incomplete',
        reason: 'has extents on pv1, another disk of volume group rhel; only this disk is read',
      },
    ]);
  });

  it('gives the volume opener each LV as mapped (with its place on the disk) or unsupported', async () => {
    const lvs = await readLogicalVolumes(sliceReader(disk, pvPartition.startByte, pvPartition.sizeBytes));
    expect(lvs.map((l) => `${l.name} ${l.status}`)).toEqual([
      'rhel/root mapped',
      'rhel/swap mapped',
      'rhel/data mapped',
      'rhel/snap unsupported',
      'rhel/pool unsupported',
      'rhel/thin1 unsupported',
      'rhel/span unsupported',
    ]);
    const root = lvs[0]!;
    expect(root.status === 'mapped' && root.reader.offsetInDisk).toBe(
      pvPartition.startByte + pv.peStartBytes,
    );
    const span = lvs[6]!;
    expect(span.status === 'unsupported' && span.reason).toBe(
      'incomplete: has extents on pv1, another disk of volume group rhel; only this disk is read',
    );
  });

  it('the root LV (two linear segments) holds an XFS equal to its mounted image', async () => {
    const fs = await openXfs(readerOf('root'));
    expect(fs.label).toBe('root');
    const result = await verifyAgainstTree(fs, await mountReadOnly(images.root!), {
      sameInodes: true,
      times: 'all',
    });
    expect(result.entries).toBeGreaterThan(400);
  });

  it('the striped data LV reads back byte for byte and holds an XFS equal to its mounted image', async () => {
    const reader = readerOf('data');
    const want = await readFile(images.data!);
    // Reads that cross stripe boundaries at odd offsets.
    for (const [offset, length] of [
      [0, 3 * STRIPE_BYTES + 17],
      [STRIPE_BYTES - 5, 10],
      [want.length - 100_000, 100_000],
    ] as const) {
      expect(
        Buffer.from(await reader.read(offset, length)).equals(want.subarray(offset, offset + length)),
      ).toBe(true);
    }
    const fs = await openXfs(reader);
    await verifyAgainstTree(fs, await mountReadOnly(images.data!), { sameInodes: true, times: 'all' });
  });

  it('the swap LV is recognised as swap; /boot reads as XFS from its partition', async () => {
    expect(await detectFsType(readerOf('swap'))).toBe('swap');
    const boot = (await readPartitionTable(disk)).partitions[0]!;
    const fs = await openXfs(sliceReader(disk, boot.startByte, boot.sizeBytes));
    await verifyAgainstTree(fs, await mountReadOnly(images.boot!), { sameInodes: true, times: 'all' });
  });

  it('openVolume opens /boot and every mapped LV with its reader, numbered after the PV partition', async () => {
    const contents = await openVolume(disk);
    const summary = contents.filesystems.map(
      (f) => `${f.index} ${f.logicalVolume ?? '-'} ${f.fsType} ${f.status}`,
    );
    expect(summary).toEqual([
      '1 - xfs readable',
      '2001 rhel/root xfs readable',
      '2002 rhel/swap swap unsupported',
      '2003 rhel/data xfs readable',
      '2004 rhel/snap lvm2 unsupported',
      '2005 rhel/pool lvm2 unsupported',
      '2006 rhel/thin1 lvm2 unsupported',
      '2007 rhel/span lvm2 unsupported',
    ]);
    const root = contents.filesystems[1]!;
    expect(root.status).toBe('readable');
    if (root.status !== 'readable') return;
    const result = await verifyAgainstTree(root.fs, await mountReadOnly(images.root!), {
      sameInodes: true,
      times: 'all',
    });
    expect(result.entries).toBeGreaterThan(400);
  });

  it('a damaged label or metadata text is a FilesystemCorruptError naming it', async () => {
    const bytes = new Uint8Array(await disk.read(pvPartition.startByte, 2 * MIB));
    const label = bytes.slice();
    label[512 + 100]! ^= 1;
    const damaged = readLvmPhysicalVolume(new MemoryByteRangeReader(label));
    await expect(damaged).rejects.toThrow('LVM label in sector 1: checksum mismatch');
    await expect(damaged).rejects.toBeInstanceOf(FilesystemCorruptError);
    const text = bytes.slice();
    // The committed text is where raw_locns[0] of the metadata area header (at 4096) points; older
    // copies stay earlier in the circular buffer.
    const committed = 4096 + Number(Buffer.from(text).readBigUInt64LE(4096 + 40));
    const at = Buffer.from(text).indexOf('extent_size', committed);
    text[at]! ^= 1;
    await expect(readLvmPhysicalVolume(new MemoryByteRangeReader(text))).rejects.toThrow(
      'LVM metadata area at 4096: metadata text checksum mismatch',
    );
  });
});
