/**
 * Paging DynamoDB Queries, the one helper of every store that lists (image records, recovery
 * points, lifecycle images):
 *
 * - queryAll follows LastEvaluatedKey until the query is done (for callers that need every item,
 *   such as garbage collection);
 * - queryPage reads one page of at most `limit` items and hands back the continuation as an opaque
 *   token (base64url of the LastEvaluatedKey as JSON), so nothing is kept in memory between pages:
 *   a token from one process is good in any other.
 *
 * A Query answers at most `Limit` items *examined* (before a FilterExpression) and at most 1 MB,
 * and says with LastEvaluatedKey that more may follow
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.Pagination.html). queryPage
 * asks each request for no more items than the page still lacks, so the page never overshoots and
 * LastEvaluatedKey is always exactly where the next page starts, filter or no filter.
 */
import type { DynamoDBDocumentClient, QueryCommandInput, QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { ValidationError, type ErrorContext } from '../core/errors.ts';
import { callSdk } from './sdk-errors.ts';

type Item = Record<string, unknown>;
/** A key as DynamoDB gives it in LastEvaluatedKey: attribute name to string or number. */
export type StartKey = Record<string, string | number>;

export interface QueryPage {
  readonly items: Item[];
  /** Where the next page starts; absent when the query is done. */
  readonly nextToken?: string;
}

/** The opaque form of a LastEvaluatedKey. */
export function encodeStartKey(key: StartKey): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The LastEvaluatedKey in a token from encodeStartKey; ValidationError for anything else. */
export function decodeStartKey(token: string): StartKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (error) {
    throw new ValidationError('invalid cursor: unreadable position', { cause: error });
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    Array.isArray(parsed) ||
    Object.keys(parsed).length === 0 ||
    !Object.values(parsed).every((value) => typeof value === 'string' || typeof value === 'number')
  ) {
    throw new ValidationError('invalid cursor: unreadable position');
  }
  return parsed as StartKey;
}

function asStartKey(key: Item | undefined): StartKey | undefined {
  if (key === undefined) return undefined;
  const out: StartKey = {};
  for (const [name, value] of Object.entries(key)) {
    if (typeof value !== 'string' && typeof value !== 'number') return undefined;
    out[name] = value;
  }
  return out;
}

type QueryInput = Omit<QueryCommandInput, 'Limit' | 'ExclusiveStartKey'>;

export class DynamoDbPager {
  constructor(private readonly ddb: DynamoDBDocumentClient) {}

  /**
   * One page of at most `limit` items that `keep` accepts (all when absent), starting at `token`.
   * Items `keep` refuses still count as examined, so a page may be shorter than `limit` and still
   * have a next token; it is never longer.
   */
  async queryPage(
    operation: string,
    context: ErrorContext,
    input: QueryInput,
    page: { readonly limit: number; readonly token?: string | undefined },
    keep: (item: Item) => boolean = () => true,
  ): Promise<QueryPage> {
    const items: Item[] = [];
    let startKey: StartKey | undefined = page.token === undefined ? undefined : decodeStartKey(page.token);
    let examined = 0;
    do {
      const answer = await this.queryFrom(
        operation,
        context,
        { ...input, Limit: page.limit - examined },
        startKey,
      );
      const got = answer.Items ?? [];
      for (const item of got) if (keep(item)) items.push(item);
      startKey = asStartKey(answer.LastEvaluatedKey);
      // ScannedCount includes what a FilterExpression dropped: those count against Limit as well.
      examined += answer.ScannedCount ?? got.length;
    } while (startKey !== undefined && examined < page.limit);
    return startKey === undefined ? { items } : { items, nextToken: encodeStartKey(startKey) };
  }

  /** Every item of the query, page after page. */
  async queryAll(operation: string, context: ErrorContext, input: QueryInput): Promise<Item[]> {
    const items: Item[] = [];
    for await (const answer of this.answers(operation, context, input)) items.push(...(answer.Items ?? []));
    return items;
  }

  /** How many items the query matches (Select COUNT: no item leaves DynamoDB). */
  async count(operation: string, context: ErrorContext, input: QueryInput): Promise<number> {
    let total = 0;
    for await (const answer of this.answers(operation, context, { ...input, Select: 'COUNT' })) {
      total += answer.Count ?? 0;
    }
    return total;
  }

  /** One Query request, starting after `exclusiveStart` when given. */
  private queryFrom(
    operation: string,
    context: ErrorContext,
    input: QueryInput & Pick<QueryCommandInput, 'Limit'>,
    exclusiveStart: Item | undefined,
  ): Promise<QueryCommandOutput> {
    return callSdk(operation, context, () =>
      this.ddb.send(
        new QueryCommand({
          ...input,
          ...(exclusiveStart === undefined ? {} : { ExclusiveStartKey: exclusiveStart }),
        }),
      ),
    );
  }

  /** The query's answers, each request starting at the previous one's LastEvaluatedKey. */
  private async *answers(operation: string, context: ErrorContext, input: QueryInput) {
    let startKey: Item | undefined;
    do {
      const answer = await this.queryFrom(operation, context, input, startKey);
      yield answer;
      startKey = answer.LastEvaluatedKey;
    } while (startKey !== undefined);
  }
}
