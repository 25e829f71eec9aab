/**
 * A volume restore's PutSnapshotBlock requests draw from the account's shared put-block budget
 * (lambdas/core/store/request-budget.ts), wired by the volume-restore-step Lambda
 * (lambdas/handlers/volume-restore-step.ts), in memory with the real budget core:
 * - every PutSnapshotBlock request of a range, a throttled one included, takes exactly one
 *   put-block token, and the range asks for no other family;
 * - two restores at once under a small budget together stay within it over every window
 *   (burst + rate × (window + lease)), and both write every block.
 */
import { describe, expect, it } from 'vitest';
import { createVolumeRestoreStepHandler } from '../../lambdas/handlers/volume-restore-step.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import {
  SharedRequestBudget,
  budgetBurst,
  budgetClaimSize,
  type RequestFamily,
} from '../../lambdas/core/store/request-budget.ts';
import type { RestoreRangeOutput } from '../../lambdas/core/restore/volume-restore-state.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import { MemoryRequestBudgetStore } from '../fakes/memory-request-budget-store.ts';
import { restoreRangeSetUp } from './restore-range-fixture.ts';
import { worstExcess } from '../support/request-rate.ts';

/** An account budget like the Lambda's (request-budget-wiring.ts) on a memory store, counting tokens taken per family. */
function countingBudget(ratePerSecond: number, leaseMs?: number) {
  const store = new MemoryRequestBudgetStore();
  const taken = new Map<RequestFamily, number>();
  const budgets: SharedRequestBudget[] = [];
  const accountBudget = (family: RequestFamily, workerRatePerSecond: number) => {
    const budget = new SharedRequestBudget(store, {
      family,
      ratePerSecond,
      claimSize: budgetClaimSize(workerRatePerSecond, ratePerSecond),
      clock: systemClock,
      sleep: realSleep,
      random: Math.random,
      ...(leaseMs === undefined ? {} : { leaseMs }),
    });
    budgets.push(budget);
    return {
      acquire: async () => {
        await budget.acquire();
        taken.set(family, (taken.get(family) ?? 0) + 1);
      },
    };
  };
  return { store, taken, budgets, accountBudget };
}

/** `count` chunks spread over the 3 GiB volume (two non-zero blocks each). */
const chunksOf = (count: number, offset: number): number[] =>
  Array.from({ length: count }, (_, i) => offset + i * 37);

describe('volume restore under the account put-block budget', () => {
  it('takes one put-block token per PutSnapshotBlock request, throttled ones included', async () => {
    const { deps, writer, addImage, prepare } = restoreRangeSetUp();
    const budget = countingBudget(800);
    const handler = createVolumeRestoreStepHandler({ ...deps, accountBudget: budget.accountBudget });
    await addImage('img-b', chunksOf(25, 0));
    const { job, items } = await prepare('rs-b', 'img-b');
    writer.throttleNext = 2;
    const output = await handler({ step: 'range', range: items[0]!, job });
    expect(output).toEqual({ index: 0, blocksPut: 50, putRequests: 52, segmentsResumed: 0, throttled: 2 });
    expect(writer.puts).toHaveLength(50);
    expect([...budget.taken]).toEqual([['put-block', 52]]);
    expect(budget.budgets.map((b) => b.counters.tokensClaimed >= 52)).toEqual([true]);
    expect(await budget.store.read('get-block')).toBeUndefined();
    expect(await budget.store.read('put-block')).toBeDefined();
  });

  it('two restores at once under a 40/s budget stay within it and write every block', async () => {
    const rate = 40;
    const leaseMs = 250;
    const { deps, writer, addImage, prepare } = restoreRangeSetUp();
    const budget = countingBudget(rate, leaseMs);
    const handler = createVolumeRestoreStepHandler({ ...deps, accountBudget: budget.accountBudget });
    await addImage('img-1', chunksOf(30, 0));
    await addImage('img-2', chunksOf(30, 5));
    const one = await prepare('rs-1', 'img-1');
    const two = await prepare('rs-2', 'img-2');
    const outputs = (await Promise.all([
      handler({ step: 'range', range: one.items[0]!, job: one.job }),
      handler({ step: 'range', range: two.items[0]!, job: two.job }),
    ])) as RestoreRangeOutput[];
    expect(outputs.map((o) => [o.blocksPut, o.putRequests])).toEqual([
      [60, 60],
      [60, 60],
    ]);
    expect([...budget.taken]).toEqual([['put-block', 120]]);
    const times = writer.puts.map((p) => p.atMs);
    // Each request is sent just after its token is granted: at most one request of slack.
    expect(worstExcess(times, rate, budgetBurst(rate), leaseMs)).toBeLessThanOrEqual(1);
    // Without the shared budget each worker's own pace (job.writeRequestsPerSecond) would allow far more.
    expect(one.job.writeRequestsPerSecond * 2).toBeGreaterThan(4 * rate);
    // Both ran at once: each restore's puts overlap the other's.
    const span = (snapshotId: string) => {
      const at = writer.puts.filter((p) => p.snapshotId === snapshotId).map((p) => p.atMs);
      return [Math.min(...at), Math.max(...at)] as const;
    };
    const [a, b] = [span(one.job.snapshotId), span(two.job.snapshotId)];
    expect(a[0] < b[1] && b[0] < a[1]).toBe(true);
  }, 30_000);
});
