/**
 * The account-wide request budget: one token bucket per EBS direct API family (List*,
 * GetSnapshotBlock, PutSnapshotBlock), stored as one item in the product's table and shared by
 * every range worker of every backup and restore that runs at once. EBS meters these APIs per
 * account and Region (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-resource-quotas.html),
 * so ten servers scheduled at the same minute must draw from one budget, not from ten.
 *
 * A worker claims a small batch of tokens at a time with one conditional write (compare the
 * bucket's version, write the refilled and debited state) and spends them locally. A claimed batch
 * is a lease: tokens not spent within `leaseMs` of the claim are dropped, so a worker that crashes,
 * stalls or is frozen between invocations can never spend old tokens later; the bucket itself has
 * nothing to release, it refills with time. Over any window of `w` ms the requests sent are at most
 * `burst + rate * (w + leaseMs) / 1000` (the grants over the window plus the leases granted just
 * before it), whatever the number of workers (docs/scale.md).
 */
import { ValidationError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import type { Sleep } from '../util/retry.ts';

export type RequestFamily = 'list' | 'get-block' | 'put-block';

/**
 * Requests per second of each family for the whole account, by default: List* 40 of the 50/s quota
 * that cannot be raised; GetSnapshotBlock and PutSnapshotBlock 800 of their default 1,000/s account
 * quotas. The rest is left to other tools of the account (DRS, AWS Backup, a vendor's agent).
 */
export const ACCOUNT_REQUEST_BUDGETS: Readonly<Record<RequestFamily, number>> = {
  list: 40,
  'get-block': 800,
  'put-block': 800,
};

/** Bucket depth in seconds of its rate: a quarter second keeps a burst well under EBS's own slack. */
export const BUDGET_BURST_SECONDS = 0.25;
/** A worker claims this many seconds of its own pace at once: few table writes, short-lived leases. */
export const BUDGET_CLAIM_SECONDS = 0.25;
/** Claimed tokens expire after this long: long enough to spend a claim, short enough to bound a burst. */
export const BUDGET_LEASE_MS = 1_000;
/** Lost compare-and-set races in a row before a claim backs off like an empty bucket. */
export const BUDGET_MAX_CONFLICTS = 5;
/** Upper bound of the random pause after a lost race, so contending workers spread out. */
export const BUDGET_CONFLICT_PAUSE_MS = 20;

/** The stored bucket. `version` increases with every write (compare-and-set). */
export interface BudgetBucketState {
  readonly tokens: number;
  /** Clock time (ms since the epoch) the tokens were last refilled to. */
  readonly refilledAtMs: number;
  readonly version: number;
}

/** Where the shared buckets live (DynamoDB in production, memory in tests). */
export interface BudgetBucketStore {
  /** The bucket, strongly consistent; undefined before its first claim. */
  read(family: RequestFamily): Promise<BudgetBucketState | undefined>;
  /**
   * Writes `next` if the stored version is still `expectedVersion` (undefined: no bucket yet).
   * False when another worker wrote first.
   */
  swap(family: RequestFamily, expectedVersion: number | undefined, next: BudgetBucketState): Promise<boolean>;
}

export interface SharedBudgetOptions {
  readonly family: RequestFamily;
  /** Sustained requests per second of the family, all workers together. */
  readonly ratePerSecond: number;
  /** Tokens one claim takes at most (this worker's pace times BUDGET_CLAIM_SECONDS). */
  readonly claimSize: number;
  readonly clock: Clock;
  readonly sleep: Sleep;
  /** A number in [0, 1). */
  readonly random: () => number;
  readonly burst?: number;
  readonly leaseMs?: number;
}

/** What a worker's budget did, for its summary and metrics. */
export interface BudgetCounters {
  /** Successful claims (table writes). */
  claims: number;
  tokensClaimed: number;
  /** Claimed tokens dropped because their lease ran out. */
  tokensExpired: number;
  /** Compare-and-set races lost to another worker. */
  conflicts: number;
  /** Milliseconds spent waiting for the bucket to refill. */
  waitedMs: number;
}

/** The bucket's depth for a rate: BUDGET_BURST_SECONDS of it, at least one token. */
export function budgetBurst(ratePerSecond: number): number {
  return Math.max(1, Math.floor(ratePerSecond * BUDGET_BURST_SECONDS));
}

/** One claim's size for a worker that paces itself at `workerRatePerSecond`. */
export function budgetClaimSize(workerRatePerSecond: number, budgetRatePerSecond: number): number {
  return Math.max(
    1,
    Math.min(budgetBurst(budgetRatePerSecond), Math.floor(workerRatePerSecond * BUDGET_CLAIM_SECONDS)),
  );
}

/** A worker's handle on one family's shared bucket: `acquire()` resolves when a request may go. */
export class SharedRequestBudget {
  readonly counters: BudgetCounters = {
    claims: 0,
    tokensClaimed: 0,
    tokensExpired: 0,
    conflicts: 0,
    waitedMs: 0,
  };
  private local = 0;
  private leaseEndsAtMs = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly burst: number;
  private readonly leaseMs: number;

  constructor(
    private readonly store: BudgetBucketStore,
    private readonly options: SharedBudgetOptions,
  ) {
    this.burst = options.burst ?? budgetBurst(options.ratePerSecond);
    this.leaseMs = options.leaseMs ?? BUDGET_LEASE_MS;
    if (
      !(options.ratePerSecond > 0) ||
      !(this.burst >= 1) ||
      !Number.isInteger(options.claimSize) ||
      options.claimSize < 1 ||
      options.claimSize > this.burst ||
      !(this.leaseMs > 0)
    ) {
      throw new ValidationError(
        'a shared request budget needs a positive rate, a burst of at least 1, a claim of 1..burst and a positive lease',
        {
          context: {
            family: options.family,
            ratePerSecond: options.ratePerSecond,
            burst: this.burst,
            claimSize: options.claimSize,
            leaseMs: this.leaseMs,
          },
        },
      );
    }
  }

  /** Waits for one token of the shared budget. Callers of this handle are served in arrival order. */
  acquire(): Promise<void> {
    const turn = this.queue.then(() => this.takeOne());
    this.queue = turn;
    return turn;
  }

  private nowMs(): number {
    return this.options.clock.now().getTime();
  }

  private async takeOne(): Promise<void> {
    for (;;) {
      const now = this.nowMs();
      if (this.local > 0 && now >= this.leaseEndsAtMs) {
        this.counters.tokensExpired += this.local;
        this.local = 0;
      }
      if (this.local > 0) {
        this.local -= 1;
        return;
      }
      const claim = await this.claim();
      if (claim.granted > 0) {
        this.local = claim.granted;
        this.leaseEndsAtMs = claim.atMs + this.leaseMs;
        continue;
      }
      this.counters.waitedMs += claim.waitMs;
      await this.options.sleep(claim.waitMs);
    }
  }

  /** One claim: up to claimSize tokens, or how long to wait before the bucket has one. */
  private async claim(): Promise<{ granted: number; atMs: number; waitMs: number }> {
    const { ratePerSecond, claimSize, family } = this.options;
    for (let conflicts = 0; conflicts < BUDGET_MAX_CONFLICTS; conflicts += 1) {
      const stored = await this.store.read(family);
      const now = this.nowMs();
      // A clock behind the stored one refills nothing (never twice for the same interval).
      const refilledAtMs = Math.max(now, stored?.refilledAtMs ?? now);
      const elapsedMs = stored === undefined ? 0 : Math.max(0, now - stored.refilledAtMs);
      const tokens =
        stored === undefined
          ? this.burst
          : Math.min(this.burst, stored.tokens + (elapsedMs * ratePerSecond) / 1000);
      // A whole claim or nothing: one table write per claim, never one per request under contention.
      const take = claimSize;
      if (tokens < take) {
        const waitMs = Math.ceil(((take - tokens) * 1000) / ratePerSecond);
        // Some jitter so the workers that found it short do not all come back at once.
        return { granted: 0, atMs: now, waitMs: waitMs + Math.floor(this.options.random() * waitMs) };
      }
      const next = { tokens: tokens - take, refilledAtMs, version: (stored?.version ?? 0) + 1 };
      if (await this.store.swap(family, stored?.version, next)) {
        this.counters.claims += 1;
        this.counters.tokensClaimed += take;
        return { granted: take, atMs: now, waitMs: 0 };
      }
      this.counters.conflicts += 1;
      await this.options.sleep(Math.floor(this.options.random() * BUDGET_CONFLICT_PAUSE_MS));
    }
    return {
      granted: 0,
      atMs: this.nowMs(),
      waitMs: Math.ceil(1000 / ratePerSecond) + Math.floor(this.options.random() * BUDGET_CONFLICT_PAUSE_MS),
    };
  }
}

/** Paces through every pacer in turn: this worker's own share first, then the account's budget. */
export function allPacers(...pacers: readonly { acquire(): Promise<void> }[]): { acquire(): Promise<void> } {
  return {
    acquire: async () => {
      for (const pacer of pacers) await pacer.acquire();
    },
  };
}
