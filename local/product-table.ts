/**
 * The product's single DynamoDB table as the local stack creates it: the same keys and indexes as
 * the CDK construct (lib/constructs/backup-storage.ts), so local code and tests see AWS's layout.
 */
import { CreateTableCommand, DescribeTableCommand, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import type { CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NAME_SEARCH_ATTRIBUTES } from '../lambdas/core/catalog/catalog-keys.ts';
import { sdkErrorName } from '../lambdas/aws/sdk-errors.ts';

const STRING_KEYS = ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'volumeId', 'name'] as const;

function index(name: string, hash: string, range: string) {
  return {
    IndexName: name,
    KeySchema: [
      { AttributeName: hash, KeyType: 'HASH' as const },
      { AttributeName: range, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  };
}

export function productTableDefinition(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: STRING_KEYS.map((name) => ({ AttributeName: name, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      index('GSI1', 'gsi1pk', 'gsi1sk'),
      index('GSI2', 'gsi2pk', 'gsi2sk'),
      // The name-search index (docs/catalog.md): every version item by volume and name.
      {
        ...index('GSI3', 'volumeId', 'name'),
        Projection: { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...NAME_SEARCH_ATTRIBUTES] },
      },
    ],
  };
}

/**
 * Creates the table; an existing table of that name keeps its items and gets the indexes it lacks
 * (a state directory from before GSI3 was added: UpdateTable creates one index per call, as
 * DynamoDB allows, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateTable.html).
 */
export async function createProductTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const definition = productTableDefinition(tableName);
  const created = await client.send(new CreateTableCommand(definition)).then(
    () => true,
    (error: unknown) => {
      if (sdkErrorName(error) !== 'ResourceInUseException') throw error;
      return false;
    },
  );
  if (created) return;
  const existing = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const have = new Set((existing.Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of definition.GlobalSecondaryIndexes ?? []) {
    if (have.has(index.IndexName)) continue;
    const keys = new Set(index.KeySchema?.map((key) => key.AttributeName));
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: definition.AttributeDefinitions?.filter((a) => keys.has(a.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: index }],
      }),
    );
  }
}
