/**
 * A token bucket that paces requests: `acquire()` resolves when a token is available. Waiters are
 * served in arrival order. Time comes from an injected monotonic clock so tests can drive it.
 */
import { ValidationError } from '../errors.ts';
import type { Sleep } from './retry.ts';

export interface TokenBucketOptions {
  /** Sustained rate in tokens per second. */
  readonly ratePerSecond: number;
  /** Tokens that may be spent at once after an idle period. */
  readonly burst: number;
  /** Milliseconds from an arbitrary origin; performance.now in production. */
  readonly nowMs: () => number;
  readonly sleep: Sleep;
}

export class TokenBucket {
  private tokens: number;
  private lastRefillMs: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) {
      throw new ValidationError('token bucket needs a positive rate and a burst of at least 1', {
        context: { ratePerSecond: options.ratePerSecond, burst: options.burst },
      });
    }
    this.tokens = options.burst;
    this.lastRefillMs = options.nowMs();
  }

  /** Waits for one token. Callers are served first come, first served. */
  acquire(): Promise<void> {
    const turn = this.queue.then(() => this.takeOne());
    this.queue = turn;
    return turn;
  }

  private refill(): void {
    const now = this.options.nowMs();
    const elapsedMs = Math.max(0, now - this.lastRefillMs);
    this.tokens = Math.min(this.options.burst, this.tokens + (elapsedMs * this.options.ratePerSecond) / 1000);
    this.lastRefillMs = now;
  }

  private async takeOne(): Promise<void> {
    this.refill();
    while (this.tokens < 1) {
      const waitMs = Math.ceil(((1 - this.tokens) * 1000) / this.options.ratePerSecond);
      await this.options.sleep(waitMs);
      this.refill();
    }
    this.tokens -= 1;
  }
}

/** A limiter that never waits, for paths that are not rate limited. */
export const UNLIMITED: Pick<TokenBucket, 'acquire'> = { acquire: () => Promise.resolve() };
