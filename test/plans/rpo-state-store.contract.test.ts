/** The RPO state store contract (test/contracts/rpo-state-store.contract.ts) on the fake and on moto. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll } from 'vitest';
import { DynamoDbRpoStateStore } from '../../lambdas/aws/plan-rpo-adapters.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { rpoStateStoreContract } from '../contracts/rpo-state-store.contract.ts';
import { MemoryRpoStateStore } from '../fakes/memory-rpo-state.ts';
import { useLocalStack } from '../support/local-stack.ts';

/** Property runs on moto: each makes a table, so a few keep the file under a minute. */
const MOTO_PROPERTY_RUNS = 8;

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

rpoStateStoreContract('in-memory', () => Promise.resolve(new MemoryRpoStateStore()), 100);
rpoStateStoreContract(
  'DynamoDB (moto)',
  async () => {
    const table = `rpo-state-${clients.length}`;
    clients.push(await createCatalogTable(local.clientConfig(), table));
    return new DynamoDbRpoStateStore(clients.at(-1)!, table);
  },
  MOTO_PROPERTY_RUNS,
);
