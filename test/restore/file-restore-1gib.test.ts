/**
 * A 1 GiB file restore works: a 1 GiB file in a real ext4 image (mke2fs -d), catalogued, restored
 * by the restore job as a stream whose bytes are hashed as they arrive (nothing holds the file):
 * the SHA-256 and length equal the source's, and no piece larger than one chunk reached the upload.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import {
  createRestoreJob,
  runRestoreJob,
  type RestoreDeps,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { RestoreObjectStore, UploadOptions } from '../../lambdas/core/file-restore/restore-ports.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { MemoryRestoreJobs } from '../file-restore/memory-restore.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';

const MIB = 1024 * 1024;
const FILE_BYTES = 1024 * MIB;
const image = imageAt('vol-restore-1gib', 1);

/** An upload target that hashes the stream and keeps nothing but figures. */
class HashingRestoreObjects implements RestoreObjectStore {
  readonly uploads = new Map<string, { sha256: string; bytes: number }>();
  largestPiece = 0;

  async upload(
    key: string,
    body: AsyncIterable<Uint8Array>,
    _options: UploadOptions,
  ): Promise<{ bytes: number }> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const piece of body) {
      this.largestPiece = Math.max(this.largestPiece, piece.length);
      hash.update(piece);
      bytes += piece.length;
    }
    this.uploads.set(key, { sha256: hash.digest('hex'), bytes });
    return { bytes };
  }

  presignDownload(key: string): Promise<string> {
    return Promise.resolve(`memory://${key}`);
  }
}

let work: string;
let reader: FileByteRangeReader;
let sourceSha256: string;

beforeAll(async () => {
  work = await scratchDir('restore-1gib');
  const source = path.join(work, 'src');
  await mkdir(path.join(source, 'var/lib/db'), { recursive: true });
  // 1 GiB of data: one random MiB, each copy stamped with its offset (a misplaced MiB shows).
  const unit = randomBytes(MIB);
  const hash = createHash('sha256');
  const out = createWriteStream(path.join(source, 'var/lib/db/big.dat'));
  for (let at = 0; at < FILE_BYTES; at += MIB) {
    const piece = Buffer.from(unit);
    piece.writeBigUInt64BE(BigInt(at), 0);
    hash.update(piece);
    if (!out.write(piece)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  sourceSha256 = hash.digest('hex');
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, {
    type: 'ext4',
    sizeBytes: FILE_BYTES + 128 * MIB,
    blockSize: 4096,
    sourceDir: source,
  });
  reader = await FileByteRangeReader.open(imageFile);
}, 600_000);

afterAll(async () => {
  await reader?.close();
  if (work !== undefined) await removeDir(work);
});

describe('a 1 GiB file restore', () => {
  it('streams the whole file, byte for byte, without holding it', async () => {
    const catalog = new MemoryCatalogStore();
    await buildCatalog({ store: catalog }, { image, disk: reader });
    const objects = new HashingRestoreObjects();
    const deps: RestoreDeps = {
      jobs: new MemoryRestoreJobs(),
      objects,
      catalog,
      openImage: () => Promise.resolve(reader),
      clock: { now: () => new Date('2026-12-03T05:00:00.000Z') },
    };
    await createRestoreJob(deps, {
      restoreId: 'rs-1gib',
      volumeId: image.volumeId,
      imageId: image.imageId,
      kind: 'file',
      path: '/var/lib/db/big.dat',
      keyToken: 'token1gib',
    });
    const job = await runRestoreJob(deps, 'rs-1gib');
    expect({ status: job.status, failure: job.failure }).toEqual({ status: 'succeeded', failure: undefined });
    expect(job.result?.bytes).toBe(FILE_BYTES);
    expect(objects.uploads.get(job.result!.key)).toEqual({ sha256: sourceSha256, bytes: FILE_BYTES });
    expect(objects.largestPiece).toBeLessThanOrEqual(MIB);
  }, 600_000);
});
