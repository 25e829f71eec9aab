/**
 * The workflow-run store: its contract (workflow-run-store.contract.ts) on the in-memory fake and on
 * DynamoDB (moto); on DynamoDB, what a page and a start cost as the runs of other workflows grow,
 * and the runs written before the listing copies existed.
 */
import { DeleteCommand, GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbNamedRecords } from '../../lambdas/aws/dynamodb-named-records.ts';
import {
  DynamoDbWorkflowRuns,
  WORKFLOW_RUN_LISTING_BACKFILL_KEY,
  WORKFLOW_RUN_PARTITION,
  WORKFLOW_RUN_RECORDS,
} from '../../lambdas/aws/workflow-run-store.ts';
import { WORKFLOW_RECORDS } from '../../lambdas/aws/workflow-wiring.ts';
import type { WorkflowRunView } from '../../lambdas/core/workflows/workflow-run.ts';
import {
  plannedRun,
  runStateOf,
  type StartWorkflowRunPorts,
} from '../../lambdas/core/workflows/workflow-run-service.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent } from '../api/api-events.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { countedQueries } from '../support/counted-queries.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { MemoryWorkflowRuns } from './memory-workflow-runs.ts';
import { workflowWorld } from './memory-workflow-world.ts';
import { workflowRecord } from './workflow-fixtures.ts';
import { nthRunId, pagesOf, storedRun, workflowRunStoreContract } from './workflow-run-store.contract.ts';

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

async function freshTable(): Promise<{ documents: DynamoDBDocumentClient; table: string }> {
  const table = `workflow-runs-${clients.length}`;
  const documents = await createCatalogTable(local.clientConfig(), table);
  clients.push(documents);
  return { documents, table };
}

workflowRunStoreContract('in-memory', () => Promise.resolve(new MemoryWorkflowRuns()));
workflowRunStoreContract('DynamoDB (moto)', async () => {
  const { documents, table } = await freshTable();
  return new DynamoDbWorkflowRuns(documents, table);
});

/** Runs of other workflows, numbered from `from`, `count` of them, spread over 7 workflows. */
async function otherRuns(store: DynamoDbWorkflowRuns, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n += 1) await store.create(storedRun(`team${n % 7}`, n));
}

describe('DynamoDB workflow runs (moto): what a page and a start read', () => {
  it('a page of 10 is one Query of 10 runs, and a start one Query, at 10 and at 500 runs of other workflows', async () => {
    const { documents, table } = await freshTable();
    const store = new DynamoDbWorkflowRuns(documents, table);
    // 25 runs of qaclone, the newest the current one, among the others' runs.
    for (let n = 1; n <= 25; n += 1) await store.create(storedRun('qaclone', 1_000 + n));
    const world = workflowWorld(1);
    await world.workflows.create(workflowRecord('qaclone'));
    const ports = { ...world.ports(), runs: store };
    expect(await store.backfillListing()).toBe(0);
    const counts = countedQueries(documents);
    const measured: Record<string, number>[] = [];
    for (const [from, count] of [
      [1, 10],
      [11, 490],
    ] as const) {
      await otherRuns(store, from, count);
      const before = { queries: counts.queries(), scanned: counts.scanned() };
      const pages = await pagesOf(store, 'qaclone', 10);
      const paged = { queries: counts.queries(), scanned: counts.scanned() };
      const planned = await plannedRun(ports, nthRunId(9_000 + from), 'qaclone', 'run', 'api');
      measured.push({
        others: from + count - 1,
        pages: pages.length,
        pageQueries: paged.queries - before.queries,
        pageScanned: paged.scanned - before.scanned,
        startQueries: counts.queries() - paged.queries,
        startScanned: counts.scanned() - paged.scanned,
      });
      expect(pages.map((p) => p.length)).toEqual([10, 10, 5]);
      expect(pages[0]![0]).toBe(nthRunId(1_025));
      expect(planned.replacesRunId).toBe(nthRunId(1_025));
    }
    expect(measured).toEqual(
      [10, 500].map((others) => ({
        others,
        pages: 3,
        pageQueries: 3,
        pageScanned: 25,
        startQueries: 1,
        startScanned: 10,
      })),
    );
  }, 120_000);

  it('a start reads past its first page only as far as the current run', async () => {
    const { documents, table } = await freshTable();
    const store = new DynamoDbWorkflowRuns(documents, table);
    const current = storedRun('qaclone', 1);
    await store.create(current);
    // 14 failed runs since, which made no clone and replaced nothing, each naming the current one.
    for (let n = 2; n <= 15; n += 1) {
      await store.create(
        storedRun('qaclone', n, { status: 'Failed', volumes: [], replacesRunId: current.runId }),
      );
    }
    await otherRuns(store, 100, 50);
    await store.backfillListing();
    const counts = countedQueries(documents);
    expect(await runStateOf({ runs: store }, 'qaclone')).toEqual({ current });
    expect({ queries: counts.queries(), scanned: counts.scanned() }).toEqual({ queries: 2, scanned: 15 });
  }, 60_000);
});

describe('DynamoDB workflow runs (moto): runs written before the listing copies', () => {
  it('are listed after a once-per-table backfill; a start sees their running and current run', async () => {
    const { documents, table } = await freshTable();
    // What the store wrote before: the record alone (pk WORKFLOW-RUN#, no layout, no copy).
    const earlier = new DynamoDbNamedRecords(documents, table, WORKFLOW_RUN_RECORDS);
    const mine = [1, 3, 5].map((n) => storedRun('qaclone', n));
    const running = storedRun('qamount', 4, {
      status: 'Running',
      phase: 'Restore',
      replacesRunId: nthRunId(2),
    });
    for (const run of [...mine, storedRun('qamount', 2), running]) await earlier.create(run);
    const store = new DynamoDbWorkflowRuns(documents, table);
    expect(await pagesOf(store, 'qaclone', 2)).toEqual([[nthRunId(5), nthRunId(3)], [nthRunId(1)]]);
    expect(await store.get(nthRunId(5))).toEqual(mine[2]);
    expect(await runStateOf({ runs: store }, 'qamount')).toEqual({ running });
    expect(await runStateOf({ runs: store }, 'qaclone')).toEqual({ current: mine[2] });
    // The marker says done: another container pays one GetItem for it, and no backfill Query.
    const again = new DynamoDbWorkflowRuns(documents, table);
    const counts = countedQueries(documents);
    expect(await again.backfillListing()).toBe(0);
    expect(counts.queries()).toBe(0);
    expect(await again.pageOfWorkflow('qaclone', { limit: 1 })).toMatchObject({ items: [mine[2]] });
    expect(counts.queries()).toBe(1);
    // A run written after (the new layout) replaces an earlier one's copy as one transaction.
    await store.replace({ ...running, revision: 2, status: 'Succeeded', phase: 'Finished' }, 1);
    expect(await runStateOf({ runs: again }, 'qamount')).toEqual({
      current: { ...running, revision: 2, status: 'Succeeded', phase: 'Finished' },
    });
  }, 60_000);

  it('a backfill copies each earlier record once, gives a record deleted meanwhile no copy, and copies one rewritten meanwhile as it is now', async () => {
    const { documents, table } = await freshTable();
    const earlier = new DynamoDbNamedRecords(documents, table, WORKFLOW_RUN_RECORDS);
    const deleted = storedRun('qaclone', 1, { status: 'Running', phase: 'Restore' });
    const rewritten = storedRun('qaclone', 2, { status: 'Running', phase: 'Restore' });
    const plain = storedRun('qaclone', 3);
    for (const run of [deleted, rewritten, plain]) await earlier.create(run);
    const finished = { ...rewritten, revision: 2, status: 'Succeeded', phase: 'Finished' } as const;
    // Between the backfill's Query and its first two transactions: the first record is deleted, the
    // second rewritten by a writer of the earlier layout.
    let transactions = 0;
    documents.middlewareStack.add(
      (next, context) => async (args) => {
        if (
          context.commandName === 'TransactWriteItemsCommand' ||
          context.commandName === 'TransactWriteCommand'
        ) {
          transactions += 1;
          if (transactions === 1) {
            await documents.send(
              new DeleteCommand({ TableName: table, Key: { pk: WORKFLOW_RUN_PARTITION, sk: deleted.runId } }),
            );
          }
          if (transactions === 2) await earlier.replace(finished, 1);
        }
        return next(args);
      },
      { step: 'initialize', name: 'interleavedWriters' },
    );
    const store = new DynamoDbWorkflowRuns(documents, table);
    expect(await store.backfillListing()).toBe(2);
    documents.middlewareStack.remove('interleavedWriters');
    // Deleted: no copy, so no ghost Running run blocks the workflow. Rewritten: its copy is the new revision.
    expect((await store.pageOfWorkflow('qaclone', { limit: 10 })).items).toEqual([plain, finished]);
    expect(transactions).toBe(4);
    const marker = await documents.send(
      new GetCommand({ TableName: table, Key: WORKFLOW_RUN_LISTING_BACKFILL_KEY }),
    );
    expect(marker.Item).toEqual({
      ...WORKFLOW_RUN_LISTING_BACKFILL_KEY,
      entity: 'workflow-run-listing-backfill',
      done: true,
    });
  }, 60_000);
});

describe('DynamoDB workflow runs (moto): a backfill cut short', () => {
  it('resumes after the last page it finished: each earlier record is copied once', async () => {
    const { documents, table } = await freshTable();
    const earlier = new DynamoDbNamedRecords(documents, table, WORKFLOW_RUN_RECORDS);
    for (let n = 1; n <= 150; n += 1) await earlier.create(storedRun(`team${n % 3}`, n));
    let transactions = 0;
    let backfillQueries = 0;
    documents.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'TransactWriteItemsCommand') transactions += 1;
        const input = args.input as { ExpressionAttributeValues?: Record<string, unknown> };
        if (context.commandName === 'QueryCommand' && JSON.stringify(input).includes('#layout')) {
          backfillQueries += 1;
          if (backfillQueries === 2) throw new Error('injected: the function timed out');
        }
        return next(args);
      },
      { step: 'initialize', name: 'cutShort' },
    );
    await expect(new DynamoDbWorkflowRuns(documents, table).backfillListing()).rejects.toThrow(
      'injected: the function timed out',
    );
    expect(transactions).toBe(100);
    expect(await new DynamoDbWorkflowRuns(documents, table).backfillListing()).toBe(50);
    documents.middlewareStack.remove('cutShort');
    expect(transactions).toBe(150);
    const store = new DynamoDbWorkflowRuns(documents, table);
    const listed = (await Promise.all([0, 1, 2].map((t) => pagesOf(store, `team${t}`, 100)))).flat(2);
    expect(listed.sort()).toEqual(Array.from({ length: 150 }, (_, i) => nthRunId(i + 1)).sort());
  }, 60_000);
});

describe('GET /workflows/{name}/runs over DynamoDB (moto)', () => {
  it('pages in the store: one Query a page, newest first, the cursor bound to the workflow', async () => {
    const { documents, table } = await freshTable();
    const store = new DynamoDbWorkflowRuns(documents, table);
    await new DynamoDbNamedRecords(documents, table, WORKFLOW_RECORDS).create(workflowRecord('qaclone'));
    await new DynamoDbNamedRecords(documents, table, WORKFLOW_RECORDS).create(workflowRecord('team1'));
    for (let n = 1; n <= 12; n += 1) await store.create(storedRun('qaclone', 1_000 + n));
    await otherRuns(store, 1, 500);
    const api = memoryApi();
    const workflowRuns: StartWorkflowRunPorts = {
      ...workflowWorld(1).ports(),
      workflows: new DynamoDbNamedRecords(documents, table, WORKFLOW_RECORDS),
      runs: store,
      executions: { start: () => Promise.resolve() },
      randomHex: () => '00ff',
    };
    const handler = createApiHandler({ ...api.deps, workflowRuns }, () => undefined);
    const get = async (path: string, query: Record<string, string>) =>
      answerOf(await handler(proxyEvent({ method: 'GET', path, query })));
    const counts = countedQueries(documents);
    // The first page ever read in the table: the backfill looks for records without a copy among
    // all 512 (LISTING_BACKFILL_PAGE_RECORDS a Query), once; then the page.
    await get('/workflows/qaclone/runs', { limit: '1' });
    expect({ queries: counts.queries(), scanned: counts.scanned() }).toEqual({ queries: 7, scanned: 513 });
    const pages: string[][] = [];
    const queries: number[] = [];
    let cursor: string | undefined;
    do {
      const before = counts.queries();
      const answer = await get('/workflows/qaclone/runs', {
        limit: '5',
        ...(cursor === undefined ? {} : { cursor }),
      });
      expect(answer.status).toBe(200);
      const body = answer.body as { items: WorkflowRunView[]; nextCursor?: string };
      pages.push(body.items.map((r) => r.runId));
      queries.push(counts.queries() - before);
      if (body.nextCursor !== undefined) {
        const elsewhere = await get('/workflows/team1/runs', { limit: '5', cursor: body.nextCursor });
        expect({ status: elsewhere.status, message: elsewhere.body.message }).toEqual({
          status: 400,
          message: 'invalid cursor: it belongs to a different query',
        });
      }
      cursor = body.nextCursor;
    } while (cursor !== undefined);
    const newestFirst = Array.from({ length: 12 }, (_, i) => nthRunId(1_012 - i));
    expect(pages).toEqual([newestFirst.slice(0, 5), newestFirst.slice(5, 10), newestFirst.slice(10)]);
    expect(queries).toEqual([1, 1, 1]);
  }, 120_000);
});
