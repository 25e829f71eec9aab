/** Creates the product table (the local stack's copy of the CDK layout) on the local stack's moto. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createProductTable } from '../../local/product-table.ts';
import type { LocalClientConfig } from '../support/local-stack.ts';

export async function createCatalogTable(
  config: LocalClientConfig,
  table: string,
): Promise<DynamoDBDocumentClient> {
  const client = new DynamoDBClient({ ...config, maxAttempts: 3 });
  await createProductTable(client, table);
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}
