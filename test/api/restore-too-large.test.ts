/**
 * POST /restores refuses at once (400) a file, or a whole filesystem's directory restore, whose
 * catalogued bytes exceed what the restore worker can write: one multipart upload of 10,000 parts
 * whose size doubles every 2,500 parts from 8 MiB (293 GiB), where the worker would fail with
 * RestoreTooLargeError after writing 10,000 parts. The catalog is built from a real ext4 image
 * holding a 300 GiB sparse file.
 */
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { maxResumableBytes } from '../../lambdas/core/file-restore/resumable-upload.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { restoreAdmission, type RestoreAdmission } from '../support/restore-admission.ts';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** The S3 adapter's first part size (RESTORE_PART_BYTES in lambdas/aws/s3-restore.ts). */
const PART_BYTES = 8 * MIB;
const ref = imageAt('vol-0123456789abcdef0', 1);

let work: string;
let reader: FileByteRangeReader;
let admission: RestoreAdmission;

beforeAll(async () => {
  work = await scratchDir('restore-too-large');
  const source = path.join(work, 'src');
  await mkdir(path.join(source, 'data'), { recursive: true });
  await writeFile(path.join(source, 'notes.txt'), 'a regular file\n');
  // Sparse: mke2fs -d keeps the holes, so the 64 MiB filesystem holds a 300 GiB file.
  await writeFile(path.join(source, 'data/huge.img'), '');
  await truncate(path.join(source, 'data/huge.img'), 300 * GIB);
  await writeFile(path.join(source, 'data/fits.img'), '');
  await truncate(path.join(source, 'data/fits.img'), GIB);
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: 64 * MIB, sourceDir: source });
  reader = await FileByteRangeReader.open(imageFile);
  const catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image: ref, disk: reader });
  admission = restoreAdmission(catalog, ref, PART_BYTES);
}, 60_000);

afterAll(async () => {
  await reader?.close();
  await removeDir(work);
});

describe('POST /restores of more than one restore can write', () => {
  it('holds 293 GiB at 8 MiB parts (the limit checked)', () => {
    expect(maxResumableBytes(PART_BYTES)).toBe(314_572_800_000);
  });

  it.each([
    [
      { kind: 'file', path: '/data/huge.img' },
      `/data/huge.img holds 322122547200 bytes in image ${ref.imageId}, more than the 314572800000 bytes one restore can write (one upload of 10000 parts); restore a smaller file or directory`,
      322_122_547_200,
    ],
    [
      { kind: 'directory', path: '/' },
      `the files of / hold 323196289039 bytes in image ${ref.imageId}, more than the 314572800000 bytes one restore can write (one upload of 10000 parts); restore a smaller file or directory`,
      323_196_289_039,
    ],
  ])('refuses %j with a 400 and starts no job', async (body, message, bytes) => {
    const answer = await admission.restore(body);
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      code: 'InvalidRequest',
      message,
      details: { reason: 'RestoreTooLarge', imageId: ref.imageId, bytes, limitBytes: 314_572_800_000 },
    });
    expect(admission.launched).toEqual([]);
  });

  it('accepts a 1 GiB file and a small one', async () => {
    expect((await admission.restore({ kind: 'file', path: '/data/fits.img' })).status).toBe(202);
    expect((await admission.restore({ kind: 'file', path: '/notes.txt' })).status).toBe(202);
    expect(admission.launched).toHaveLength(2);
  });
});
