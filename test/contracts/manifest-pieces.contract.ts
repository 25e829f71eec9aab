/**
 * The contract of Plan Restore's `openManifest` (VolumeRestoreStepDeps, ManifestPieces in
 * lambdas/core/restore/volume-restore-manifest.ts): the manifest of a committed image, named by
 * its key, with the digest its image record holds, as the stored bytes in order (pieces of any
 * size). An image never committed, or one whose manifest object is gone, is a NotFoundError by the
 * time its pieces are read (S3 GetObject of a missing key is NoSuchKey,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).
 *
 * Run against storedManifestPieces (test/restore/volume-restore-images.ts, the restore tests'
 * fake) and s3ManifestPieces over DynamoDbImageRecordStore and S3 on moto
 * (test/contracts/object-store-ports.contract.test.ts). Each `make` gives a store never written.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import { sha256Hex } from '../../lambdas/core/image/hashing.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import type { ManifestPieces } from '../../lambdas/core/restore/volume-restore-manifest.ts';

export interface ManifestSourceUnderTest {
  open(volumeId: string, imageId: string): Promise<ManifestPieces>;
  /** Commit Image's writes: the manifest object, then the record holding its SHA-256. */
  commit(volumeId: string, imageId: string, manifest: Uint8Array): Promise<void>;
  /** The manifest object is lost from the bucket; the record stays. */
  loseObject(volumeId: string, imageId: string): Promise<void>;
}

/** A manifest larger than one read of a socket, so that the body arrives in several pieces. */
const MANIFEST_BYTES = 3 * 1024 * 1024 + 17;

async function bytesOf(source: ManifestPieces): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of source.pieces) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces);
}

async function readRejection(source: ManifestSourceUnderTest, volumeId: string, imageId: string) {
  return (async () => bytesOf(await source.open(volumeId, imageId)))().then(
    () => undefined,
    (error: unknown) => error,
  );
}

export function manifestPiecesContract(name: string, make: () => Promise<ManifestSourceUnderTest>): void {
  describe(`manifest pieces contract: ${name}`, () => {
    it("opens a committed image's manifest: its key, its record's digest and its bytes in order", async () => {
      const source = await make();
      const manifest = Buffer.alloc(MANIFEST_BYTES);
      for (let i = 0; i < manifest.length; i += 1) manifest[i] = (i * 131 + (i >> 12)) % 256;
      await source.commit('vol-0m', 'img-m1', manifest);
      await source.commit('vol-0m', 'img-m2', Buffer.from('{"small":true}'));

      const opened = await source.open('vol-0m', 'img-m1');
      expect(opened.key).toBe(manifestKey('vol-0m', 'img-m1'));
      expect(opened.sha256Hex).toBe(sha256Hex(manifest));
      expect((await bytesOf(opened)).equals(manifest)).toBe(true);
      // Opened again, it reads from the first byte again.
      expect((await bytesOf(await source.open('vol-0m', 'img-m1'))).equals(manifest)).toBe(true);
      const small = await source.open('vol-0m', 'img-m2');
      expect([small.key, small.sha256Hex, (await bytesOf(small)).toString()]).toEqual([
        manifestKey('vol-0m', 'img-m2'),
        sha256Hex(Buffer.from('{"small":true}')),
        '{"small":true}',
      ]);
    });

    it('an image never committed, and one whose manifest object is lost, are NotFoundErrors when read', async () => {
      const source = await make();
      expect(await readRejection(source, 'vol-0m', 'img-never')).toBeInstanceOf(NotFoundError);
      await source.commit('vol-0m', 'img-lost', Buffer.from('{"lost":true}'));
      await source.loseObject('vol-0m', 'img-lost');
      expect(await readRejection(source, 'vol-0m', 'img-lost')).toBeInstanceOf(NotFoundError);
    });
  });
}
