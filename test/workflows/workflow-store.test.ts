/** The workflow store: the NamedRecordStore contract on the in-memory fake and on DynamoDB (moto). */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll } from 'vitest';
import { DynamoDbNamedRecords } from '../../lambdas/aws/dynamodb-named-records.ts';
import { WORKFLOW_RECORDS } from '../../lambdas/aws/workflow-wiring.ts';
import type { WorkflowRecord } from '../../lambdas/core/workflows/workflow-service.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { namedRecordStoreContract } from '../support/named-record-store.contract.ts';
import { workflowRecord } from './workflow-fixtures.ts';

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

const recordOf = (name: string, revision: number, variant: 0 | 1): WorkflowRecord =>
  workflowRecord(name, revision, variant === 0 ? 'web01' : 'db02');

namedRecordStoreContract(
  'in-memory',
  'workflow',
  () => Promise.resolve(new MemoryNamedRecords<WorkflowRecord>('workflow')),
  recordOf,
);
namedRecordStoreContract(
  'DynamoDB (moto)',
  'workflow',
  async () => {
    const table = `workflows-${clients.length}`;
    const client = await createCatalogTable(local.clientConfig(), table);
    clients.push(client);
    return new DynamoDbNamedRecords(client, table, WORKFLOW_RECORDS);
  },
  recordOf,
);
