/** The CatalogStore contract against the DynamoDB adapter on moto, through the local gateway. */
import { afterAll } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbCatalogStore } from '../../lambdas/aws/dynamodb-catalog.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { catalogStoreContract } from './catalog-store.contract.ts';
import { createCatalogTable } from './local-catalog-table.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient | undefined;
let tables = 0;

afterAll(() => client?.destroy());

catalogStoreContract('DynamoDB (moto)', async () => {
  tables += 1;
  const table = `catalog-contract-${tables}`;
  client = await createCatalogTable(local.clientConfig(), table);
  return new DynamoDbCatalogStore(client, table);
});
