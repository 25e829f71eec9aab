import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll } from 'vitest';
import { S3RestoreObjectStore } from '../../lambdas/aws/s3-restore.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { MemoryRestoreObjects } from './memory-restore.ts';
import { restoreObjectStoreContract } from './restore-object-store.contract.ts';

const local = useLocalStack();
const BUCKET = 'restore-contract';
let s3: S3Client | undefined;
afterAll(() => s3?.destroy());

restoreObjectStoreContract('in-memory', () => {
  const store = new MemoryRestoreObjects();
  return Promise.resolve({
    store,
    download: (_url, key) => Promise.resolve(store.objects.get(key)?.body ?? Buffer.alloc(0)),
  });
});
restoreObjectStoreContract('S3 (moto)', async () => {
  if (s3 === undefined) {
    s3 = new S3Client({ ...local.clientConfig(), forcePathStyle: true });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  }
  return {
    store: new S3RestoreObjectStore(s3, BUCKET),
    download: async (url) => {
      const answer = await fetch(url);
      if (!answer.ok) throw new Error(`GET presigned URL: HTTP ${answer.status}`);
      return Buffer.from(await answer.arrayBuffer());
    },
  };
});
