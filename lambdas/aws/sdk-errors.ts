/**
 * The one boundary between AWS SDK errors and the product's error hierarchy (lambdas/core/errors.ts).
 * Every adapter in lambdas/aws calls `callSdk` (or `translateSdkError` in its own catch, after
 * handling the service codes that mean something to it, such as ConditionalCheckFailedException);
 * nothing outside lambdas/aws looks at SDK errors.
 *
 * One table of error codes decides the class. Codes the table does not know are decided by the HTTP
 * status: 429 is throttling, 503 is throttling unless the service said ServiceUnavailable (S3
 * answers SlowDown with 503), other 5xx and server faults are retryable, 403 is a refusal, 404 a
 * missing resource, 400 invalid input, and no HTTP answer with a system error code (ECONNRESET,
 * ETIMEDOUT, ...) is the network, retryable.
 *
 * The fallback for anything else is a PermanentError (not retried). Why: the product's retries (the
 * engine's loop, the state machine's Retry, Lambda's asynchronous retries) are for failures known
 * to clear by themselves; retrying a failure nobody understands multiplies the load and delays the
 * report by minutes, while a new transient code shows in the logs at once (`sdkError` and
 * `httpStatus` are in the error's context) and is added to the table.
 *
 * Service error codes: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html,
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html,
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html,
 * https://docs.aws.amazon.com/ebs/latest/APIReference/CommonErrors.html,
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html.
 */
import { SnapshotNotFoundError, SnapshotValidationError } from '../core/backup/snapshot-ports.ts';
import {
  AccessDeniedError,
  ConflictError,
  NotFoundError,
  PermanentError,
  RbpError,
  RetryableError,
  ThrottledError,
  ValidationError,
  type ErrorContext,
  type RbpErrorOptions,
} from '../core/errors.ts';

interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  /** EBS direct APIs: the reason of a ValidationException or ResourceNotFoundException. */
  readonly Reason?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $fault?: 'client' | 'server';
}

type SdkErrorKind = 'throttled' | 'accessDenied' | 'notFound' | 'invalid' | 'conflict' | 'transient';

/** The one table: service error code → what it means for the product. */
export const SDK_ERROR_CODES: Readonly<Record<string, SdkErrorKind>> = {
  Throttling: 'throttled',
  ThrottlingException: 'throttled',
  ThrottledException: 'throttled',
  RequestThrottledException: 'throttled',
  RequestLimitExceeded: 'throttled',
  TooManyRequestsException: 'throttled',
  SlowDown: 'throttled',
  ProvisionedThroughputExceededException: 'throttled',
  ServiceQuotaExceededException: 'throttled',
  ConcurrentLimitExceededException: 'throttled',
  AccessDenied: 'accessDenied',
  AccessDeniedException: 'accessDenied',
  UnauthorizedOperation: 'accessDenied',
  AuthFailure: 'accessDenied',
  Forbidden: 'accessDenied',
  KMSAccessDeniedException: 'accessDenied',
  ResourceNotFoundException: 'notFound',
  ResourceNotFound: 'notFound',
  NotFoundException: 'notFound',
  NotFound: 'notFound',
  NoSuchKey: 'notFound',
  NoSuchBucket: 'notFound',
  ValidationException: 'invalid',
  InvalidParameterValue: 'invalid',
  InvalidParameterException: 'invalid',
  MissingParameter: 'invalid',
  ConflictException: 'conflict',
  /** Step Functions: the execution cannot be redriven (running, succeeded, past its 14-day window). */
  ExecutionNotRedrivable: 'conflict',
  /** Step Functions: too many open executions; one that ends makes room. */
  ExecutionLimitExceeded: 'throttled',
  /** S3: a concurrent conditional write on the same key; the next attempt sees the winner. */
  ConditionalRequestConflict: 'transient',
  TimeoutError: 'transient',
  RequestTimeout: 'transient',
  RequestTimeoutException: 'transient',
  AbortError: 'transient',
};

/** The context key that marks an error as an SDK failure translated here. */
export const SDK_ERROR_CONTEXT_KEY = 'sdkError';

export function sdkErrorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape).name : undefined;
}

function kindOf(name: string, status: number, shape: SdkErrorShape): SdkErrorKind | undefined {
  const listed = SDK_ERROR_CODES[name];
  if (listed !== undefined) return listed;
  if (name.endsWith('.NotFound')) return 'notFound';
  if (status === 429 || (status === 503 && name !== 'ServiceUnavailable')) return 'throttled';
  if (status === 403) return 'accessDenied';
  if (status === 404) return 'notFound';
  if (status >= 500 || shape.$fault === 'server') return 'transient';
  if (status === 400) return 'invalid';
  if (status === 0 && typeof shape.code === 'string' && /^E[A-Z]+$/.test(shape.code)) return 'transient';
  if (status === 0 && name.startsWith('ECONN')) return 'transient';
  return undefined;
}

/** The product error for an SDK failure of `operation`; product errors pass through unchanged. */
export function translateSdkError(error: unknown, operation: string, context: ErrorContext = {}): RbpError {
  if (error instanceof RbpError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = shape.name ?? 'UnknownError';
  const status = shape.$metadata?.httpStatusCode ?? 0;
  const reason = shape.Reason;
  const message = `${operation} failed: ${name}${reason === undefined ? '' : ` (${reason})`}: ${shape.message ?? String(error)}`;
  const options: RbpErrorOptions = {
    cause: error,
    context: { ...context, operation, [SDK_ERROR_CONTEXT_KEY]: name, httpStatus: status },
  };
  switch (kindOf(name, status, shape)) {
    case 'throttled':
      return new ThrottledError(message, options);
    case 'accessDenied':
      return new AccessDeniedError(message, options);
    case 'notFound':
      return name === 'ResourceNotFoundException' && reason !== undefined
        ? new SnapshotNotFoundError(message, reason, options)
        : new NotFoundError(message, options);
    case 'invalid':
      return name === 'ValidationException' && reason !== undefined
        ? new SnapshotValidationError(message, reason, options)
        : new ValidationError(message, options);
    case 'conflict':
      return new ConflictError(message, options);
    case 'transient':
      return new RetryableError(message, options);
    case undefined:
      return new PermanentError(message, options);
  }
}

/** Runs one SDK call; its failure leaves as a product error. */
export async function callSdk<T>(
  operation: string,
  context: ErrorContext,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translateSdkError(error, operation, context);
  }
}

/**
 * A conditional DynamoDB write: true when it was written, false when DynamoDB refused its
 * condition (ConditionalCheckFailedException); any other failure leaves as the product error of
 * `operation` (translateSdkError).
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html
 */
export async function conditionalWrite(
  operation: string,
  context: ErrorContext,
  write: () => Promise<unknown>,
): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    if (sdkErrorName(error) === 'ConditionalCheckFailedException') return false;
    throw translateSdkError(error, operation, context);
  }
}

/**
 * The API's rule, applied once where the API maps errors to answers: an SDK failure that retrying
 * cannot clear (a missing table, bucket, state machine or function, an access denied to the API's
 * own role, a request the service refused) is the deployment's fault, so it is a PermanentError
 * (HTTP 500), never a 404/403/400 that blames the caller. Throttling and outages keep their class
 * (429/503). Errors that are not SDK failures (a missing image, a bad request) pass unchanged.
 */
export function asApiError(error: unknown): unknown {
  const ownFault =
    error instanceof RbpError &&
    !error.retryable &&
    error.context[SDK_ERROR_CONTEXT_KEY] !== undefined &&
    error.constructor !== PermanentError;
  return ownFault ? new PermanentError(error.message, { cause: error, context: error.context }) : error;
}
