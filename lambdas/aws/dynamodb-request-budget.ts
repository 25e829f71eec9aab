/**
 * The account-wide request budgets (lambdas/core/store/request-budget.ts) in the product's table:
 * one item per API family, `pk = BUDGET#<family>`, `sk = BUDGET`, holding the bucket's tokens, the
 * time they were refilled to and a version. A claim is a strongly consistent GetItem and a PutItem
 * conditional on the version read (optimistic concurrency:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/DynamoDBMapper.OptimisticLocking.html),
 * so two workers never spend the same tokens. The table lives in one account and Region, as the
 * EBS quotas do.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { BudgetBucketState, BudgetBucketStore, RequestFamily } from '../core/store/request-budget.ts';
import { conditionalWrite, translateSdkError } from './sdk-errors.ts';

export const BUDGET_SORT_KEY = 'BUDGET';
export const budgetPartitionKey = (family: RequestFamily): string => `BUDGET#${family}`;

export class DynamoDbRequestBudgetStore implements BudgetBucketStore {
  constructor(
    private readonly documents: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(family: RequestFamily): Promise<BudgetBucketState | undefined> {
    const key = { pk: budgetPartitionKey(family), sk: BUDGET_SORT_KEY };
    try {
      const { Item } = await this.documents.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      if (Item === undefined) return undefined;
      return {
        tokens: Number(Item['tokens']),
        refilledAtMs: Number(Item['refilledAtMs']),
        version: Number(Item['version']),
      };
    } catch (error) {
      throw translateSdkError(error, 'GetItem', { family });
    }
  }

  async swap(
    family: RequestFamily,
    expectedVersion: number | undefined,
    next: BudgetBucketState,
  ): Promise<boolean> {
    return conditionalWrite('PutItem', { family }, () =>
      this.documents.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: budgetPartitionKey(family),
            sk: BUDGET_SORT_KEY,
            tokens: next.tokens,
            refilledAtMs: next.refilledAtMs,
            version: next.version,
          },
          ...(expectedVersion === undefined
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#version = :expected',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      ),
    );
  }
}
