/**
 * The error hierarchy of the product. Every error says whether retrying the same operation can
 * succeed (`retryable`), carries the context needed to act on it at 3 a.m. (`context`), and keeps
 * its `cause`. Adapters translate SDK errors into these at the edge; handlers map them to HTTP
 * answers or to Step Functions error names (the class `name`).
 */
export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RbpErrorOptions {
  readonly cause?: unknown;
  readonly context?: ErrorContext;
}

export abstract class RbpError extends Error {
  /** True when the same request may succeed if tried again later (throttling, 5xx, races). */
  abstract readonly retryable: boolean;
  readonly context: ErrorContext;

  constructor(message: string, options: RbpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.context = options.context ?? {};
  }
}

/**
 * A failure that the same request will hit again: bad input, a missing object, a refused
 * permission, a state that forbids the operation. Never retried.
 */
export class PermanentError extends RbpError {
  readonly retryable = false;
}

/** A failure that may clear by itself: throttling, 5xx, a timeout, a concurrent writer. */
export class RetryableError extends RbpError {
  readonly retryable = true;
}

/** Input that does not satisfy a schema or an invariant. Maps to HTTP 400. */
export class ValidationError extends PermanentError {}

/** One problem of a document (a plan, a workflow): the dotted path of the field and what is wrong. */
export interface DocumentIssue {
  readonly field: string;
  readonly message: string;
}

/**
 * A document that fails its schema or its cross-field rules; `issues` lists every problem at
 * once, so an operator fixes a document in one round trip. Maps to HTTP 400 with the issues.
 */
export class DocumentValidationError extends ValidationError {
  constructor(
    message: string,
    readonly issues: readonly DocumentIssue[],
    options: RbpErrorOptions = {},
  ) {
    super(message, options);
  }
}

/** The named thing does not exist. Maps to HTTP 404. */
export class NotFoundError extends PermanentError {}

/** The request conflicts with current state (a backup already running). Maps to HTTP 409. */
export class ConflictError extends PermanentError {}

/**
 * Data read back does not match its checksum or its declared length. Retryable on purpose: a
 * mismatch is most often a torn or truncated transfer, or a read racing a writer, and reading again
 * clears it; data that is corrupt at rest fails again on every retry and ends as a failure once the
 * retries are spent (the state machine's and the engine's retry limits are bounded).
 */
export class IntegrityError extends RetryableError {}

/**
 * A stored object that failed verification on every one of its re-reads: it is corrupt at rest,
 * and no retry of the operation can help. Never retried, so a restore that meets it fails at once,
 * naming the object.
 */
export class CorruptObjectError extends PermanentError {}

/** The caller lacks permission (IAM, KMS). Never retried. */
export class AccessDeniedError extends PermanentError {}

/** Too many requests; back off and retry. */
export class ThrottledError extends RetryableError {}

/**
 * A backup's commit meets a garbage collection holding its fence (lifecycle/commit-gate.ts): the
 * image waits for the collection to end. Not a failure: the state machine retries it on its own
 * long schedule (statemachines/backup.asl.json, Commit Image), and the step handler counts it as
 * waiting (STEP_WAITING_METRIC), never as an error.
 */
export class CollectionInProgressError extends RetryableError {
  /** The collection's start (ISO-8601), when its fence records it: how long the fence has been held. */
  readonly fenceStartedAt: string | undefined;

  constructor(
    readonly imageId: string,
    readonly runId: string | undefined,
    fenceStartedAt: string | undefined,
    options: Pick<RbpErrorOptions, 'context'> = {},
  ) {
    super(
      `image ${imageId} waits for garbage collection ${runId ?? '(unknown run)'} (started at ${fenceStartedAt ?? 'an unknown time'}) to finish before it commits`,
      { context: { imageId, runId, fenceStartedAt, ...options.context } },
    );
    this.fenceStartedAt = fenceStartedAt;
  }
}

export function isRetryable(error: unknown): boolean {
  return error instanceof RbpError && error.retryable;
}

/** A message that includes the chain of causes, for logs and API answers. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth += 1) {
    parts.push(current instanceof Error ? current.message : JSON.stringify(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}

/** How a job (a restore, a backup step) records a permanent failure for whoever polls it. */
export interface JobFailure {
  readonly reason: string;
  readonly errorName: string;
}

export function jobFailureOf(error: unknown): JobFailure {
  return { reason: describeError(error), errorName: error instanceof Error ? error.name : 'Error' };
}
