/** The shared request budgets in memory: the same compare-and-set as the DynamoDB adapter. */
import type {
  BudgetBucketState,
  BudgetBucketStore,
  RequestFamily,
} from '../../lambdas/core/store/request-budget.ts';

export class MemoryRequestBudgetStore implements BudgetBucketStore {
  readonly buckets = new Map<RequestFamily, BudgetBucketState>();

  read(family: RequestFamily): Promise<BudgetBucketState | undefined> {
    const found = this.buckets.get(family);
    return Promise.resolve(found === undefined ? undefined : { ...found });
  }

  swap(
    family: RequestFamily,
    expectedVersion: number | undefined,
    next: BudgetBucketState,
  ): Promise<boolean> {
    if (this.buckets.get(family)?.version !== expectedVersion) return Promise.resolve(false);
    this.buckets.set(family, { ...next });
    return Promise.resolve(true);
  }
}
