/**
 * The ObjectStore port's contract (object-store.contract.ts) against its fakes and S3ObjectStore
 * on moto: MemoryObjectStore (the work and image buckets of the engine tests), MemoryBucket (the
 * lifecycle tests' image bucket, which has no `replace`), and S3ObjectStore as the wiring builds
 * it for the work bucket (no prefix) and with a key prefix. Each `make` gets a bucket of its own.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll } from 'vitest';
import { S3ObjectStore } from '../../lambdas/aws/s3-object-store.ts';
import { ManualClock, MemoryBucket } from '../fakes/memory-lifecycle.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
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
afterAll(() => s3?.destroy());

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
