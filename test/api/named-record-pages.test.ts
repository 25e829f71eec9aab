/**
 * Listings of plans, workflows and a plan's runs page in their store (issue 12): the contract of
 * pageOfNamedRecords on the in-memory store (its list paged by name) and on DynamoDB (moto, one
 * Query a page), the runs of a plan page by page, and GET /plans through the API handler: one page
 * costs one Query whatever the number of plans, and following the cursor lists every plan once,
 * in name order.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbNamedRecords } from '../../lambdas/aws/dynamodb-named-records.ts';
import { DynamoDbPlanRunStore, DynamoDbPlanStore } from '../../lambdas/aws/dynamodb-plan-store.ts';
import { createPlanApiDeps } from '../../lambdas/aws/plan-wiring.ts';
import { WORKFLOW_RECORDS } from '../../lambdas/aws/workflow-wiring.ts';
import type { StorePage } from '../../lambdas/core/api/api-ports.ts';
import { pageOfNamedRecords, type NamedRecordListing } from '../../lambdas/core/api/pagination.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { PlanRun } from '../../lambdas/core/plans/plan-run.ts';
import { newPlanRun } from '../../lambdas/core/plans/run-engine.ts';
import type { NamedRecord, NamedRecordStore } from '../../lambdas/core/store/named-records.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { NIGHTLY_QA } from '../plans/plan-fixtures.ts';
import { planRecord } from '../plans/plan-store.contract.ts';
import { countedQueries } from '../support/counted-queries.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { workflowRecord } from '../workflows/workflow-fixtures.ts';
import { answerOf, proxyEvent } from './api-events.ts';

type Store<R extends NamedRecord> = NamedRecordStore<R> & NamedRecordListing<R>;

/** Names (letters and digits, as workflows allow) in UTF-8 byte order: digits, then upper, then lower case. */
const NAMES = ['0first', 'Aplan', 'Zplan', 'aplan', 'aplan2', 'b', 'zlast'];

/** Every page of the store at `limit`, following the tokens. */
async function allPages<R extends { readonly name: string }>(
  store: NamedRecordListing<R>,
  limit: number,
): Promise<StorePage<R>[]> {
  const pages: StorePage<R>[] = [];
  let pageToken: string | undefined;
  do {
    const page = await pageOfNamedRecords(store, pageToken === undefined ? { limit } : { limit, pageToken });
    pages.push(page);
    pageToken = page.nextToken;
    if (pages.length > 20) throw new Error('the pages do not end');
  } while (pageToken !== undefined);
  return pages;
}

function namedRecordPagesContract<R extends NamedRecord>(
  label: string,
  make: () => Promise<Store<R>>,
  recordOf: (name: string) => R,
): void {
  describe(`named-record pages: ${label}`, () => {
    it('an empty store is one empty page', async () => {
      const store = await make();
      expect(await pageOfNamedRecords(store, { limit: 3 })).toEqual({ items: [] });
    });

    it('pages of 3 list every record once, in UTF-8 name order, each page full but the last', async () => {
      const store = await make();
      for (const name of [...NAMES].reverse()) await store.create(recordOf(name));
      const pages = await allPages(store, 3);
      expect(pages.map((p) => p.items.map((r) => r.name))).toEqual([
        ['0first', 'Aplan', 'Zplan'],
        ['aplan', 'aplan2', 'b'],
        ['zlast'],
      ]);
      expect(pages.map((p) => p.nextToken)).toEqual(['Zplan', 'b', undefined]);
      expect(pages[1]!.items[1]).toEqual(recordOf('aplan2'));
      // A page as large as the store has no next token.
      const whole = await pageOfNamedRecords(store, { limit: NAMES.length + 1 });
      expect(whole).toEqual({ items: await store.list() });
    });

    it('a token whose record was deleted meanwhile still starts right after it', async () => {
      const store = await make();
      for (const name of NAMES) await store.create(recordOf(name));
      const first = await pageOfNamedRecords(store, { limit: 2 });
      expect(first.nextToken).toBe('Aplan');
      await store.delete('Aplan', 1);
      await store.create(recordOf('Bnew'));
      const second = await pageOfNamedRecords(store, { limit: 2, pageToken: first.nextToken! });
      expect(second.items.map((r) => r.name)).toEqual(['Bnew', 'Zplan']);
    });
  });
}

namedRecordPagesContract(
  'in-memory (a store that only lists)',
  () => Promise.resolve(new MemoryNamedRecords<ReturnType<typeof workflowRecord>>('workflow')),
  (name) => workflowRecord(name),
);

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
const others: { destroy(): void }[] = [];
afterAll(() => [...clients, ...others].forEach((c) => c.destroy()));

/** A fresh table, and a count of the Query requests sent on its client. */
async function countedTable(): Promise<{
  client: DynamoDBDocumentClient;
  table: string;
  queries: () => number;
}> {
  const table = `named-pages-${clients.length}`;
  const client = await createCatalogTable(local.clientConfig(), table);
  clients.push(client);
  return { client, table, queries: countedQueries(client).queries };
}

namedRecordPagesContract(
  'workflows on DynamoDB (moto)',
  async () => {
    const { client, table } = await countedTable();
    return new DynamoDbNamedRecords(client, table, WORKFLOW_RECORDS);
  },
  (name) => workflowRecord(name),
);
namedRecordPagesContract(
  'plans on DynamoDB (moto)',
  async () => {
    const { client, table } = await countedTable();
    return new DynamoDbPlanStore(client, table);
  },
  (name) => planRecord(name),
);

const planName = (i: number): string => `plan-${String(i).padStart(3, '0')}`;

describe('GET /plans through the API handler on DynamoDB (moto)', () => {
  it.each([12, 60])(
    'with %i plans, a page of 5 is one Query; the cursor lists every plan once',
    async (count) => {
      const { client, table, queries } = await countedTable();
      const store = new DynamoDbPlanStore(client, table);
      for (let i = count - 1; i >= 0; i -= 1) await store.create(planRecord(planName(i)));
      const ec2 = new EC2Client(local.clientConfig());
      const scheduler = new SchedulerClient(local.clientConfig());
      const sfn = new SFNClient(local.clientConfig());
      others.push(ec2, scheduler, sfn);
      const api = memoryApi();
      const plans = createPlanApiDeps(
        {
          tableName: table,
          groupName: 'rbp-plans',
          stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:rbp-plan-run',
          roleArn: 'arn:aws:iam::123456789012:role/rbp-plan-scheduler',
        },
        { documents: client, ec2, scheduler, sfn },
        api.clock,
      );
      const handler = createApiHandler({ ...api.deps, plans }, () => undefined);
      const get = async (query: Record<string, string>) =>
        answerOf(await handler(proxyEvent({ method: 'GET', path: '/plans', query })));

      const before = queries();
      const first = await get({ limit: '5' });
      expect(first.status).toBe(200);
      expect(queries() - before).toBe(1);
      const body = first.body as { items: { name: string }[]; nextCursor?: string };
      expect(body.items.map((p) => p.name)).toEqual([0, 1, 2, 3, 4].map(planName));

      const names = [...body.items.map((p) => p.name)];
      let cursor = body.nextCursor;
      while (cursor !== undefined) {
        const page = await get({ limit: '5', cursor });
        expect(page.status).toBe(200);
        const next = page.body as { items: { name: string }[]; nextCursor?: string };
        names.push(...next.items.map((p) => p.name));
        cursor = next.nextCursor;
      }
      expect(names).toEqual(Array.from({ length: count }, (_, i) => planName(i)));
      // Every page one Query (the last may be empty when the count is a multiple of the limit).
      expect(queries() - before).toBeLessThanOrEqual(Math.floor(count / 5) + 1);

      // A cursor of another listing is refused.
      const wrong = await get({
        limit: '5',
        cursor: api.deps.cursors.encode('["listWorkflows",[]]', { token: 'x' }),
      });
      expect(wrong.status).toBe(400);
      expect(wrong.body).toMatchObject({ message: 'invalid cursor: it belongs to a different query' });
    },
  );
});

describe("a plan's runs, a page at a time (DynamoDB on moto)", () => {
  it('pages of 4 of 10 runs: newest first, one Query each, together the whole list', async () => {
    const { client, table, queries } = await countedTable();
    const runs = new DynamoDbPlanRunStore(client, table);
    const plan = parsePlanDocument(NIGHTLY_QA);
    for (let i = 0; i < 10; i += 1) {
      await runs.createIfAbsent(
        newPlanRun({
          runId: `run-${i}`,
          plan,
          trigger: 'manual',
          startedAt: new Date(Date.UTC(2026, 2, 1, 0, i)),
        }),
      );
    }
    const pages: StorePage<PlanRun>[] = [];
    const before = queries();
    let pageToken: string | undefined;
    do {
      const page = await runs.pageForPlan(
        plan.name,
        pageToken === undefined ? { limit: 4 } : { limit: 4, pageToken },
      );
      pages.push(page);
      pageToken = page.nextToken;
    } while (pageToken !== undefined);
    expect(pages.map((p) => p.items.map((r) => r.runId))).toEqual([
      ['run-9', 'run-8', 'run-7', 'run-6'],
      ['run-5', 'run-4', 'run-3', 'run-2'],
      ['run-1', 'run-0'],
    ]);
    expect(queries() - before).toBe(3);
    expect(pages.flatMap((p) => p.items)).toEqual(await runs.listForPlan(plan.name));
  });
});
