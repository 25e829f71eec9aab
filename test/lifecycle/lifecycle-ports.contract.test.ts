/**
 * The lifecycle ports' contracts (test/support/*.contract.ts), each run against its in-memory fake
 * and its adapter on moto through one local stack: LifecycleImageRecords (DynamoDB, records
 * committed by DynamoDbImageRecordStore), LifecycleObjectStore (S3), GcCoordination (DynamoDB),
 * RetentionRuleStore (DynamoDB), ScrubCursorStore (DynamoDB; test/contracts/scrub-cursor.contract.ts) and
 * ChunkQuarantine (DynamoDB; test/contracts/chunk-quarantine.contract.ts), and ImageLiveness
 * (DynamoDbImageRecordStore; test/contracts/image-liveness.contract.ts), which recovery points are
 * narrowed by, and CatalogPruningStore (DynamoDbLifecycleCatalog; test/contracts/catalog-pruning.contract.ts).
 * Every `make` gets a table or bucket of its own, so the cases and property runs share nothing.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll } from 'vitest';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { DynamoDbChunkQuarantine } from '../../lambdas/aws/dynamodb-chunk-quarantine.ts';
import { DynamoDbLifecycleCatalog } from '../../lambdas/aws/dynamodb-lifecycle-catalog.ts';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { DynamoDbGcCoordination, DynamoDbScrubCursor } from '../../lambdas/aws/dynamodb-lifecycle-gc.ts';
import { DynamoDbRetentionRuleStore } from '../../lambdas/aws/dynamodb-lifecycle-retention.ts';
import { S3LifecycleObjectStore } from '../../lambdas/aws/s3-lifecycle-objects.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { catalogPruningContract } from '../contracts/catalog-pruning.contract.ts';
import { chunkQuarantineContract } from '../contracts/chunk-quarantine.contract.ts';
import { imageLivenessContract } from '../contracts/image-liveness.contract.ts';
import { scrubCursorStoreContract } from '../contracts/scrub-cursor.contract.ts';
import {
  ManualClock,
  MemoryBucket,
  MemoryGcCoordination,
  MemoryLifecycleRecords,
  MemoryRetentionRules,
} from '../fakes/memory-lifecycle.ts';
import { MemoryChunkQuarantine } from '../fakes/memory-chunk-quarantine.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { lifecycleRecordsLiveness } from '../fakes/memory-image-liveness.ts';
import { recordsLiveness } from '../recovery-points/memory-recovery-point-store.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { MemoryCatalogPruning } from './memory-catalog-pruning.ts';
import { MemoryScrubCursor } from '../fakes/memory-scrub-cursor.ts';
import { gcCoordinationContract } from '../support/gc-coordination.contract.ts';
import {
  lifecycleImageRecordsContract,
  listedImage,
  type LifecycleRecordsUnderTest,
} from '../support/lifecycle-image-records.contract.ts';
import { lifecycleObjectStoreContract } from '../support/lifecycle-object-store.contract.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { retentionRuleStoreContract } from '../support/retention-rule-store.contract.ts';

/** Property runs on the fakes (cheap) and on moto (a table or bucket and a dozen requests each). */
const FAKE_RUNS = 100;
const MOTO_RUNS = 8;

const local = useLocalStack();
let made = 0;
const destroy: (() => void)[] = [];
afterAll(() => destroy.forEach((d) => d()));

/** A product table of its own on moto. */
async function freshTable(prefix: string) {
  made += 1;
  const name = `${prefix}-${made}`;
  const documents = await createCatalogTable(local.clientConfig(), name);
  destroy.push(() => documents.destroy());
  return { documents, name };
}

lifecycleImageRecordsContract(
  'in-memory',
  () => {
    const records = new MemoryLifecycleRecords();
    const under: LifecycleRecordsUnderTest = {
      records,
      commit: (record, serverId) => Promise.resolve(records.put(listedImage(record, serverId))),
    };
    return Promise.resolve(under);
  },
  FAKE_RUNS,
);

lifecycleImageRecordsContract(
  'DynamoDB (moto)',
  async () => {
    const { documents, name } = await freshTable('lifecycle-records');
    const servers = new Map<string, string | undefined>();
    const store = new DynamoDbImageRecordStore(documents, name);
    return {
      records: new DynamoDbLifecycleImageRecords(documents, name, () => Promise.resolve(servers)),
      commit: async (record, serverId) => {
        servers.set(record.volumeId, serverId);
        await store.putImageRecord(record);
      },
    };
  },
  MOTO_RUNS,
);

lifecycleObjectStoreContract(
  'in-memory',
  () => Promise.resolve(new MemoryBucket(new ManualClock(0))),
  FAKE_RUNS,
);

let s3: S3Client | undefined;
lifecycleObjectStoreContract(
  'S3 (moto)',
  async () => {
    if (s3 === undefined) {
      const client = new S3Client({ ...local.clientConfig({ maxAttempts: 3 }), forcePathStyle: true });
      destroy.push(() => client.destroy());
      s3 = client;
    }
    made += 1;
    const bucket = `rbp-lifecycle-contract-${made}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    return new S3LifecycleObjectStore(s3, bucket);
  },
  MOTO_RUNS,
);

gcCoordinationContract('in-memory', () => Promise.resolve(new MemoryGcCoordination()), FAKE_RUNS);

gcCoordinationContract(
  'DynamoDB (moto)',
  async () => {
    const { documents, name } = await freshTable('gc-coordination');
    return new DynamoDbGcCoordination(documents, name);
  },
  MOTO_RUNS,
);

retentionRuleStoreContract('in-memory', () => Promise.resolve(new MemoryRetentionRules()));

retentionRuleStoreContract('DynamoDB (moto)', async () => {
  const { documents, name } = await freshTable('retention-rules');
  return new DynamoDbRetentionRuleStore(documents, name);
});

scrubCursorStoreContract('in-memory', () => Promise.resolve(new MemoryScrubCursor()), FAKE_RUNS);

scrubCursorStoreContract(
  'DynamoDB (moto)',
  async () => {
    const { documents, name } = await freshTable('scrub-cursor');
    return new DynamoDbScrubCursor(documents, name);
  },
  MOTO_RUNS,
);

chunkQuarantineContract('in-memory', () => Promise.resolve(new MemoryChunkQuarantine()), FAKE_RUNS);

chunkQuarantineContract(
  'DynamoDB (moto)',
  async () => {
    const { documents, name } = await freshTable('chunk-quarantine');
    return new DynamoDbChunkQuarantine(documents, name);
  },
  MOTO_RUNS,
);

/** Every image of the liveness contract is committed at one instant: liveness reads no time. */
const COMMITTED_AT = '2026-04-01T00:00:00.000Z';

imageLivenessContract(
  'lifecycleRecordsLiveness (in-memory)',
  () => {
    const records = new MemoryLifecycleRecords();
    return Promise.resolve({
      liveness: lifecycleRecordsLiveness(records),
      commit: ({ volumeId, imageId }) =>
        Promise.resolve(records.put(listedImage(fullImageRecord(volumeId, imageId, COMMITTED_AT)))),
      markDeleting: async ({ volumeId, imageId }) => {
        await records.markDeleting(volumeId, imageId);
      },
      deleteRecord: ({ volumeId, imageId }) => records.deleteImage(volumeId, imageId),
    });
  },
  true,
);

imageLivenessContract(
  'recordsLiveness (the recovery-point tests)',
  () => {
    const records = new MemoryImageRecordStore();
    return Promise.resolve({
      liveness: recordsLiveness(records),
      commit: async ({ volumeId, imageId }) => {
        await records.putImageRecord(fullImageRecord(volumeId, imageId, COMMITTED_AT));
      },
      markDeleting: () => Promise.resolve(),
      deleteRecord: ({ volumeId, imageId }) => {
        records.records.delete(`${volumeId}/${imageId}`);
        return Promise.resolve();
      },
    });
  },
  false,
);

imageLivenessContract(
  'DynamoDbImageRecordStore (moto)',
  async () => {
    const { documents, name } = await freshTable('image-liveness');
    const store = new DynamoDbImageRecordStore(documents, name);
    const lifecycle = new DynamoDbLifecycleImageRecords(documents, name);
    return {
      liveness: store,
      commit: async ({ volumeId, imageId }) => {
        await store.putImageRecord(fullImageRecord(volumeId, imageId, COMMITTED_AT));
      },
      markDeleting: async ({ volumeId, imageId }) => {
        await lifecycle.markDeleting(volumeId, imageId);
      },
      deleteRecord: ({ volumeId, imageId }) => lifecycle.deleteImage(volumeId, imageId),
    };
  },
  true,
);

catalogPruningContract('MemoryCatalogPruning (in-memory)', () => {
  const catalog = new MemoryCatalogStore();
  return Promise.resolve({ catalog, pruning: new MemoryCatalogPruning(catalog) });
});

catalogPruningContract('DynamoDbLifecycleCatalog (moto)', async () => {
  const { documents, name } = await freshTable('catalog-pruning');
  return {
    catalog: new DynamoDbCatalogStore(documents, name),
    pruning: new DynamoDbLifecycleCatalog(documents, name),
  };
});
