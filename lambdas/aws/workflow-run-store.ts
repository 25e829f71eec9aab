/**
 * The workflow-run store (core/workflows/workflow-run.ts WorkflowRunStore) in the product table:
 * this comment is where its key layout is written down. Each run is two items, always written together in one
 * TransactWriteItems, which succeeds or fails as a whole
 * (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html):
 *
 * - the record, `pk = WORKFLOW-RUN#`, `sk = <runId>`, as before: `GET /workflow-runs/{runId}` and
 *   the run state machine read a run by its id with one GetItem; it carries `layout = 2`;
 * - its listing copy, `pk = WORKFLOW-RUNS#<workflow>`, `sk = <runId>`, the same JSON and revision:
 *   a workflow's runs are one partition ordered by run id, which is time-ordered as text, so one
 *   Query with ScanIndexForward false reads a page of them newest first
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.html).
 *
 * Records written before the listing copies existed (no `layout`) get theirs once per table, before
 * the first read of a workflow's runs (backfillListing); the record format (version 1) is unchanged.
 *
 * A start (createStarted) writes a third item in the same transaction: the workflow's start
 * position, `pk = WORKFLOW-START#<workflow>`, `sk = LAST`, `runId` = the run it started, on
 * condition that it still holds the run id the start read before its checks (or is absent when it
 * read none). Of two starts that passed the checks at the same time, the second's condition fails.
 */
import {
  GetCommand,
  PutCommand,
  type DynamoDBDocumentClient,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { PageRequest, StorePage } from '../core/api/api-ports.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { namedRecordMessages } from '../core/store/named-records.ts';
import {
  alreadyRunningError,
  workflowRunSchema,
  type WorkflowRun,
  type WorkflowRunStore,
} from '../core/workflows/workflow-run.ts';
import {
  DynamoDbNamedRecords,
  MAX_NAMED_RECORD_BYTES,
  namedRecordItem,
  parseStoredJson,
  type NamedRecordKind,
} from './dynamodb-named-records.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { transactWrite, type FailedConditions } from './dynamodb-transactions.ts';
import { callSdk } from './sdk-errors.ts';

/** The partition of every workflow-run record (sort key = the run id, time-ordered). */
export const WORKFLOW_RUN_PARTITION = 'WORKFLOW-RUN#';
/** The partition of one workflow's listing copies: `WORKFLOW-RUNS#<workflow>` (sort key = the run id). */
export const WORKFLOW_RUNS_PARTITION_PREFIX = 'WORKFLOW-RUNS#';
/** The partition of one workflow's start position: `WORKFLOW-START#<workflow>` (sort key LAST). */
export const WORKFLOW_START_PARTITION_PREFIX = 'WORKFLOW-START#';
/** The key prefixes the functions' table policies allow for workflow runs (`dynamodb:LeadingKeys`). */
export const WORKFLOW_RUN_TABLE_KEYS = [
  `${WORKFLOW_RUN_PARTITION}*`,
  `${WORKFLOW_RUNS_PARTITION_PREFIX}*`,
  `${WORKFLOW_START_PARTITION_PREFIX}*`,
] as const;
/** The `layout` of a record written with its listing copy; records without one were written before. */
export const WORKFLOW_RUN_KEY_LAYOUT = 2;
/**
 * Where the listing backfill keeps its position (`next`: the Query's LastEvaluatedKey) until it is
 * `done`. Its partition is no workflow's: a workflow name has at least one character.
 */
export const WORKFLOW_RUN_LISTING_BACKFILL_KEY = {
  pk: WORKFLOW_RUNS_PARTITION_PREFIX,
  sk: 'LISTING-BACKFILL',
};
/**
 * Records one backfill Query examines: its listing copies are written (one small transaction each)
 * and the position saved after every page, so a backfill cut short resumes close to where it stopped.
 */
export const LISTING_BACKFILL_PAGE_RECORDS = 100;
/**
 * Copies of one earlier record tried before it is left without one: each retry follows a rewrite
 * of the record by a writer of the earlier layout, which happens only while a deployment replaces
 * the functions.
 */
export const LISTING_BACKFILL_COPY_ATTEMPTS = 3;

const KIND = 'workflow run';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export const WORKFLOW_RUN_RECORDS: NamedRecordKind<WorkflowRun> = {
  kind: KIND,
  partition: WORKFLOW_RUN_PARTITION,
  attribute: 'run',
  schema: workflowRunSchema,
  tooLargeAdvice: 'name fewer volumes',
};

function listingKey(run: Pick<WorkflowRun, 'workflow' | 'runId'>): Record<string, string> {
  return { pk: `${WORKFLOW_RUNS_PARTITION_PREFIX}${run.workflow}`, sk: run.runId };
}

function recordKey(runId: string): Record<string, string> {
  return { pk: WORKFLOW_RUN_PARTITION, sk: runId };
}

function startKey(workflow: string): Record<string, string> {
  return { pk: `${WORKFLOW_START_PARTITION_PREFIX}${workflow}`, sk: 'LAST' };
}

/** The listing copy of a run: the record's JSON and revision under the workflow's key. */
function listingItem(run: WorkflowRun): Record<string, string | number> {
  return {
    ...listingKey(run),
    entity: 'workflow run listing',
    version: run.formatVersion,
    revision: run.revision,
    run: JSON.stringify(run),
  };
}

export class DynamoDbWorkflowRuns implements WorkflowRunStore {
  private readonly records: DynamoDbNamedRecords<WorkflowRun>;
  private listingBackfilled = false;

  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {
    this.records = new DynamoDbNamedRecords(documents, tableName, WORKFLOW_RUN_RECORDS);
  }

  get(runId: string): Promise<WorkflowRun | undefined> {
    return this.records.get(runId);
  }

  /** Every run of every workflow, by run id (the record partition; for tests and tools). */
  list(): Promise<readonly WorkflowRun[]> {
    return this.records.list();
  }

  async create(run: WorkflowRun): Promise<void> {
    const written = await this.write(run, 'attribute_not_exists(pk)', {});
    if (!written) {
      throw new ConflictError(namedRecordMessages.exists(KIND, run.name), { context: { runId: run.name } });
    }
  }

  async lastStart(workflow: string): Promise<string | undefined> {
    const position = await callSdk('GetItem (workflow start position)', { workflow }, () =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: startKey(workflow), ConsistentRead: true }),
      ),
    );
    const runId: unknown = position.Item?.runId;
    return typeof runId === 'string' ? runId : undefined;
  }

  async createStarted(run: WorkflowRun, lastStart: string | undefined): Promise<void> {
    const moved = { record: false, position: false };
    const written = await this.write(
      run,
      'attribute_not_exists(pk)',
      {},
      {
        Put: {
          TableName: this.tableName,
          Item: { ...startKey(run.workflow), entity: 'workflow start position', runId: run.runId },
          ...(lastStart === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: 'runId = :lastStart',
                ExpressionAttributeValues: { ':lastStart': lastStart },
              }),
        },
      },
      (failed) => {
        moved.record = failed.at(0);
        moved.position = failed.at(2);
      },
    );
    if (written) return;
    if (moved.record || !moved.position) {
      throw new ConflictError(namedRecordMessages.exists(KIND, run.name), { context: { runId: run.name } });
    }
    throw alreadyRunningError(run.workflow, (await this.lastStart(run.workflow)) ?? '(deleted)');
  }

  async replace(run: WorkflowRun, expectedRevision: number): Promise<void> {
    const written = await this.write(run, 'attribute_exists(pk) AND revision = :revision', {
      ':revision': expectedRevision,
    });
    if (!written) {
      const current = await this.get(run.name);
      throw current === undefined
        ? new NotFoundError(namedRecordMessages.absent(KIND, run.name), { context: { runId: run.name } })
        : this.changed(run.name, current.revision);
    }
  }

  async delete(runId: string, expectedRevision: number): Promise<void> {
    const stored = await this.get(runId);
    if (stored === undefined) return;
    const deleted = await transactWrite(this.documents, { runId }, [
      {
        Delete: {
          TableName: this.tableName,
          Key: recordKey(runId),
          ConditionExpression: 'attribute_not_exists(pk) OR revision = :revision',
          ExpressionAttributeValues: { ':revision': expectedRevision },
        },
      },
      { Delete: { TableName: this.tableName, Key: listingKey(stored) } },
    ]);
    if (!deleted) {
      const current = await this.get(runId);
      if (current !== undefined) throw this.changed(runId, current.revision);
    }
  }

  /**
   * One page of the workflow's runs, newest first: one strongly consistent Query of `limit` listing
   * copies (more only when DynamoDB's 1 MB page cuts it short: a run is at most
   * MAX_NAMED_RECORD_BYTES), the token an encoded LastEvaluatedKey (dynamodb-paging.ts).
   */
  async pageOfWorkflow(workflow: string, request: PageRequest): Promise<StorePage<WorkflowRun>> {
    await this.backfillListing();
    const page = await new DynamoDbPager(this.documents).queryPage(
      'Query (workflow runs of a workflow)',
      { workflow },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `${WORKFLOW_RUNS_PARTITION_PREFIX}${workflow}` },
        ConsistentRead: true,
        ScanIndexForward: false,
      },
      { limit: request.limit, token: request.pageToken },
    );
    const items = page.items.map((item) =>
      parseStoredJson(`${KIND} ${String(item.sk)}`, item.run, (v) => workflowRunSchema.safeParse(v)),
    );
    return page.nextToken === undefined ? { items } : { items, nextToken: page.nextToken };
  }

  /**
   * Records written before the listing copies existed have none, so a workflow's page would miss
   * them (and a start would not see its running or current run). Once per table, before the first
   * page is read: the record partition is queried for records without `layout`, a page of
   * LISTING_BACKFILL_PAGE_RECORDS at a time, and each gets its copy in a transaction that also
   * checks the record still has the revision read (a run deleted or changed meanwhile gets no stale
   * copy) and writes only over an older copy; the marker keeps the position after every page and
   * says `done` at the end. Later calls cost the marker's GetItem once per container.
   */
  async backfillListing(): Promise<number> {
    if (this.listingBackfilled) return 0;
    const marker = await callSdk('GetItem (workflow run listing backfill)', {}, () =>
      this.documents.send(
        new GetCommand({
          TableName: this.tableName,
          Key: WORKFLOW_RUN_LISTING_BACKFILL_KEY,
          ConsistentRead: true,
        }),
      ),
    );
    if (marker.Item?.done === true) {
      this.listingBackfilled = true;
      return 0;
    }
    let token = typeof marker.Item?.next === 'string' ? marker.Item.next : undefined;
    let copied = 0;
    do {
      const page = await new DynamoDbPager(this.documents).queryPage(
        'Query (workflow runs without listing copy)',
        {},
        {
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          FilterExpression: 'attribute_not_exists(#layout)',
          ExpressionAttributeNames: { '#layout': 'layout' },
          ExpressionAttributeValues: { ':pk': WORKFLOW_RUN_PARTITION },
          ConsistentRead: true,
        },
        { limit: LISTING_BACKFILL_PAGE_RECORDS, token },
      );
      for (const item of page.items) if (await this.copyEarlierRecord(item)) copied += 1;
      token = page.nextToken;
      const position = token;
      await callSdk('PutItem (workflow run listing backfill)', {}, () =>
        this.documents.send(
          new PutCommand({
            TableName: this.tableName,
            Item: {
              ...WORKFLOW_RUN_LISTING_BACKFILL_KEY,
              entity: 'workflow-run-listing-backfill',
              done: position === undefined,
              ...(position === undefined ? {} : { next: position }),
            },
          }),
        ),
      );
    } while (token !== undefined);
    this.listingBackfilled = true;
    return copied;
  }

  /**
   * The listing copy of a record written before copies existed; false when none was written: the
   * record went meanwhile, was rewritten with its copy, or is not a valid run (reading it is refused
   * where it is shown). A record rewritten without a copy meanwhile (by a writer of the earlier
   * layout) is read again and copied as it is now, up to LISTING_BACKFILL_COPY_ATTEMPTS times.
   */
  private async copyEarlierRecord(first: Record<string, unknown>): Promise<boolean> {
    let item: Record<string, unknown> | undefined = first;
    for (let attempt = 1; attempt <= LISTING_BACKFILL_COPY_ATTEMPTS; attempt += 1) {
      if (item === undefined || item.layout !== undefined) return false;
      let run: WorkflowRun;
      try {
        run = parseStoredJson(`${KIND} ${String(item.sk)}`, item.run, (v) => workflowRunSchema.safeParse(v));
      } catch {
        return false;
      }
      const copied = await transactWrite(this.documents, { runId: run.runId }, [
        {
          ConditionCheck: {
            TableName: this.tableName,
            Key: recordKey(run.runId),
            ConditionExpression: 'revision = :revision AND attribute_not_exists(#layout)',
            ExpressionAttributeNames: { '#layout': 'layout' },
            ExpressionAttributeValues: { ':revision': run.revision },
          },
        },
        {
          Put: {
            TableName: this.tableName,
            Item: listingItem(run),
            ConditionExpression: 'attribute_not_exists(pk) OR revision < :revision',
            ExpressionAttributeValues: { ':revision': run.revision },
          },
        },
      ]);
      if (copied) return true;
      const runId = run.runId;
      const again = await callSdk('GetItem (workflow run)', { runId }, () =>
        this.documents.send(
          new GetCommand({ TableName: this.tableName, Key: recordKey(runId), ConsistentRead: true }),
        ),
      );
      item = again.Item;
    }
    return false;
  }

  /**
   * The record (conditional), its listing copy and `alongside` (the start position) in one
   * transaction; false when a condition failed (`onCancelled` is told which).
   */
  private async write(
    run: WorkflowRun,
    condition: string,
    values: Record<string, number>,
    alongside?: TransactItem,
    onCancelled?: (failed: FailedConditions) => void,
  ): Promise<boolean> {
    const bytes = Buffer.byteLength(JSON.stringify(run));
    if (bytes > MAX_NAMED_RECORD_BYTES) {
      throw new ValidationError(
        `${KIND} ${run.name} is ${bytes} bytes as stored; at most ${MAX_NAMED_RECORD_BYTES} fit (${WORKFLOW_RUN_RECORDS.tooLargeAdvice})`,
        { context: { runId: run.name } },
      );
    }
    return transactWrite(
      this.documents,
      { runId: run.name },
      [
        {
          Put: {
            TableName: this.tableName,
            Item: { ...namedRecordItem(WORKFLOW_RUN_RECORDS, run), layout: WORKFLOW_RUN_KEY_LAYOUT },
            ConditionExpression: condition,
            ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
          },
        },
        { Put: { TableName: this.tableName, Item: listingItem(run) } },
        ...(alongside === undefined ? [] : [alongside]),
      ],
      onCancelled,
    );
  }

  private changed(runId: string, revision: number): ConflictError {
    return new ConflictError(namedRecordMessages.changed(KIND, runId, revision), { context: { runId } });
  }
}
