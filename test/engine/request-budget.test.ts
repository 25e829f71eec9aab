/**
 * The account-wide request budget (lambdas/core/store/request-budget.ts):
 * - properties in virtual time, many workers racing on one bucket: never more requests over any
 *   window than the budget allows (burst + rate × (window + lease)), whatever the workers do
 *   (think times, crashes holding claimed tokens, freezes longer than a lease); the rate is used
 *   (≥ 0.9 of it when demand exceeds it) and shared fairly; a crashed worker's tokens are not lost
 *   for longer than its lease;
 * - the DynamoDB adapter on moto against the in-memory store (the same compare-and-set answers);
 * - several whole backups at once in process, every range worker drawing from one budget: the
 *   GetSnapshotBlock rate of all of them together stays within it, and every image is byte-equal to
 *   its volume.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoDbRequestBudgetStore } from '../../lambdas/aws/dynamodb-request-budget.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import type { SnapshotBlockReader } from '../../lambdas/core/backup/snapshot-ports.ts';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { systemClock, type Clock } from '../../lambdas/core/ports.ts';
import {
  BUDGET_LEASE_MS,
  SharedRequestBudget,
  allPacers,
  budgetBurst,
  budgetClaimSize,
  type BudgetBucketStore,
} from '../../lambdas/core/store/request-budget.ts';
import { realSleep, type Sleep } from '../../lambdas/core/util/retry.ts';
import { TokenBucket } from '../../lambdas/core/util/token-bucket.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { MemoryEbs } from '../fakes/memory-ebs.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';
import { MemoryRequestBudgetStore } from '../fakes/memory-request-budget-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { fastRetry, noPacing } from './engine-fixture.ts';
import { worstExcess } from '../support/request-rate.ts';

const B = EBS_BLOCK_SIZE_BYTES;
/** Where the i-th test block goes: odd ones in the second 1 GiB range, none adjacent. */
const blockOf = (i: number): number => i * 17 + (i % 2) * 2048;

/** Virtual time: sleeps resolve in time order when every worker is blocked; nothing waits for real. */
class VirtualTime {
  ms = 1_780_000_000_000;
  private seq = 0;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];
  readonly clock: Clock = { now: () => new Date(this.ms) };
  readonly sleep: Sleep = (ms) =>
    new Promise((resolve) => {
      this.timers.push({ at: this.ms + Math.max(0, ms), seq: (this.seq += 1), resolve });
    });

  /** Runs until `done` settles: flush pending work, then move to the next timer. */
  async run(done: Promise<unknown>): Promise<void> {
    let settled = false;
    void done.finally(() => (settled = true));
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return;
      if (this.timers.length === 0)
        throw new Error('virtual time: every worker is blocked and no timer is set');
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.ms = Math.max(this.ms, next.at);
      next.resolve();
    }
  }
}

/** A seeded [0, 1) generator (mulberry32) so a failing case replays. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface WorkerPlan {
  readonly requests: number;
  /** Pause after each request, ms (0: back to back). */
  readonly thinkMs: number;
  /** Stop for good after this many requests, holding whatever it claimed (a crash). */
  readonly crashAfter?: number;
  /** After this many requests, freeze for freezeMs (longer than a lease), then go on. */
  readonly freezeAfter?: number;
  readonly freezeMs: number;
}

function budgetOf(
  store: BudgetBucketStore,
  time: VirtualTime,
  rate: number,
  claimSize: number,
  seed: number,
): SharedRequestBudget {
  return new SharedRequestBudget(store, {
    family: 'get-block',
    ratePerSecond: rate,
    claimSize,
    clock: time.clock,
    sleep: time.sleep,
    random: seededRandom(seed),
  });
}

async function runWorkers(
  time: VirtualTime,
  budgets: readonly SharedRequestBudget[],
  plans: readonly WorkerPlan[],
): Promise<number[][]> {
  const times: number[][] = plans.map(() => []);
  const all = Promise.all(
    plans.map(async (plan, w) => {
      for (let i = 0; i < plan.requests; i += 1) {
        if (plan.crashAfter !== undefined && i >= plan.crashAfter) return;
        if (plan.freezeAfter === i) await time.sleep(plan.freezeMs);
        await budgets[w]!.acquire();
        times[w]!.push(time.ms);
        if (plan.thinkMs > 0) await time.sleep(plan.thinkMs);
      }
    }),
  );
  await time.run(all);
  await all;
  return times;
}

describe('shared request budget (virtual time)', () => {
  it('never lets all workers together send more than burst + rate × (window + lease) in any window', async () => {
    const workerPlan = fc.record({
      requests: fc.integer({ min: 0, max: 120 }),
      thinkMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
      crashAfter: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
      freezeAfter: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
      freezeMs: fc.integer({ min: BUDGET_LEASE_MS, max: 5 * BUDGET_LEASE_MS }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 4, max: 400 }),
        fc.array(workerPlan, { minLength: 1, maxLength: 10 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer(),
        async (rate, plans, claimPercent, seed) => {
          const time = new VirtualTime();
          const store = new MemoryRequestBudgetStore();
          const burst = budgetBurst(rate);
          const claimSize = Math.max(1, Math.floor((burst * claimPercent) / 100));
          const budgets = plans.map((_, w) => budgetOf(store, time, rate, claimSize, seed + w));
          const times = (await runWorkers(time, budgets, plans)).flat();
          expect(times.length).toBe(
            plans.reduce(
              (sum, p) =>
                sum + (p.crashAfter === undefined ? p.requests : Math.min(p.requests, p.crashAfter)),
              0,
            ),
          );
          expect(worstExcess(times, rate, burst, BUDGET_LEASE_MS)).toBeLessThanOrEqual(1e-9);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('uses at least 0.9 of the rate when demand exceeds it, and shares it fairly among the workers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 20, max: 800 }),
        fc.integer({ min: 2, max: 12 }),
        fc.integer(),
        async (rate, workers, seed) => {
          const time = new VirtualTime();
          const store = new MemoryRequestBudgetStore();
          const perWorker = rate / workers;
          const claimSize = budgetClaimSize(perWorker, rate);
          const budgets = Array.from({ length: workers }, (_, w) =>
            budgetOf(store, time, rate, claimSize, seed + w),
          );
          const seconds = 20;
          const start = time.ms;
          const counts = Array.from({ length: workers }, () => 0);
          const all = Promise.all(
            budgets.map(async (budget, w) => {
              while (time.ms - start < seconds * 1000) {
                await budget.acquire();
                counts[w]! += 1;
              }
            }),
          );
          await time.run(all);
          const total = counts.reduce((a, b) => a + b, 0);
          expect(total).toBeGreaterThanOrEqual(0.9 * rate * seconds);
          expect(total).toBeLessThanOrEqual(
            budgetBurst(rate) + rate * seconds + (rate * BUDGET_LEASE_MS) / 1000,
          );
          // Fair enough: nobody gets less than half an equal share.
          expect(Math.min(...counts)).toBeGreaterThanOrEqual(0.5 * (total / workers));
        },
      ),
      { numRuns: 25 },
    );
  });

  it('survives a crashed worker: its claimed tokens are gone after one lease and the others take the whole rate', async () => {
    const time = new VirtualTime();
    const store = new MemoryRequestBudgetStore();
    const rate = 200;
    const claimSize = budgetClaimSize(rate / 4, rate);
    const budgets = [0, 1, 2, 3].map((w) => budgetOf(store, time, rate, claimSize, w + 1));
    const start = time.ms;
    const sent: number[] = [];
    const crashed = budgets[0]!;
    const all = Promise.all(
      budgets.map(async (budget, w) => {
        if (w === 0) {
          // Worker 0 claims, sends one request and crashes, holding the rest of its claim.
          await budget.acquire();
          return;
        }
        await time.sleep(1);
        for (;;) {
          if (time.ms - start >= 12_000) return;
          await budget.acquire();
          sent.push(time.ms - start);
        }
      }),
    );
    await time.run(all);
    expect(crashed.counters).toMatchObject({ claims: 1, tokensClaimed: claimSize });
    const after = sent.filter((t) => t >= BUDGET_LEASE_MS && t < 10 * BUDGET_LEASE_MS).length;
    expect(after).toBeGreaterThanOrEqual(0.9 * rate * 9);
    expect(after).toBeLessThanOrEqual(budgetBurst(rate) + rate * 9 + (rate * BUDGET_LEASE_MS) / 1000);
  });

  it('drops the tokens of a worker frozen past its lease instead of spending them late', async () => {
    const time = new VirtualTime();
    const store = new MemoryRequestBudgetStore();
    const budget = budgetOf(store, time, 100, 10, 3);
    await time.run(budget.acquire());
    expect(budget.counters).toMatchObject({ claims: 1, tokensClaimed: 10, tokensExpired: 0 });
    const frozen = time.sleep(BUDGET_LEASE_MS);
    await time.run(frozen);
    await time.run(budget.acquire());
    expect(budget.counters).toMatchObject({ claims: 2, tokensClaimed: 20, tokensExpired: 9 });
    // The bucket paid for both claims: 25 tokens deep, 10 + 10 taken, 1 s at 100/s refilled in between.
    expect(store.buckets.get('get-block')?.version).toBe(2);
  });

  it('refuses settings that could not keep the bound', () => {
    const time = new VirtualTime();
    const store = new MemoryRequestBudgetStore();
    expect(() => budgetOf(store, time, 100, budgetBurst(100) + 1, 1)).toThrow(
      'a shared request budget needs a positive rate, a burst of at least 1, a claim of 1..burst and a positive lease',
    );
    expect(() => budgetOf(store, time, 0, 1, 1)).toThrow('a shared request budget needs a positive rate');
  });
});

const local = useLocalStack();
const clients: DynamoDBDocumentClient[] = [];
afterAll(() => clients.forEach((c) => c.destroy()));

describe.each([
  ['in-memory', (): Promise<BudgetBucketStore> => Promise.resolve(new MemoryRequestBudgetStore())],
  [
    'DynamoDB (moto)',
    async (): Promise<BudgetBucketStore> => {
      const table = `budget-${clients.length}`;
      const client = await createCatalogTable(local.clientConfig(), table);
      clients.push(client);
      return new DynamoDbRequestBudgetStore(client, table);
    },
  ],
])('budget bucket store contract: %s', (_label, makeStore) => {
  it('creates a bucket once, swaps only from the version it read, and reads back what was written', async () => {
    const store = await makeStore();
    expect(await store.read('list')).toBeUndefined();
    expect(await store.swap('list', undefined, { tokens: 9.5, refilledAtMs: 1_000, version: 1 })).toBe(true);
    expect(await store.swap('list', undefined, { tokens: 1, refilledAtMs: 2_000, version: 1 })).toBe(false);
    expect(await store.read('list')).toEqual({ tokens: 9.5, refilledAtMs: 1_000, version: 1 });
    expect(await store.swap('list', 0, { tokens: 3, refilledAtMs: 3_000, version: 1 })).toBe(false);
    expect(await store.swap('list', 1, { tokens: 3.25, refilledAtMs: 3_000, version: 2 })).toBe(true);
    expect(await store.read('list')).toEqual({ tokens: 3.25, refilledAtMs: 3_000, version: 2 });
    // Families are separate buckets.
    expect(await store.read('put-block')).toBeUndefined();
  });

  it('lets concurrent workers on real time grant no more than the budget allows', async () => {
    const store = await makeStore();
    const rate = 40;
    const budgets = [1, 2, 3, 4].map(
      (seed) =>
        new SharedRequestBudget(store, {
          family: 'get-block',
          ratePerSecond: rate,
          claimSize: budgetClaimSize(rate / 4, rate),
          clock: systemClock,
          sleep: realSleep,
          random: seededRandom(seed),
        }),
    );
    const times: number[] = [];
    const stopAt = Date.now() + 2_000;
    await Promise.all(
      budgets.map(async (budget) => {
        while (Date.now() < stopAt) {
          await budget.acquire();
          times.push(Date.now());
        }
      }),
    );
    expect(times.length).toBeGreaterThan(0);
    expect(worstExcess(times, rate, budgetBurst(rate), BUDGET_LEASE_MS)).toBeLessThanOrEqual(0);
  }, 60_000);
});

/** Records when each GetSnapshotBlock went out. */
function timedReads(ebs: MemoryEbs, times: number[]): SnapshotBlockReader {
  return {
    listSnapshotBlocks: (r) => ebs.listSnapshotBlocks(r),
    listChangedBlocks: (r) => ebs.listChangedBlocks(r),
    getSnapshotBlock: (r) => {
      times.push(Date.now());
      return ebs.getSnapshotBlock(r);
    },
  };
}

describe('several backups at once under one account budget', () => {
  it('keeps the GetSnapshotBlock rate of all their range workers together within the budget; every image is byte-equal', async () => {
    const rate = 60;
    const volumes = 4;
    const blocksPerVolume = 30;
    const workersPerBackup = 2;
    const perSnapshotRate = 100;
    const store = new MemoryRequestBudgetStore();
    const ebs = new MemoryEbs();
    const times: number[] = [];
    const reader = timedReads(ebs, times);
    const images = new ImageStore(new MemoryObjectStore(), { retry: fastRetry() });
    const records = new MemoryImageRecordStore();
    const snapshots: string[] = [];
    for (let v = 0; v < volumes; v += 1) {
      ebs.createVolume(`vol-${v}`, 2);
      // Blocks spread over the volume's two ranges (1 GiB each), each with its own content.
      for (let i = 0; i < blocksPerVolume; i += 1) {
        const block = Buffer.alloc(B, `${v}:${i}:`);
        ebs.write(`vol-${v}`, blockOf(i) * B, block);
      }
      snapshots.push(ebs.createSnapshot(`vol-${v}`));
    }
    const started = Date.now();
    const results = await Promise.all(
      snapshots.map((snapshotId, v) => {
        // Each worker: its share of the per-snapshot budget, then the account's shared budget.
        const shared = new SharedRequestBudget(store, {
          family: 'get-block',
          ratePerSecond: rate,
          claimSize: budgetClaimSize(perSnapshotRate / workersPerBackup, rate),
          clock: systemClock,
          sleep: realSleep,
          random: seededRandom(v + 1),
        });
        const own = new TokenBucket({
          ratePerSecond: perSnapshotRate,
          burst: 10,
          nowMs: () => performance.now(),
          sleep: realSleep,
        });
        return runBackup(
          { ebs: reader, images, records, readPacer: allPacers(own, shared), listPacer: noPacing },
          {
            volumeId: `vol-${v}`,
            imageId: `img-${v}`,
            snapshotId,
            volumeSizeGib: 2,
            createdAt: '2026-12-03T02:00:00.000Z',
            rangeSegments: 1,
            rangeWorkers: workersPerBackup,
            worker: { retry: fastRetry() },
          },
        );
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(times.length).toBe(volumes * blocksPerVolume);
    expect(worstExcess(times, rate, budgetBurst(rate), BUDGET_LEASE_MS)).toBeLessThanOrEqual(0);
    // Four backups at 100/s each would take 0.3 s without the account budget; with it, at least 1.25 s.
    expect(seconds).toBeGreaterThanOrEqual(
      (volumes * blocksPerVolume - budgetBurst(rate) - (rate * BUDGET_LEASE_MS) / 1000) / rate,
    );
    for (let v = 0; v < volumes; v += 1) {
      const image = new ImageReader(images, results[v]!.manifest);
      expect(image.size).toBe(2 * GIB_BYTES);
      const blocks = ebs.snapshotBlocks(snapshots[v]!);
      expect(blocks.size).toBe(blocksPerVolume);
      // Every written block, and the unwritten block after each, read back exactly.
      for (const index of [...blocks.keys()].flatMap((i) => [i, i + 1])) {
        const expected = blocks.get(index) ?? Buffer.alloc(B);
        expect(Buffer.from(await image.read(index * B, B)).equals(expected)).toBe(true);
      }
    }
  }, 60_000);
});
