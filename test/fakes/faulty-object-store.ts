/**
 * A fault-injecting ObjectStore wrapper (kopia's NewFaultyStorage): throttles, 5xx and
 * "written but the answer was lost" failures at seeded random, so retries and idempotency are
 * exercised against any implementation.
 */
import { RetryableError } from '../../lambdas/core/errors.ts';
import { InjectedRequestFaults } from './injected-faults.ts';
import { seededRandom } from '../../local/seeded-random.ts';
import type {
  ObjectStore,
  PutIfAbsentResult,
  PutObjectRequest,
} from '../../lambdas/core/store/object-store.ts';

export interface ObjectStoreFaults {
  /** Probability that a request fails with a throttle before reaching the store. */
  readonly throttleRate?: number;
  /** Probability that a request fails with a 5xx before reaching the store. */
  readonly serverErrorRate?: number;
  /** Probability that a PUT reaches the store but its answer is lost (a 5xx after the write). */
  readonly lostAnswerRate?: number;
}

/** The seeded generator of the fakes' faults (local/seeded-random.ts), for the tests that import it from here. */
export { seededRandom };

export class FaultyObjectStore implements ObjectStore {
  readonly injected = { throttles: 0, serverErrors: 0, lostAnswers: 0 };
  private readonly random: () => number;
  private readonly requestFaults: InjectedRequestFaults;

  constructor(
    private readonly inner: ObjectStore,
    private readonly faults: ObjectStoreFaults,
    seed = 1,
  ) {
    this.random = seededRandom(seed);
    this.requestFaults = new InjectedRequestFaults(
      this.random,
      { throttle: 'SlowDown', serverError: 'InternalError 500' },
      this.injected,
    );
  }

  private before(operation: string, key: string): void {
    this.requestFaults.before(
      { throttle: this.faults.throttleRate ?? 0, serverError: this.faults.serverErrorRate ?? 0 },
      `${operation} ${key}`,
      { key },
    );
  }

  async putIfAbsent(request: PutObjectRequest): Promise<PutIfAbsentResult> {
    this.before('PUT', request.key);
    const result = await this.inner.putIfAbsent(request);
    if (this.random() < (this.faults.lostAnswerRate ?? 0)) {
      this.injected.lostAnswers += 1;
      throw new RetryableError(`503 after write (injected) on PUT ${request.key}`, {
        context: { key: request.key },
      });
    }
    return result;
  }

  async replace(request: PutObjectRequest): Promise<void> {
    if (this.inner.replace === undefined) throw new Error('the inner store cannot replace');
    this.before('PUT', request.key);
    await this.inner.replace(request);
    if (this.random() < (this.faults.lostAnswerRate ?? 0)) {
      this.injected.lostAnswers += 1;
      throw new RetryableError(`503 after write (injected) on PUT ${request.key}`, {
        context: { key: request.key },
      });
    }
  }

  async get(key: string): Promise<Uint8Array> {
    this.before('GET', key);
    return this.inner.get(key);
  }

  async list(prefix: string): Promise<string[]> {
    this.before('LIST', prefix);
    return this.inner.list(prefix);
  }
}
