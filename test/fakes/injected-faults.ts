/**
 * The request faults the fault-injecting wrappers (faulty-job-store.ts, faulty-object-store.ts)
 * throw before a request reaches the store: a throttle, then a 5xx, each at its rate, drawn from
 * the wrapper's seeded generator and counted.
 */
import { RetryableError, ThrottledError, type ErrorContext } from '../../lambdas/core/errors.ts';

export interface RequestFaultNames {
  /** The service's throttling code as the message shows it (`ThrottlingException`, `SlowDown`). */
  readonly throttle: string;
  /** The service's server error as the message shows it. */
  readonly serverError: string;
}

export class InjectedRequestFaults {
  constructor(
    private readonly random: () => number,
    private readonly names: RequestFaultNames,
    /** The wrapper's counters of what was injected. */
    private readonly injected: { throttles: number; serverErrors: number },
  ) {}

  /** Throws a ThrottledError or RetryableError for `what` at the rates given, or returns. */
  before(
    rates: { readonly throttle: number; readonly serverError: number },
    what: string,
    context?: ErrorContext,
  ): void {
    const options = context === undefined ? {} : { context };
    if (this.random() < rates.throttle) {
      this.injected.throttles += 1;
      throw new ThrottledError(`${this.names.throttle} (injected) on ${what}`, options);
    }
    if (this.random() < rates.serverError) {
      this.injected.serverErrors += 1;
      throw new RetryableError(`${this.names.serverError} (injected) on ${what}`, options);
    }
  }
}
