/**
 * The ObjectStore port's contract (object-store.contract.ts) against its fakes and S3ObjectStore
 * on moto: MemoryObjectStore (the work and image buckets of the engine tests), MemoryBucket (the
 * lifecycle tests' image bucket, which has no `replace`), and S3ObjectStore as the wiring builds
 * it for the work bucket (no prefix) and with a key prefix. Each `make` gets a bucket of its own.
 * Plan Restore's manifest source (manifest-pieces.contract.ts) reads the same image bucket:
 * storedManifestPieces over MemoryObjectStore, and s3ManifestPieces with DynamoDbImageRecordStore.
 */
import { CreateBucketCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { s3ManifestPieces } from '../../lambdas/aws/s3-volume-restore-manifests.ts';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { sha256Base64, sha256Hex } from '../../lambdas/core/image/hashing.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { ManualClock, MemoryBucket } from '../fakes/memory-lifecycle.ts';
import { BAD_DIGEST_MESSAGE, MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { storedManifestPieces } from '../restore/volume-restore-images.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { manifestPiecesContract } from './manifest-pieces.contract.ts';
import { objectStoreContract } from './object-store.contract.ts';

objectStoreContract(
  'MemoryObjectStore',
  () => Promise.resolve({ store: new MemoryObjectStore(), replaces: true }),
  true,
);

objectStoreContract(
  'MemoryBucket',
  () => Promise.resolve({ store: new MemoryBucket(new ManualClock(0)), replaces: false }),
  false,
);

const local = useLocalStack();
let s3: S3Client | undefined;
let made = 0;
const tables: DynamoDBDocumentClient[] = [];
afterAll(() => {
  s3?.destroy();
  for (const documents of tables) documents.destroy();
});

async function freshBucket(): Promise<{ s3: S3Client; bucket: string }> {
  s3 ??= new S3Client({ ...local.clientConfig(), forcePathStyle: true });
  made += 1;
  const bucket = `rbp-object-contract-${made}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return { s3, bucket };
}

objectStoreContract(
  'S3ObjectStore on moto (the work bucket)',
  async () => {
    const { s3: client, bucket } = await freshBucket();
    return { store: new S3ObjectStore(client, bucket), replaces: true };
  },
  false,
);

objectStoreContract(
  'S3ObjectStore on moto under a key prefix',
  async () => {
    const { s3: client, bucket } = await freshBucket();
    return { store: new S3ObjectStore(client, bucket, 'store/'), replaces: true };
  },
  false,
);

manifestPiecesContract('storedManifestPieces (the restore tests)', () => {
  const objects = new MemoryObjectStore();
  const digests = new Map<string, string>();
  return Promise.resolve({
    open: storedManifestPieces(new ImageStore(objects), (imageId) => digests.get(imageId)!),
    commit: async (volumeId, imageId, manifest) => {
      await objects.putIfAbsent({
        key: manifestKey(volumeId, imageId),
        body: manifest,
        sha256Base64: sha256Base64(manifest),
      });
      digests.set(imageId, sha256Hex(manifest));
    },
    loseObject: (volumeId, imageId) => {
      objects.objects.delete(manifestKey(volumeId, imageId));
      return Promise.resolve();
    },
  });
});

manifestPiecesContract('s3ManifestPieces with DynamoDbImageRecordStore on moto', async () => {
  const { s3: client, bucket } = await freshBucket();
  const table = `rbp-manifest-contract-${made}`;
  const documents = await createCatalogTable(local.clientConfig(), table);
  tables.push(documents);
  const records = new DynamoDbImageRecordStore(documents, table);
  const objects = new S3ObjectStore(client, bucket);
  return {
    open: s3ManifestPieces(client, bucket, records),
    commit: async (volumeId, imageId, manifest) => {
      const key = manifestKey(volumeId, imageId);
      await objects.putIfAbsent({ key, body: manifest, sha256Base64: sha256Base64(manifest) });
      await records.putImageRecord({
        ...fullImageRecord(volumeId, imageId, '2026-12-04T00:00:00.000Z'),
        manifestKey: key,
        manifestSha256: sha256Hex(manifest),
      });
    },
    loseObject: async (volumeId, imageId) => {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: manifestKey(volumeId, imageId) }));
    },
  };
});

/**
 * moto stores a body whatever its checksum, so S3's own answer is played by a stub client: a PUT
 * whose body does not match x-amz-checksum-sha256 is a 400 BadDigest
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html), which the
 * adapter reports as the fake does.
 */
describe('S3ObjectStore and S3’s BadDigest', () => {
  it('is a ValidationError with S3’s message, as MemoryObjectStore answers a mismatched body', async () => {
    const badDigest = Object.assign(new Error(BAD_DIGEST_MESSAGE), {
      name: 'BadDigest',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    const stub = { send: () => Promise.reject(badDigest) } as unknown as S3Client;
    const put = new S3ObjectStore(stub, 'rbp-images').putIfAbsent({
      key: 'chunks/bad',
      body: Buffer.from('abc'),
      sha256Base64: sha256Base64(Buffer.from('abd')),
    });
    const error = await put.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(`PutObject failed: BadDigest: ${BAD_DIGEST_MESSAGE}`);
  });
});
