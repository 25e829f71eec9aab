/** The plan-run store contract (test/support/plan-run-store.contract.ts) on the fake and on moto. */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll } from 'vitest';
import { DynamoDbPlanRunStore } from '../../lambdas/aws/dynamodb-plan-store.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { MemoryPlanRuns } from '../fakes/memory-plan-runs.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { planRunStoreContract } from '../support/plan-run-store.contract.ts';

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

planRunStoreContract('in-memory', () => Promise.resolve(new MemoryPlanRuns()));
planRunStoreContract('DynamoDB (moto)', async () => {
  const table = `plan-runs-${clients.length}`;
  clients.push(await createCatalogTable(local.clientConfig(), table));
  return new DynamoDbPlanRunStore(clients.at(-1)!, table);
});
