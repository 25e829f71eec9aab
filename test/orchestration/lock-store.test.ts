import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll } from 'vitest';
import { DynamoDbBackupLockStore } from '../../lambdas/aws/dynamodb-backup-lock.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { InMemoryLockStore } from './in-memory-lock-store.ts';
import { lockStoreContract } from './lock-store.contract.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient | undefined;
afterAll(() => client?.destroy());

lockStoreContract('in-memory', (clock) => Promise.resolve(new InMemoryLockStore(() => clock.now)), 'm');
lockStoreContract(
  'DynamoDB (moto)',
  async (clock) => {
    client ??= await createCatalogTable(local.clientConfig(), 'locks');
    return new DynamoDbBackupLockStore(client, 'locks', { now: () => clock.now });
  },
  'd',
);
