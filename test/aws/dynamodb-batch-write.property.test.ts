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
});
