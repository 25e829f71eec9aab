/**
 * Files with holes keep them in tar archives (issue 14, defect 6): a real ext4 image made by
 * `mke2fs -d` from files with holes (at the start, in the middle, at the end), archived by
 * tarArchive, is small (the holes are not stored) and GNU tar unpacks files equal byte for byte
 * to the source, with holes again (few blocks allocated). Before GNU sparse entries, the archive
 * held every zero of the holes and the unpacked files were dense.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import { sparseMap, tarArchive } from '../../lambdas/core/file-restore/tar-archive.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, scratchDir, writeSparseFile } from '../support/fs-images.ts';

const run = promisify(execFile);
const MIB = 1024 * 1024;

const SPARSE_FILES = [
  {
    name: 'middle.bin',
    size: 40 * MIB + 123,
    pieces: [
      { offset: 0, data: Buffer.alloc(5000, 1) },
      { offset: 17 * MIB + 1, data: Buffer.alloc(2 * MIB + 3, 9) },
      { offset: 40 * MIB, data: Buffer.from('tail') },
    ],
  },
  {
    name: 'starts-with-hole.bin',
    size: 8 * MIB,
    pieces: [{ offset: 8 * MIB - 4096, data: Buffer.alloc(4096, 5) }],
  },
  { name: 'ends-in-hole.bin', size: 16 * MIB, pieces: [{ offset: 0, data: Buffer.from('head') }] },
  { name: 'all-hole.bin', size: 3 * MIB, pieces: [] },
];

let work: string;
let source: string;
let image: string;

beforeAll(async () => {
  work = await scratchDir('sparse-tar');
  source = path.join(work, 'src');
  await mkdir(path.join(source, 'data'), { recursive: true });
  for (const file of SPARSE_FILES)
    await writeSparseFile(path.join(source, 'data', file.name), file.size, file.pieces);
  await writeFile(path.join(source, 'data', 'dense.txt'), 'no holes here\n'.repeat(1000));
  image = path.join(work, 'disk.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 64 * MIB, blockSize: 4096, sourceDir: source });
});

afterAll(async () => {
  await removeDir(work);
});

describe('sparse files in tar archives', () => {
  it('stores only the data regions, and GNU tar unpacks the same bytes with holes', async () => {
    const disk = await FileByteRangeReader.open(image);
    let archive: Buffer;
    try {
      const { fs, reader } = await openImageFilesystem(disk);
      const tar = tarArchive(fs, reader, ['/data']);
      const pieces: Uint8Array[] = [];
      for await (const piece of tar.stream) pieces.push(piece);
      archive = Buffer.concat(pieces);
      expect(tar.progress.problemCount).toBe(0);
      expect(tar.progress.fileBytes).toBe(
        SPARSE_FILES.reduce((sum, file) => sum + file.size, 0) + 'no holes here\n'.length * 1000,
      );
    } finally {
      await disk.close();
    }
    // 67 MiB of logical file size; the data is about 2 MiB.
    expect(archive.length).toBeLessThan(3 * MIB);

    const tarFile = path.join(work, 'data.tar');
    await writeFile(tarFile, archive);
    const out = path.join(work, 'out');
    await mkdir(out);
    await run('tar', ['-xf', tarFile, '-C', out]);
    const listing = (await run('tar', ['-tf', tarFile])).stdout.split('\n').filter(Boolean).sort();
    expect(listing).toEqual(['data', ...SPARSE_FILES.map((f) => `data/${f.name}`), 'data/dense.txt'].sort());
    for (const file of SPARSE_FILES) {
      const restored = path.join(out, 'data', file.name);
      const original = await readFile(path.join(source, 'data', file.name));
      expect((await readFile(restored)).equals(original), file.name).toBe(true);
      const info = await stat(restored);
      expect(info.size).toBe(file.size);
      const dataBytes = file.pieces.reduce((sum, piece) => sum + piece.data.length, 0);
      // Allocated: the data rounded up to blocks, far below the size (holes were recreated).
      expect(info.blocks * 512, file.name).toBeLessThanOrEqual(dataBytes + 2 * MIB);
    }
    expect(await readFile(path.join(out, 'data', 'dense.txt'), 'utf8')).toBe('no holes here\n'.repeat(1000));
  });

  it('writes the sparse map as GNU tar does: count, offset/length pairs, a last empty region at the size', () => {
    const map = sparseMap([{ offset: 0, length: 4096 }], 10_000);
    expect(map.length).toBe(512);
    expect(Buffer.from(map).toString('latin1').replace(/\0+$/, '')).toBe('2\n0\n4096\n10000\n0\n');
    const exact = sparseMap([{ offset: 8192, length: 4096 }], 12_288);
    expect(Buffer.from(exact).toString('latin1').replace(/\0+$/, '')).toBe('1\n8192\n4096\n');
  });
});
