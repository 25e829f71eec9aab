/**
 * Small interfaces that the pure core depends on. Adapters in lambdas/aws and fakes in test/
 * implement them.
 */

/**
 * Random access to the bytes of a volume image (or of a partition within one). Reads past the end
 * are an error; reads of unwritten regions return zeros.
 */
export interface ByteRangeReader {
  /** Size in bytes. */
  readonly size: number;
  /** Exactly `length` bytes starting at `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Time comes only through this port, so tests can freeze it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Fields of a structured log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where a core step reports what it did (Powertools' logger in a Lambda, nothing in tests). */
export interface StepLog {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
}

export const silentLog: StepLog = { info: () => undefined, warn: () => undefined };
