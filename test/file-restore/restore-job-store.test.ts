import { afterAll } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { fileRestoreJobs } from '../../lambdas/core/file-restore/restore-jobs.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { MemoryRestoreJobs } from './memory-restore.ts';
import { restoreJobStoreContract } from './restore-job-store.contract.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient | undefined;
afterAll(() => client?.destroy());

restoreJobStoreContract('in-memory', () => Promise.resolve(new MemoryRestoreJobs()));
restoreJobStoreContract('DynamoDB (moto)', async () => {
  client = await createCatalogTable(local.clientConfig(), 'restore-jobs');
  return fileRestoreJobs(new DynamoDbJobStore(client, 'restore-jobs'));
});
