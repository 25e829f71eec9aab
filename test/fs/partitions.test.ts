/**
 * Partition tables made by sgdisk and sfdisk, filesystems placed with mke2fs -E offset=, mkfs.vfat
 * and mkfs.xfs (spliced in with dd). The partition tools' own output is the oracle.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FilesystemCorruptError,
  openExt4,
  openVolume,
  isReadableFsType,
  readPartitionTable,
  sliceReader,
} from '../../lambdas/core/fs/index.ts';
import { FileByteRangeReader, MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import {
  generateTree,
  makeExtImage,
  makeGptDisk,
  makeMbrDisk,
  run,
  spliceImage,
} from '../support/fs-images.ts';
import { useScratchDir } from '../support/scratch-dir.ts';
import { verifyAgainstSource } from './verify-against-source.ts';

const MIB = 1024 * 1024;
const LINUX_FS_GUID = '0fc63daf-8483-4772-8e79-3d69d8477de4';
const ESP_GUID = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const work = useScratchDir('partitions');
let src: string;

beforeAll(async () => {
  src = path.join(work(), 'src');
  await generateTree(src, { seed: 21, files: 120, specialFiles: false });
});

async function withReader<T>(image: string, fn: (reader: FileByteRangeReader) => Promise<T>): Promise<T> {
  const reader = await FileByteRangeReader.open(image);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}

describe('GPT', () => {
  let disk: string;
  const expected = [
    {
      index: 1,
      startByte: 2048 * 512,
      sizeBytes: 32 * MIB,
      type: LINUX_FS_GUID,
      name: 'root',
      fsType: 'ext4',
    },
    {
      index: 2,
      startByte: 67_584 * 512,
      sizeBytes: 300 * MIB,
      type: LINUX_FS_GUID,
      name: 'data-xfs',
      fsType: 'xfs',
    },
    {
      index: 3,
      startByte: 681_984 * 512,
      sizeBytes: 16 * MIB,
      type: ESP_GUID,
      name: 'EFI system',
      fsType: 'vfat',
    },
  ];

  beforeAll(async () => {
    disk = path.join(work(), 'gpt.img');
    await makeGptDisk(disk, 360 * MIB, [
      { startSector: 2048, endSector: 67_583, typeCode: '8300', name: 'root' },
      { startSector: 67_584, endSector: 681_983, typeCode: '8300', name: 'data-xfs' },
      { startSector: 681_984, endSector: 714_751, typeCode: 'ef00', name: 'EFI system' },
    ]);
    await makeExtImage(disk, { type: 'ext4', sizeBytes: 32 * MIB, offsetBytes: 2048 * 512, sourceDir: src });
    const xfs = path.join(work(), 'xfs.img');
    await run('truncate', ['-s', String(300 * MIB), xfs]);
    await run('mkfs.xfs', ['-q', '-f', xfs]);
    await spliceImage(disk, 67_584 * 512, xfs);
    const vfat = path.join(work(), 'vfat.img');
    await run('mkfs.vfat', ['-C', vfat, String(16 * 1024)]);
    await spliceImage(disk, 681_984 * 512, vfat);
  });

  it('lists the partitions with types, names and detected filesystems', async () => {
    await withReader(disk, async (reader) => {
      const table = await readPartitionTable(reader);
      expect(table.scheme).toBe('gpt');
      expect(table.gptHeader).toBe('primary');
      expect(table.warnings).toEqual([]);
      expect(table.partitions).toEqual(expected);
      const diskGuid = (await run('sgdisk', ['-p', disk]))
        .match(/Disk identifier \(GUID\): (\S+)/)![1]!
        .toLowerCase();
      expect(table.diskGuid).toBe(diskGuid);
    });
  });

  it('reads the ext4 partition through a slice of the disk', async () => {
    await withReader(disk, async (reader) => {
      const table = await readPartitionTable(reader);
      const root = table.partitions[0]!;
      const fs = await openExt4(sliceReader(reader, root.startByte, root.sizeBytes));
      expect(fs.offsetInDisk).toBe(2048 * 512);
      await verifyAgainstSource(fs, src);
      // Physical offsets are relative to the partition reader: they add up with offsetInDisk.
      const inode = await fs.lookup('/tiny-dir/only-file');
      const [extent] = await fs.fileExtents(inode);
      const direct = await reader.read(fs.offsetInDisk + extent!.physicalOffset, extent!.length);
      expect(new TextDecoder().decode(direct)).toBe('tiny\n');
    });
  });

  it('openVolume opens the ext4 and vfat partitions and the XFS one when its reader is registered', async () => {
    await withReader(disk, async (reader) => {
      const volume = await openVolume(reader);
      expect(
        volume.filesystems.map((f) => ({
          index: f.partition.index,
          status: f.status,
          detail:
            f.status === 'readable' ? f.fs.fsType : f.status === 'unsupported' ? f.reason : f.error.message,
        })),
      ).toEqual([
        { index: 1, status: 'readable', detail: 'ext4' },
        isReadableFsType('xfs')
          ? { index: 2, status: 'readable', detail: 'xfs' }
          : { index: 2, status: 'unsupported', detail: 'XFS filesystems are not read yet' },
        { index: 3, status: 'readable', detail: 'vfat' },
      ]);
    });
  });

  it('uses the backup header when the primary header fails its CRC', async () => {
    const bytes = new Uint8Array(await readFile(disk));
    bytes[512 + 0x40]! ^= 0xff; // a byte of the disk GUID inside the primary header
    const table = await readPartitionTable(new MemoryByteRangeReader(bytes));
    expect(table.gptHeader).toBe('backup');
    expect(table.partitions).toEqual(expected);
    expect(table.warnings).toEqual([
      `primary GPT header unusable (header CRC32 mismatch); trying the backup at LBA ${360 * 2048 - 1}`,
    ]);
  });

  it('uses the backup when the primary partition entry array is damaged', async () => {
    const bytes = new Uint8Array(await readFile(disk));
    bytes[1024 + 0x20]! ^= 0x01; // first LBA of entry 1, primary array
    const table = await readPartitionTable(new MemoryByteRangeReader(bytes));
    expect(table.gptHeader).toBe('backup');
    expect(table.partitions).toEqual(expected);
    expect(table.warnings[0]).toBe(
      `primary GPT header unusable (partition entry array CRC32 mismatch); trying the backup at LBA ${360 * 2048 - 1}`,
    );
  });

  it('fails with a typed error when both headers are damaged', async () => {
    const bytes = new Uint8Array(await readFile(disk));
    bytes[512 + 0x40]! ^= 0xff;
    bytes[bytes.length - 512 + 0x40]! ^= 0xff;
    const reading = readPartitionTable(new MemoryByteRangeReader(bytes));
    await expect(reading).rejects.toThrow(FilesystemCorruptError);
    await expect(readPartitionTable(new MemoryByteRangeReader(bytes))).rejects.toThrow(
      'GPT found but both the primary and the backup header are damaged',
    );
  });
});

describe('MBR with extended and logical partitions', () => {
  let disk: string;
  let sfdiskView: { start: number; size: number; type: string; node: string }[];

  beforeAll(async () => {
    disk = path.join(work(), 'mbr.img');
    await makeMbrDisk(
      disk,
      96 * MIB,
      [
        'label: dos',
        'start=2048, size=32768, type=83',
        'start=34816, size=155648, type=5',
        'start=36864, size=32768, type=83',
        'start=71680, size=32768, type=c',
        'start=106496, size=32768, type=82',
        '',
      ].join('\n'),
    );
    await makeExtImage(disk, {
      type: 'ext4',
      sizeBytes: 16 * MIB,
      offsetBytes: 2048 * 512,
      sourceDir: src,
      label: 'first',
    });
    await makeExtImage(disk, {
      type: 'ext2',
      sizeBytes: 16 * MIB,
      offsetBytes: 36_864 * 512,
      sourceDir: src,
      label: 'logical',
    });
    const vfat = path.join(work(), 'mbr-vfat.img');
    await run('mkfs.vfat', ['-C', vfat, String(16 * 1024)]);
    await spliceImage(disk, 71_680 * 512, vfat);
    const json = JSON.parse(await run('sfdisk', ['-J', disk])) as {
      partitiontable: { partitions: { start: number; size: number; type: string; node: string }[] };
    };
    sfdiskView = json.partitiontable.partitions;
  });

  it('follows the EBR chain and numbers logical partitions from 5, as sfdisk does', async () => {
    await withReader(disk, async (reader) => {
      const table = await readPartitionTable(reader);
      expect(table.scheme).toBe('mbr');
      expect(table.warnings).toEqual([]);
      const fsTypes: Record<number, string> = { 1: 'ext4', 5: 'ext2', 6: 'vfat', 7: 'unknown' };
      const expected = sfdiskView
        .filter((p) => p.type !== '5')
        .map((p) => {
          const index = Number(/(\d+)$/.exec(p.node)![1]);
          return {
            index,
            startByte: p.start * 512,
            sizeBytes: p.size * 512,
            type: `0x${p.type.padStart(2, '0')}`,
            fsType: fsTypes[index],
          };
        });
      expect(expected.map((p) => p.index)).toEqual([1, 5, 6, 7]);
      expect(table.partitions).toEqual(expected);
      const logical = table.partitions[1]!;
      const fs = await openExt4(sliceReader(reader, logical.startByte, logical.sizeBytes));
      expect(fs.label).toBe('logical');
      await verifyAgainstSource(fs, src);
    });
  });

  it('stops an EBR chain that loops, with a warning', async () => {
    const bytes = new Uint8Array(await readFile(disk));
    // Third EBR (before partition 7, at sector 104448): its "next" entry points back to the second EBR.
    const third = 104_448 * 512;
    const view = new DataView(bytes.buffer);
    view.setUint8(third + 446 + 16 + 4, 0x05);
    view.setUint32(third + 446 + 16 + 8, 69_632 - 34_816, true);
    view.setUint32(third + 446 + 16 + 12, 2048, true);
    const table = await readPartitionTable(new MemoryByteRangeReader(bytes));
    expect(table.partitions.map((p) => p.index)).toEqual([1, 5, 6, 7]);
    expect(table.warnings).toEqual(['EBR chain loops back to sector 69632; stopped']);
  });
});

describe('no partition table', () => {
  it('reports an ext4 filesystem on the whole disk', async () => {
    const image = path.join(work(), 'whole-ext4.img');
    await makeExtImage(image, { type: 'ext4', sizeBytes: 8 * MIB });
    await withReader(image, async (reader) => {
      expect(await readPartitionTable(reader)).toEqual({
        scheme: 'none',
        partitions: [{ index: 0, startByte: 0, sizeBytes: 8 * MIB, type: 'none', fsType: 'ext4' }],
        warnings: [],
      });
    });
  });

  it('does not mistake a whole-disk FAT boot sector (55 AA) for an MBR', async () => {
    const image = path.join(work(), 'whole-vfat.img');
    await run('mkfs.vfat', ['-C', image, String(8 * 1024)]);
    await withReader(image, async (reader) => {
      const table = await readPartitionTable(reader);
      expect(table.scheme).toBe('none');
      expect(table.partitions).toEqual([
        { index: 0, startByte: 0, sizeBytes: 8 * MIB, type: 'none', fsType: 'vfat' },
      ]);
    });
  });

  it('reports an unknown whole disk for zeros', async () => {
    const image = path.join(work(), 'zeros.img');
    await writeFile(image, new Uint8Array(MIB));
    await withReader(image, async (reader) => {
      expect((await readPartitionTable(reader)).partitions).toEqual([
        { index: 0, startByte: 0, sizeBytes: MIB, type: 'none', fsType: 'unknown' },
      ]);
    });
  });
});
