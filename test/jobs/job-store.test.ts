import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, expect, it } from 'vitest';
import { DynamoDbJobStore, RESTORE_JOBS } from '../../lambdas/aws/dynamodb-job-store.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { FaultyJobStore, retrying } from '../fakes/faulty-job-store.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { jobRecord, jobStoreContract } from './job-store.contract.ts';

const local = useLocalStack();
let client: DynamoDBDocumentClient | undefined;
afterAll(() => client?.destroy());

/** A third of the requests fail retryably before reaching the store. */
const FAULT_RATE = 0.3;

jobStoreContract('in-memory', () => Promise.resolve(new MemoryJobStore()));
const faulty: FaultyJobStore[] = [];
jobStoreContract('in-memory behind injected faults, retried', () => {
  const store = new FaultyJobStore(new MemoryJobStore(), FAULT_RATE, faulty.length + 7);
  faulty.push(store);
  return Promise.resolve(retrying(store, fastRetry(7, 20)));
});
it('the faulty wrapper did inject faults', () => {
  const injected = faulty.reduce((sum, s) => sum + s.injected.throttles + s.injected.serverErrors, 0);
  expect(injected).toBeGreaterThan(0);
});
jobStoreContract('DynamoDB (moto)', async () => {
  client ??= await createCatalogTable(local.clientConfig(), 'jobs');
  return new DynamoDbJobStore(client, 'jobs');
});

it('the DynamoDB item carries the table TTL attribute `ttl`, the status, kind and record version', async () => {
  client ??= await createCatalogTable(local.clientConfig(), 'jobs');
  const store = new DynamoDbJobStore(client, 'jobs');
  await store.create(jobRecord('job-ttl', 'PENDING'));
  const item = (
    await client.send(
      new GetCommand({ TableName: 'jobs', Key: { pk: `${RESTORE_JOBS.prefix}job-ttl`, sk: 'JOB' } }),
    )
  ).Item as Record<string, unknown>;
  expect({ ttl: item.ttl, status: item.status, kind: item.kind, version: item.version }).toEqual({
    ttl: jobRecord('job-ttl', 'PENDING').expiresAtEpochSeconds,
    status: 'PENDING',
    kind: 'file-restore',
    version: 1,
  });
  expect(item.expiresAt).toBeUndefined();
});
