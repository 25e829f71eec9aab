/**
 * What a cancelled DynamoDB transaction says about its items. TransactWriteItems fails as a whole
 * with TransactionCanceledException; its CancellationReasons list one reason per item, in request
 * order, with Code `ConditionalCheckFailed` for an item whose condition did not hold (`None` for
 * the others).
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html
 */

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
