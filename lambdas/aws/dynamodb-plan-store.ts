/**
 * DynamoDB adapters of the plan store and the settings (core/plans/plan-service.ts,
 * core/plans/settings.ts; record formats in docs/plans.md). Every plan lives in one partition,
 * `pk = PLAN#`, `sk = <plan name>`, so that listing is one strongly consistent Query already
 * ordered by name (DynamoDB orders a partition by the sort key's UTF-8 bytes, and plan names are
 * ASCII: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.html). The
 * record is kept as JSON in `plan`, with `revision` beside it for the conditional writes
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
 * The settings are one item, `pk = SETTINGS#`, `sk = SETTINGS`. The API's IAM policy covers
 * both prefixes through `dynamodb:LeadingKeys`.
 */
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PageRequest, StorePage } from '../core/api/api-ports.ts';
import { ValidationError } from '../core/errors.ts';
import type { SettingsStore } from '../core/plans/plan-ports.ts';
import { planRecordSchema, type PlanRecord, type PlanStore } from '../core/plans/plan-service.ts';
import { planRunSchema, type PlanRun } from '../core/plans/plan-run.ts';
import type { PlanRunStore } from '../core/plans/run-service.ts';
import { DEFAULT_SETTINGS, planSettingsSchema, type PlanSettings } from '../core/plans/settings.ts';
import { DynamoDbNamedRecords, parseStoredJson, type NamedRecordKind } from './dynamodb-named-records.ts';
import { DynamoDbPager } from './dynamodb-paging.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/** The partition of every plan record (one item per plan, sort key = its name). */
export const PLAN_PARTITION = 'PLAN#';
export const SETTINGS_PARTITION = 'SETTINGS#';
export const SETTINGS_SORT_KEY = 'SETTINGS';
/** The key prefixes the API function's table policy allows (`dynamodb:LeadingKeys`). */
export const PLAN_TABLE_KEYS = [`${PLAN_PARTITION}*`, `${SETTINGS_PARTITION}*`] as const;

export const PLAN_RECORDS: NamedRecordKind<PlanRecord> = {
  kind: 'plan',
  partition: PLAN_PARTITION,
  attribute: 'plan',
  schema: planRecordSchema,
  tooLargeAdvice: 'split it into smaller plans',
};

/** The plan store: the named-record store over the `PLAN#` partition. */
export class DynamoDbPlanStore extends DynamoDbNamedRecords<PlanRecord> implements PlanStore {
  constructor(documents: DynamoDBDocumentClient, tableName: string) {
    super(documents, tableName, PLAN_RECORDS);
  }
}

/** The settings item; absent means the defaults (backups enabled, no ceiling). */
export class DynamoDbSettingsStore implements SettingsStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private readonly key = { pk: SETTINGS_PARTITION, sk: SETTINGS_SORT_KEY };

  async read(): Promise<PlanSettings> {
    const answer = await callSdk('GetItem (settings)', {}, () =>
      this.documents.send(new GetCommand({ TableName: this.tableName, Key: this.key, ConsistentRead: true })),
    );
    if (answer.Item === undefined) return DEFAULT_SETTINGS;
    return parseStoredJson('the settings', answer.Item.settings, (v) => planSettingsSchema.safeParse(v));
  }

  async write(settings: PlanSettings): Promise<void> {
    await callSdk('PutItem (settings)', {}, () =>
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.key,
            entity: 'settings',
            version: settings.formatVersion,
            settings: JSON.stringify(planSettingsSchema.parse(settings)),
          },
        }),
      ),
    );
  }
}

/** Partition of a plan's runs (`sk = <startedAt>#<runId>`: a Query lists them in start order). */
export const PLAN_RUNS_PARTITION_PREFIX = 'PLANRUNS#';
/** Partition of a run's pointer item (`pk = PLANRUN#<runId>`, `sk = RUN`), which names its plan. */
export const PLAN_RUN_POINTER_PREFIX = 'PLANRUN#';
const RUN_POINTER_SORT_KEY = 'RUN';
/** The run items' key prefixes (plan-run function and API policies, `dynamodb:LeadingKeys`). */
export const PLAN_RUN_TABLE_KEYS = [`${PLAN_RUNS_PARTITION_PREFIX}*`, `${PLAN_RUN_POINTER_PREFIX}*`] as const;
/**
 * Largest run record (JSON bytes) stored, as for plans: one DynamoDB item holds at most 400 KB
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
 */
export const MAX_PLAN_RUN_RECORD_BYTES = 390_000;

function runOf(item: Record<string, unknown>): PlanRun {
  return parseStoredJson(`plan run ${String(item.sk)}`, item.run, (v) => planRunSchema.safeParse(v));
}

/**
 * The plan-run store: the record at `pk = PLANRUNS#<plan>`, `sk = <startedAt>#<runId>` (one
 * strongly consistent Query lists a plan's runs in start order, run ids being opaque when a
 * schedule starts them), and a pointer at `pk = PLANRUN#<runId>` so that a run is found by its
 * id alone. The pointer is written first, conditionally: it is what makes a run id unique.
 */
export class DynamoDbPlanRunStore implements PlanRunStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private static recordKey(run: Pick<PlanRun, 'plan' | 'startedAt' | 'runId'>): Record<string, string> {
    return { pk: `${PLAN_RUNS_PARTITION_PREFIX}${run.plan}`, sk: `${run.startedAt}#${run.runId}` };
  }

  private static pointerKey(runId: string): Record<string, string> {
    return { pk: `${PLAN_RUN_POINTER_PREFIX}${runId}`, sk: RUN_POINTER_SORT_KEY };
  }

  async createIfAbsent(run: PlanRun): Promise<PlanRun> {
    const recordKey = DynamoDbPlanRunStore.recordKey(run);
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...DynamoDbPlanRunStore.pointerKey(run.runId),
            entity: 'plan-run-pointer',
            ...prefixed(recordKey),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) !== 'ConditionalCheckFailedException') {
        throw translateSdkError(error, 'PutItem (plan run pointer)', { runId: run.runId });
      }
      const existing = await this.get(run.runId);
      if (existing !== undefined) return existing;
      // The pointer exists but its record was never written (the first create stopped in between).
    }
    await this.save(run);
    return run;
  }

  async get(runId: string): Promise<PlanRun | undefined> {
    const pointer = await callSdk('GetItem (plan run pointer)', { runId }, () =>
      this.documents.send(
        new GetCommand({
          TableName: this.tableName,
          Key: DynamoDbPlanRunStore.pointerKey(runId),
          ConsistentRead: true,
        }),
      ),
    );
    if (pointer.Item === undefined) return undefined;
    const answer = await callSdk('GetItem (plan run)', { runId }, () =>
      this.documents.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { pk: String(pointer.Item!.recordPk), sk: String(pointer.Item!.recordSk) },
          ConsistentRead: true,
        }),
      ),
    );
    return answer.Item === undefined ? undefined : runOf(answer.Item);
  }

  async save(run: PlanRun): Promise<void> {
    const json = JSON.stringify(planRunSchema.parse(run));
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_PLAN_RUN_RECORD_BYTES) {
      throw new ValidationError(
        `plan run ${run.runId} is ${bytes} bytes as stored; at most ${MAX_PLAN_RUN_RECORD_BYTES} fit (split the plan)`,
        { context: { runId: run.runId, plan: run.plan } },
      );
    }
    await callSdk('PutItem (plan run)', { runId: run.runId }, () =>
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...DynamoDbPlanRunStore.recordKey(run),
            entity: 'plan-run',
            version: run.formatVersion,
            status: run.status,
            run: json,
          },
        }),
      ),
    );
  }

  async delete(runId: string): Promise<void> {
    const run = await this.get(runId);
    if (run !== undefined) {
      await callSdk('DeleteItem (plan run)', { runId }, () =>
        this.documents.send(
          new DeleteCommand({ TableName: this.tableName, Key: DynamoDbPlanRunStore.recordKey(run) }),
        ),
      );
    }
    await callSdk('DeleteItem (plan run pointer)', { runId }, () =>
      this.documents.send(
        new DeleteCommand({ TableName: this.tableName, Key: DynamoDbPlanRunStore.pointerKey(runId) }),
      ),
    );
  }

  /** The plan's runs, newest first. */
  async listForPlan(plan: string): Promise<readonly PlanRun[]> {
    const items = await new DynamoDbPager(this.documents).queryAll(
      'Query (plan runs)',
      { plan },
      DynamoDbPlanRunStore.runsQuery(this.tableName, plan),
    );
    return items.map(runOf);
  }

  /**
   * One page of the plan's runs, newest first: one Query of `limit` items (more only when
   * DynamoDB's 1 MB page cuts it short), the token an encoded LastEvaluatedKey (dynamodb-paging.ts).
   */
  async pageForPlan(plan: string, page: PageRequest): Promise<StorePage<PlanRun>> {
    const found = await new DynamoDbPager(this.documents).queryPage(
      'Query (plan runs)',
      { plan },
      DynamoDbPlanRunStore.runsQuery(this.tableName, plan),
      { limit: page.limit, token: page.pageToken },
    );
    const items = found.items.map(runOf);
    return found.nextToken === undefined ? { items } : { items, nextToken: found.nextToken };
  }

  /** The Query of a plan's runs, newest first (the sort key starts with the start time). */
  private static runsQuery(tableName: string, plan: string) {
    return {
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `${PLAN_RUNS_PARTITION_PREFIX}${plan}` },
      ConsistentRead: true,
      ScanIndexForward: false,
    };
  }
}

function prefixed(key: Record<string, string>): Record<string, string> {
  return { recordPk: key.pk!, recordSk: key.sk! };
}
