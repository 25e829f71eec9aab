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
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { ConflictError, IntegrityError, NotFoundError, ValidationError } from '../core/errors.ts';
import type { SettingsStore } from '../core/plans/plan-ports.ts';
import { planRecordSchema, type PlanRecord, type PlanStore } from '../core/plans/plan-service.ts';
import { DEFAULT_SETTINGS, planSettingsSchema, type PlanSettings } from '../core/plans/settings.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/** The partition of every plan record (one item per plan, sort key = its name). */
export const PLAN_PARTITION = 'PLAN#';
export const SETTINGS_PARTITION = 'SETTINGS#';
export const SETTINGS_SORT_KEY = 'SETTINGS';
/**
 * Largest plan record (JSON bytes) stored: a DynamoDB item is at most 400 KB, attribute names
 * and the other attributes included
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html); the
 * document schema allows more (100 activities of 500 server names each).
 */
export const MAX_PLAN_RECORD_BYTES = 390_000;
/** The key prefixes the API function's table policy allows (`dynamodb:LeadingKeys`). */
export const PLAN_TABLE_KEYS = [`${PLAN_PARTITION}*`, `${SETTINGS_PARTITION}*`] as const;

function parseStored<T>(
  what: string,
  raw: unknown,
  parse: (value: unknown) => { success: true; data: T } | { success: false; error: { message: string } },
): T {
  let value: unknown;
  try {
    value = JSON.parse(String(raw));
  } catch (error) {
    throw new IntegrityError(`${what} is not JSON`, { cause: error });
  }
  const parsed = parse(value);
  if (!parsed.success) throw new IntegrityError(`${what} is not a valid record: ${parsed.error.message}`);
  return parsed.data;
}

function planOf(item: Record<string, unknown>): PlanRecord {
  return parseStored(`plan ${String(item.sk)}`, item.plan, (v) => planRecordSchema.safeParse(v));
}

export class DynamoDbPlanStore implements PlanStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  private key(name: string): Record<string, string> {
    return { pk: PLAN_PARTITION, sk: name };
  }

  async create(record: PlanRecord): Promise<void> {
    await this.put(
      record,
      'attribute_not_exists(pk)',
      {},
      (cause) =>
        new ConflictError(`plan ${record.name} already exists`, { context: { plan: record.name }, cause }),
    );
  }

  async get(name: string): Promise<PlanRecord | undefined> {
    const answer = await callSdk('GetItem (plan)', { plan: name }, () =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(name), ConsistentRead: true }),
      ),
    );
    return answer.Item === undefined ? undefined : planOf(answer.Item);
  }

  async list(): Promise<readonly PlanRecord[]> {
    const records: PlanRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await callSdk('Query (plans)', {}, () =>
        this.documents.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': PLAN_PARTITION },
            ConsistentRead: true,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of page.Items ?? []) records.push(planOf(item));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return records;
  }

  async replace(record: PlanRecord, expectedRevision: number): Promise<void> {
    await this.put(
      record,
      'attribute_exists(pk) AND revision = :revision',
      { ':revision': expectedRevision },
      () => this.whyNot(record.name),
    );
  }

  async delete(name: string, expectedRevision: number): Promise<void> {
    try {
      await this.documents.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: this.key(name),
          ConditionExpression: 'attribute_not_exists(pk) OR revision = :revision',
          ExpressionAttributeValues: { ':revision': expectedRevision },
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ConditionalCheckFailedException') throw await this.whyNot(name);
      throw translateSdkError(error, 'DeleteItem (plan)', { plan: name });
    }
  }

  /** The error of a failed conditional write: the plan is gone, or another revision is stored. */
  private async whyNot(name: string): Promise<Error> {
    const current = await this.get(name);
    if (current === undefined) {
      return new NotFoundError(`plan ${name} does not exist`, { context: { plan: name } });
    }
    return new ConflictError(`plan ${name} changed meanwhile (revision ${current.revision})`, {
      context: { plan: name },
    });
  }

  private async put(
    record: PlanRecord,
    condition: string,
    values: Record<string, number>,
    conflict: (cause: unknown) => Error | Promise<Error>,
  ): Promise<void> {
    const json = JSON.stringify(record);
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_PLAN_RECORD_BYTES) {
      throw new ValidationError(
        `plan ${record.name} is ${bytes} bytes as stored; at most ${MAX_PLAN_RECORD_BYTES} fit (split it into smaller plans)`,
        { context: { plan: record.name } },
      );
    }
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(record.name),
            entity: 'plan',
            version: record.formatVersion,
            revision: record.revision,
            plan: json,
          },
          ConditionExpression: condition,
          ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ConditionalCheckFailedException') throw await conflict(error);
      throw translateSdkError(error, 'PutItem (plan)', { plan: record.name });
    }
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
    return parseStored('the settings', answer.Item.settings, (v) => planSettingsSchema.safeParse(v));
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
