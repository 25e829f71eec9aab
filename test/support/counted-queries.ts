/**
 * Counts the DynamoDB Query requests a client sends and the items they read (ScannedCount: before
 * any FilterExpression, what read units follow), with a client middleware, as counted-ec2.ts
 * does for DescribeVolumes.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export interface QueryCounts {
  /** Query requests sent since the client was counted. */
  readonly queries: () => number;
  /** Items the answered Queries read since the client was counted. */
  readonly scanned: () => number;
}

/** Starts counting the client's Queries (a DynamoDB client or a document client over one). */
export function countedQueries(client: DynamoDBDocumentClient): QueryCounts {
  let queries = 0;
  let scanned = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'QueryCommand') return next(args);
      queries += 1;
      const result = await next(args);
      scanned += (result.output as { ScannedCount?: number }).ScannedCount ?? 0;
      return result;
    },
    { step: 'initialize' },
  );
  return { queries: () => queries, scanned: () => scanned };
}
