/**
 * What a cancelled DynamoDB transaction says about its items. TransactWriteItems fails as a whole
 * with TransactionCanceledException; its CancellationReasons list one reason per item, in request
 * order, with Code `ConditionalCheckFailed` for an item whose condition did not hold (`None` for
 * the others).
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */
import type { DynamoDBDocumentClient, TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { callSdk } from './sdk-errors.ts';

interface CancellationShape {
  readonly name?: string;
  readonly CancellationReasons?: readonly { readonly Code?: string }[];
}

export interface FailedConditions {
  /** Whether the condition of item `index` (0-based, request order) failed. */
  at(index: number): boolean;
  /** Whether any item's condition failed. */
  readonly any: boolean;
}

/** The failed conditions of a cancelled transaction; undefined when `error` is anything else. */
export function failedConditions(error: unknown): FailedConditions | undefined {
  const shape = error as CancellationShape | undefined;
  if (shape?.name !== 'TransactionCanceledException') return undefined;
  const reasons = shape.CancellationReasons ?? [];
  return {
    at: (index) => reasons[index]?.Code === 'ConditionalCheckFailed',
    any: reasons.some((r) => r.Code === 'ConditionalCheckFailed'),
  };
}

/**
 * One TransactWriteItems through the SDK-error boundary: true when written; false when cancelled
 * because a condition failed, after `onCancelled` has had the chance to throw a more precise error
 * for a particular item; any other failure propagates (as callSdk translates it).
 */
export async function transactWrite(
  ddb: DynamoDBDocumentClient,
  context: Parameters<typeof callSdk>[1],
  items: NonNullable<TransactWriteCommandInput['TransactItems']>,
  onCancelled?: (failed: FailedConditions) => void,
): Promise<boolean> {
  return callSdk('TransactWriteItems', context, async () => {
    try {
      await ddb.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      const failed = failedConditions(error);
      if (failed === undefined) throw error;
      onCancelled?.(failed);
      if (failed.any) return false;
      throw error;
    }
  });
}
