/**
 * DynamoDB's batch operations, the one helper of every store that writes or reads in batches.
 * BatchWriteItem takes at most 25 put or delete requests and BatchGetItem at most 100 keys; either
 * may leave part of a request unprocessed (UnprocessedItems, UnprocessedKeys) when a partition is
 * over its throughput, and AWS asks for that part to be re-sent with exponential back-off.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html
 */
import type { DynamoDBDocumentClient, NativeAttributeValue } from '@aws-sdk/lib-dynamodb';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { ErrorContext } from '../core/errors.ts';
import { callSdk } from './sdk-errors.ts';

/** BatchWriteItem's maximum requests per call. */
export const BATCH_WRITE_ITEMS = 25;
/** BatchGetItem's maximum keys per call. */
export const BATCH_GET_ITEMS = 100;
/** Rounds of sending (the first and the re-sends of what is unprocessed) before giving up. */
export const UNPROCESSED_ATTEMPTS = 8;
/** First back-off before a re-send, doubled each round (50 ms .. 3.2 s, 6.35 s in all). */
export const UNPROCESSED_BASE_DELAY_MS = 50;

type Item = Record<string, NativeAttributeValue>;
/** One request of a BatchWriteItem: a put or a delete. */
export type WriteRequest = { PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } };

export type Sleep = (ms: number) => Promise<void>;

export const sleepMs: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many rounds to send and how long to wait before the first re-send (doubled each round). */
export interface ResendSchedule {
  readonly attempts: number;
  readonly baseDelayMs: number;
}

/** UNPROCESSED_ATTEMPTS rounds from UNPROCESSED_BASE_DELAY_MS. */
export const DEFAULT_RESEND: ResendSchedule = {
  attempts: UNPROCESSED_ATTEMPTS,
  baseDelayMs: UNPROCESSED_BASE_DELAY_MS,
};

/**
 * Sends `pending`, then what each answer reports unprocessed, until nothing is left, sleeping
 * baseDelayMs · 2^(round − 1) before each re-send. After `attempts` rounds, throws what
 * `exhausted` makes of the rest. Returns the number of sends.
 */
export async function resendUnprocessed<T>(
  pending: readonly T[],
  sendOnce: (batch: T[]) => Promise<T[]>,
  exhausted: (left: T[]) => Error,
  sleep: Sleep = sleepMs,
  schedule: ResendSchedule = DEFAULT_RESEND,
): Promise<number> {
  let left = [...pending];
  let attempt = 0;
  for (; left.length > 0; attempt += 1) {
    if (attempt >= schedule.attempts) throw exhausted(left);
    if (attempt > 0) await sleep(schedule.baseDelayMs * 2 ** (attempt - 1));
    left = await sendOnce(left);
  }
  return attempt;
}

export interface BatchWriteOptions {
  /** The error when requests are still unprocessed after UNPROCESSED_ATTEMPTS rounds. */
  readonly exhausted: (left: WriteRequest[]) => Error;
  /** The operation as SDK failures name it. */
  readonly operation?: string;
  readonly context?: ErrorContext;
  readonly sleep?: Sleep;
  /** Default DEFAULT_RESEND. */
  readonly schedule?: ResendSchedule;
}

/**
 * One BatchWriteItem of at most BATCH_WRITE_ITEMS requests to `tableName`, re-sending its
 * UnprocessedItems; an SDK failure leaves as a product error (callSdk). Returns the number of
 * BatchWriteItem calls made.
 */
export async function batchWrite(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  requests: readonly WriteRequest[],
  options: BatchWriteOptions,
): Promise<number> {
  const context = { table: tableName, ...options.context };
  return resendUnprocessed(
    requests,
    async (batch) => {
      const out = await callSdk(options.operation ?? 'BatchWriteItem', context, () =>
        ddb.send(new BatchWriteCommand({ RequestItems: { [tableName]: batch } })),
      );
      return (out.UnprocessedItems?.[tableName] ?? []) as WriteRequest[];
    },
    options.exhausted,
    options.sleep,
    options.schedule,
  );
}
