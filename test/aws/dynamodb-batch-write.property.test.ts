/**
 * The batch helper that the catalog and the catalog-pruning adapters share: every request is sent
 * until none is left unprocessed, re-sends back off 50, 100, 200 ... ms, and after eight rounds the
 * caller's error carries what is left. A fake DynamoDB client leaves a chosen number unprocessed
 * in each round.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  batchWrite,
  resendUnprocessed,
  UNPROCESSED_ATTEMPTS,
  type WriteRequest,
} from '../../lambdas/aws/dynamodb-batch-write.ts';
import { batchGetItems, batchPutItems } from '../../lambdas/aws/dynamodb-image-records.ts';
import { ThrottledError } from '../../lambdas/core/errors.ts';

const TABLE = 'catalog';

function deletes(count: number): WriteRequest[] {
  return Array.from({ length: count }, (_, i) => ({ DeleteRequest: { Key: { pk: `p${i}`, sk: `s${i}` } } }));
}

/** A client whose round `n` leaves the last `leftPerRound[n]` requests (at most all) unprocessed. */
function fakeClient(leftPerRound: readonly number[]) {
  const rounds: WriteRequest[][] = [];
  const client = {
    send(command: { input: { RequestItems: Record<string, WriteRequest[]> } }) {
      const batch = command.input.RequestItems[TABLE]!;
      const left = Math.min(batch.length, leftPerRound[rounds.length] ?? 0);
      rounds.push(batch);
      return Promise.resolve({
        UnprocessedItems: left === 0 ? {} : { [TABLE]: batch.slice(batch.length - left) },
      });
    },
  };
  return { client: client as unknown as DynamoDBDocumentClient, rounds };
}

describe('batchWrite', () => {
  it('re-sends exactly what is unprocessed, backing off 50 ms doubled, until nothing is left', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 25 }),
        fc.array(fc.integer({ min: 0, max: 25 }), { maxLength: UNPROCESSED_ATTEMPTS - 1 }),
        async (count, leftPerRound) => {
          const { client, rounds } = fakeClient(leftPerRound);
          const slept: number[] = [];
          const requests = deletes(count);
          await batchWrite(client, TABLE, requests, {
            exhausted: () => new Error('exhausted'),
            sleep: (ms) => {
              slept.push(ms);
              return Promise.resolve();
            },
          });
          expect(rounds[0]).toEqual(requests);
          for (let n = 1; n < rounds.length; n += 1) {
            expect(rounds[n]).toEqual(rounds[n - 1]!.slice(rounds[n - 1]!.length - rounds[n]!.length));
          }
          expect(slept).toEqual(rounds.slice(1).map((_, n) => 50 * 2 ** n));
        },
      ),
    );
  });

  it("throws the caller's error with what is left after eight rounds", async () => {
    const { client, rounds } = fakeClient(Array.from({ length: 20 }, () => 3));
    const slept: number[] = [];
    const sent = batchWrite(client, TABLE, deletes(10), {
      exhausted: (left) => new ThrottledError(`left ${left.length}`, { context: { table: TABLE } }),
      sleep: (ms) => {
        slept.push(ms);
        return Promise.resolve();
      },
    });
    await expect(sent).rejects.toThrow(ThrottledError);
    await expect(sent).rejects.toThrow('left 3');
    expect(rounds.length).toBe(8);
    expect(slept).toEqual([50, 100, 200, 400, 800, 1600, 3200]);
  });

  it('translates an SDK failure into a product error named after the operation', async () => {
    const failing = {
      send: () =>
        Promise.reject(
          Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }),
        ),
    } as unknown as DynamoDBDocumentClient;
    const sent = batchWrite(failing, TABLE, deletes(1), {
      operation: 'DynamoDB BatchWriteItem',
      exhausted: () => new Error('exhausted'),
    });
    await expect(sent).rejects.toThrow(ThrottledError);
    await expect(sent).rejects.toThrow(
      'DynamoDB BatchWriteItem failed: ProvisionedThroughputExceededException: slow down',
    );
  });
});

describe('resendUnprocessed', () => {
  it('sends nothing for nothing pending', async () => {
    let calls = 0;
    await resendUnprocessed(
      [],
      () => {
        calls += 1;
        return Promise.resolve([]);
      },
      () => new Error('exhausted'),
    );
    expect(calls).toBe(0);
  });

  it('follows a given schedule: its rounds, its first delay doubled, and returns the sends', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 12 }),
        async (attempts, baseDelayMs, leftPerRound) => {
          const slept: number[] = [];
          let round = 0;
          const sent = resendUnprocessed(
            Array.from({ length: 20 }, (_, i) => i),
            (batch) => {
              const left = Math.min(batch.length, leftPerRound[round] ?? 0);
              round += 1;
              return Promise.resolve(batch.slice(batch.length - left));
            },
            (left) => new Error(`left ${left.length}`),
            (ms) => {
              slept.push(ms);
              return Promise.resolve();
            },
            { attempts, baseDelayMs },
          );
          // Rounds needed: up to and including the first that leaves nothing (or all of them).
          const firstClear = Array.from({ length: attempts }, (_, n) => leftPerRound[n] ?? 0).findIndex(
            (left) => left === 0,
          );
          if (firstClear === -1) {
            await expect(sent).rejects.toThrow(/^left \d+$/);
            expect(round).toBe(attempts);
          } else {
            await expect(sent).resolves.toBe(firstClear + 1);
            expect(round).toBe(firstClear + 1);
          }
          expect(slept).toEqual(Array.from({ length: round - 1 }, (_, n) => baseDelayMs * 2 ** n));
        },
      ),
    );
  });
});

describe('image records batches (six rounds from 25 ms)', () => {
  /** A client that leaves every request of every call unprocessed, counting the calls. */
  function stubbornClient() {
    const calls: string[] = [];
    const client = {
      send(command: { constructor: { name: string }; input: { RequestItems: Record<string, unknown> } }) {
        calls.push(command.constructor.name);
        const asked = command.input.RequestItems[TABLE];
        return Promise.resolve(
          command.constructor.name === 'BatchGetCommand'
            ? { Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: asked } }
            : { UnprocessedItems: { [TABLE]: asked } },
        );
      },
    };
    return { client: client as unknown as DynamoDBDocumentClient, calls };
  }

  it.each([
    {
      name: 'batchPutItems',
      send: (client: DynamoDBDocumentClient) =>
        batchPutItems(client, TABLE, [
          { pk: 'a', sk: '1' },
          { pk: 'b', sk: '2' },
        ]),
      command: 'BatchWriteCommand',
      message: 'DynamoDB BatchWriteItem left 2 puts unprocessed',
    },
    {
      name: 'batchGetItems',
      // A duplicate key is asked once.
      send: (client: DynamoDBDocumentClient) =>
        batchGetItems(client, TABLE, [
          { pk: 'a', sk: '1' },
          { pk: 'a', sk: '1' },
          { pk: 'b', sk: '2' },
        ]),
      command: 'BatchGetCommand',
      message: 'DynamoDB BatchGetItem left 2 image keys unprocessed',
    },
  ])('$name gives up after six $command calls with a ThrottledError', async ({ send, command, message }) => {
    const { client, calls } = stubbornClient();
    const sent = send(client);
    await expect(sent).rejects.toThrow(ThrottledError);
    await expect(sent).rejects.toThrow(message);
    expect(calls).toEqual(Array.from({ length: 6 }, () => command));
  });

  it('batchPutItems counts one request per call: 30 items, one re-send of the first 25', async () => {
    let call = 0;
    const client = {
      send(command: { input: { RequestItems: Record<string, unknown[]> } }) {
        call += 1;
        const asked = command.input.RequestItems[TABLE]!;
        return Promise.resolve({ UnprocessedItems: call === 1 ? { [TABLE]: asked.slice(0, 3) } : {} });
      },
    } as unknown as DynamoDBDocumentClient;
    const items = Array.from({ length: 30 }, (_, i) => ({ pk: `p${i}`, sk: 's' }));
    await expect(batchPutItems(client, TABLE, items)).resolves.toBe(3);
  });
});
