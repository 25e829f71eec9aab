/**
 * DynamoDB adapter of NamedRecordStore (core/store/named-records.ts). Every record of one kind
 * lives in one partition, `pk = <partition>`, `sk = <name>`, so that listing is one strongly
 * consistent Query already ordered by name (DynamoDB orders a partition by the sort key's UTF-8
 * bytes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.html). The record
 * is kept as JSON in one attribute, with `revision` beside it for the conditional writes
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
 */
import { DeleteCommand, GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import { ConflictError, IntegrityError, NotFoundError, ValidationError } from '../core/errors.ts';
import type { NamedRecordPages, PageRequest, StorePage } from '../core/api/api-ports.ts';
import { namedRecordMessages, type NamedRecord, type NamedRecordStore } from '../core/store/named-records.ts';
import { DynamoDbPager, encodeStartKey } from './dynamodb-paging.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/**
 * Largest record (JSON bytes) stored: a DynamoDB item is at most 400 KB, attribute names and the
 * other attributes included
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
 */
export const MAX_NAMED_RECORD_BYTES = 390_000;

/** What distinguishes one kind of named record in the table. */
export interface NamedRecordKind<R> {
  /** In messages and SDK-call labels: `plan`, `workflow`. */
  readonly kind: string;
  /** The partition key of every record of the kind, e.g. `PLAN#`. */
  readonly partition: string;
  /** The attribute that holds the record's JSON. */
  readonly attribute: string;
  /** The record's zod schema: a stored record that fails it is an IntegrityError. */
  readonly schema: z.ZodType<R>;
  /** What to tell the caller when a record is too large to store. */
  readonly tooLargeAdvice: string;
}

/** Parses a stored JSON attribute with `parse`; anything else is an IntegrityError naming `what`. */
export function parseStoredJson<T>(
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

/**
 * The item of a record as stored: the key, the kind, the format version and the revision beside
 * the record's JSON. The one place this layout is written (the store's puts, and the deployment's
 * plans of the configuration, lib/constructs/config-plans.ts).
 */
export function namedRecordItem<R extends NamedRecord & { readonly formatVersion: number }>(
  spec: NamedRecordKind<R>,
  record: R,
): Record<string, string | number> {
  return {
    pk: spec.partition,
    sk: record.name,
    entity: spec.kind,
    version: record.formatVersion,
    revision: record.revision,
    [spec.attribute]: JSON.stringify(record),
  };
}

export class DynamoDbNamedRecords<R extends NamedRecord & { readonly formatVersion: number }>
  implements NamedRecordStore<R>, NamedRecordPages<R>
{
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly spec: NamedRecordKind<R>,
  ) {}

  private key(name: string): Record<string, string> {
    return { pk: this.spec.partition, sk: name };
  }

  private recordOf(item: Record<string, unknown>): R {
    return parseStoredJson(`${this.spec.kind} ${String(item.sk)}`, item[this.spec.attribute], (v) =>
      this.spec.schema.safeParse(v),
    );
  }

  async create(record: R): Promise<void> {
    await this.put(
      record,
      'attribute_not_exists(pk)',
      {},
      (cause) =>
        new ConflictError(namedRecordMessages.exists(this.spec.kind, record.name), {
          context: { [this.spec.kind]: record.name },
          cause,
        }),
    );
  }

  async get(name: string): Promise<R | undefined> {
    const answer = await callSdk(`GetItem (${this.spec.kind})`, { [this.spec.kind]: name }, () =>
      this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(name), ConsistentRead: true }),
      ),
    );
    return answer.Item === undefined ? undefined : this.recordOf(answer.Item);
  }

  async list(): Promise<readonly R[]> {
    const items = await new DynamoDbPager(this.documents).queryAll(
      `Query (${this.spec.kind}s)`,
      {},
      this.partitionQuery(),
    );
    return items.map((item) => this.recordOf(item));
  }

  /** The Query of every record of the kind, in name order. */
  private partitionQuery() {
    return {
      TableName: this.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': this.spec.partition },
      ConsistentRead: true,
    };
  }

  /**
   * One page of records in name order: one strongly consistent Query of `limit` items starting
   * after the name in `pageToken` (ExclusiveStartKey need not be a stored item), and more only
   * when DynamoDB's 1 MB page cut it short (records are at most MAX_NAMED_RECORD_BYTES, so a page
   * of n records costs at most ceil(n x 390 KB / 1 MB) Queries). The next token is the page's last
   * name when DynamoDB says more may follow.
   */
  async page(request: PageRequest): Promise<StorePage<R>> {
    const after = request.pageToken;
    const page = await new DynamoDbPager(this.documents).queryPage(
      `Query (${this.spec.kind}s)`,
      {},
      this.partitionQuery(),
      { limit: request.limit, token: after === undefined ? undefined : encodeStartKey(this.key(after)) },
    );
    const items = page.items.map((item) => this.recordOf(item));
    const last = items.at(-1);
    return page.nextToken === undefined || last === undefined ? { items } : { items, nextToken: last.name };
  }

  async replace(record: R, expectedRevision: number): Promise<void> {
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
      throw translateSdkError(error, `DeleteItem (${this.spec.kind})`, { [this.spec.kind]: name });
    }
  }

  /** The error of a failed conditional write: the record is gone, or another revision is stored. */
  private async whyNot(name: string): Promise<Error> {
    const current = await this.get(name);
    const context = { [this.spec.kind]: name };
    if (current === undefined) {
      return new NotFoundError(namedRecordMessages.absent(this.spec.kind, name), { context });
    }
    return new ConflictError(namedRecordMessages.changed(this.spec.kind, name, current.revision), {
      context,
    });
  }

  private async put(
    record: R,
    condition: string,
    values: Record<string, number>,
    conflict: (cause: unknown) => Error | Promise<Error>,
  ): Promise<void> {
    const json = JSON.stringify(record);
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_NAMED_RECORD_BYTES) {
      throw new ValidationError(
        `${this.spec.kind} ${record.name} is ${bytes} bytes as stored; at most ${MAX_NAMED_RECORD_BYTES} fit (${this.spec.tooLargeAdvice})`,
        { context: { [this.spec.kind]: record.name } },
      );
    }
    try {
      await this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: namedRecordItem(this.spec, record),
          ConditionExpression: condition,
          ...(Object.keys(values).length === 0 ? {} : { ExpressionAttributeValues: values }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ConditionalCheckFailedException') throw await conflict(error);
      throw translateSdkError(error, `PutItem (${this.spec.kind})`, { [this.spec.kind]: record.name });
    }
  }
}
