/**
 * Retries with exponential backoff and full jitter (the AWS Architecture Blog scheme:
 * sleep = random(0, min(cap, base * 2^attempt))). Only errors the predicate accepts are retried;
 * by default that is RbpError.retryable (throttling, 5xx, timeouts, checksum mismatches).
 * SDK clients run with maxAttempts 1, so this is the only retry loop.
 */
import { isRetryable } from '../errors.ts';

/** First backoff ceiling: S3 and EBS throttles clear within tens to hundreds of milliseconds. */
export const RETRY_BASE_DELAY_MS = 100;
/** Backoff ceiling: longer sleeps waste Lambda time; ten attempts already span about 30 s. */
export const RETRY_MAX_DELAY_MS = 5_000;
/** Attempts per request: enough to ride out 20% throttling with a vanishing failure rate. */
export const RETRY_MAX_ATTEMPTS = 10;

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly sleep: Sleep;
  /** A number in [0, 1): Math.random in production, a seeded generator in tests. */
  readonly random: () => number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: RETRY_MAX_ATTEMPTS,
  baseDelayMs: RETRY_BASE_DELAY_MS,
  maxDelayMs: RETRY_MAX_DELAY_MS,
  sleep: realSleep,
  random: Math.random,
};

/** Counts attempts that were retried, for summaries and tests. */
export interface RetryObserver {
  onRetry?(error: unknown, attempt: number): void;
}

export interface RetryOptions extends RetryObserver {
  /** Decides whether `error` on attempt `attempt` (1-based) may be retried. */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean;
}

export function backoffDelayMs(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(policy.random() * ceiling);
}

export async function withRetry<T>(
  policy: RetryPolicy,
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const shouldRetry = options.shouldRetry ?? ((error: unknown) => isRetryable(error));
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= policy.maxAttempts || !shouldRetry(error, attempt)) throw error;
      options.onRetry?.(error, attempt);
      await policy.sleep(backoffDelayMs(policy, attempt));
    }
  }
}
