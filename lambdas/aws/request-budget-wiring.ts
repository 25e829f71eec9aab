/**
 * The account-wide request budgets of the EBS direct APIs (docs/scale.md) for the range workers:
 * one DynamoDB store per Lambda instance, one budget handle per worker invocation (its claimed
 * tokens are its own lease).
 */
import { realSleep } from '../core/util/retry.ts';
import {
  ACCOUNT_REQUEST_BUDGETS,
  SharedRequestBudget,
  budgetClaimSize,
  type RequestFamily,
} from '../core/store/request-budget.ts';
import { DynamoDbRequestBudgetStore } from './dynamodb-request-budget.ts';
import type { LambdaWiring } from './wiring.ts';

/** A worker's handle on one family's budget, claiming at most a short slice of its own pace. */
export type AccountBudgetOf = (family: RequestFamily, workerRatePerSecond: number) => SharedRequestBudget;

export function accountBudgets(wiring: LambdaWiring): AccountBudgetOf {
  let store: DynamoDbRequestBudgetStore | undefined;
  return (family, workerRatePerSecond) => {
    store ??= new DynamoDbRequestBudgetStore(
      wiring.engine.documents,
      wiring.environment('TABLE_NAME').TABLE_NAME,
    );
    return new SharedRequestBudget(store, {
      family,
      ratePerSecond: ACCOUNT_REQUEST_BUDGETS[family],
      claimSize: budgetClaimSize(workerRatePerSecond, ACCOUNT_REQUEST_BUDGETS[family]),
      clock: wiring.clock,
      sleep: realSleep,
      random: Math.random,
    });
  };
}
