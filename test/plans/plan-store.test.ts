import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, expect, it } from 'vitest';
import {
  DynamoDbPlanStore,
  DynamoDbSettingsStore,
  PLAN_PARTITION,
} from '../../lambdas/aws/dynamodb-plan-store.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { MemoryPlanStore, MemorySettingsStore } from './memory-plan-store.ts';
import { planRecord, planStoreContract, settingsStoreContract } from './plan-store.contract.ts';

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

/** A fresh product table per store, so every contract test starts empty. */
async function freshTable(): Promise<{ client: DynamoDBDocumentClient; table: string }> {
  const table = `plans-${clients.length}`;
  const client = await createCatalogTable(local.clientConfig(), table);
  clients.push(client);
  return { client, table };
}

planStoreContract('in-memory', () => Promise.resolve(new MemoryPlanStore()));
planStoreContract('DynamoDB (moto)', async () => {
  const { client, table } = await freshTable();
  return new DynamoDbPlanStore(client, table);
});
settingsStoreContract('in-memory', () => Promise.resolve(new MemorySettingsStore()));
settingsStoreContract('DynamoDB (moto)', async () => {
  const { client, table } = await freshTable();
  return new DynamoDbSettingsStore(client, table);
});

it('the DynamoDB item: pk PLAN#, sk the name, the revision beside the record JSON', async () => {
  const { client, table } = await freshTable();
  await new DynamoDbPlanStore(client, table).create(planRecord('nightly'));
  const item = (
    await client.send(new GetCommand({ TableName: table, Key: { pk: PLAN_PARTITION, sk: 'nightly' } }))
  ).Item as Record<string, unknown>;
  expect({ entity: item.entity, version: item.version, revision: item.revision }).toEqual({
    entity: 'plan',
    version: 1,
    revision: 1,
  });
  expect(JSON.parse(String(item.plan))).toEqual(planRecord('nightly'));
});

/** A valid plan record of about `kib` KiB: activities listing 400 120-character server names each. */
function bigPlan(name: string, kib: number) {
  const record = planRecord(name);
  const servers = Array.from({ length: Math.ceil((kib * 1024) / 123) }, (_, i) =>
    String(i).padStart(6, '0').padEnd(120, 'x'),
  );
  const activities = [];
  for (let i = 0; i < servers.length; i += 400) {
    activities.push({ ...record.document.activities[0]!, servers: servers.slice(i, i + 400) });
  }
  return { ...record, document: { ...record.document, activities } };
}

it('a plan list over several Query pages (DynamoDB answers at most 1 MB per page) comes back complete and in order', async () => {
  const { client, table } = await freshTable();
  let queries = 0;
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'QueryCommand') queries += 1;
      return next(args);
    },
    { step: 'initialize' },
  );
  const store = new DynamoDbPlanStore(client, table);
  const names = Array.from({ length: 30 }, (_, i) => `plan-${String(i).padStart(3, '0')}`);
  for (const name of names.slice().reverse()) await store.create(bigPlan(name, 90));
  const listed = await store.list();
  expect(listed.map((r) => r.name)).toEqual(names);
  expect(listed[7]).toEqual(bigPlan('plan-007', 90));
  expect(queries).toBe(3);
});

it('a plan too large for one DynamoDB item is refused before any write, with its size', async () => {
  const { client, table } = await freshTable();
  const store = new DynamoDbPlanStore(client, table);
  const record = bigPlan('huge', 400);
  const bytes = Buffer.byteLength(JSON.stringify(record));
  await expect(store.create(record)).rejects.toThrow(
    `plan huge is ${bytes} bytes as stored; at most 390000 fit (split it into smaller plans)`,
  );
  expect(await store.list()).toEqual([]);
});
