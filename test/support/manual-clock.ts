import type { Clock } from '../../lambdas/core/ports.ts';

/** A clock that moves only when a test says so: rate caps per clock second and delays become exact. */
export class ManualClock implements Clock {
  constructor(private ms = Date.UTC(2026, 0, 1)) {}
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}
