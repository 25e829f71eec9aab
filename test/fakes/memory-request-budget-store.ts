/** The shared request budgets in memory: the same compare-and-set as the DynamoDB adapter. */
import type {
  BudgetBucketState,
  BudgetBucketStore,
  RequestFamily,
} from '../../lambdas/core/store/request-budget.ts';

export class MemoryRequestBudgetStore implements BudgetBucketStore {
  readonly buckets = new Map<RequestFamily, BudgetBucketState>();
  reads = 0;
  writes = 0;

  read(family: RequestFamily): Promise<BudgetBucketState | undefined> {
    this.reads += 1;
    const found = this.buckets.get(family);
    return Promise.resolve(found === undefined ? undefined : { ...found });
  }

  swap(family: RequestFamily, expectedVersion: number | undefined, next: BudgetBucketState): Promise<boolean> {
    this.writes += 1;
    if (this.buckets.get(family)?.version !== expectedVersion) return Promise.resolve(false);
    this.buckets.set(family, { ...next });
    return Promise.resolve(true);
  }
}
