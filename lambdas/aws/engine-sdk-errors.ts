/**
 * SDK errors of the engine's adapters (EBS direct, S3, DynamoDB, EC2) as product errors: throttling
 * and 5xx are retryable, everything else fails fast with the service's reason.
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
} from '../core/errors.ts';

interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly Reason?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $fault?: 'client' | 'server';
}

const THROTTLING = new Set([
  'RequestThrottledException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'SlowDown',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'ServiceQuotaExceededException',
  'ConcurrentLimitExceededException',
]);
const ACCESS = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'Forbidden',
]);
const NOT_FOUND = new Set([
  'ResourceNotFoundException',
  'NoSuchKey',
  'NotFound',
  'NoSuchBucket',
  'ResourceNotFound',
]);
const NETWORK = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);

export function translateEngineError(
  error: unknown,
  operation: string,
  context: ErrorContext = {},
): RbpError {
  if (error instanceof RbpError) return error;
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = shape.name ?? 'UnknownError';
  const status = shape.$metadata?.httpStatusCode ?? 0;
  const reason = shape.Reason;
  const message = `${operation} failed: ${name}${reason === undefined ? '' : ` (${reason})`}: ${shape.message ?? String(error)}`;
  const options = { cause: error, context: { ...context, operation, sdkError: name, httpStatus: status } };
  if (THROTTLING.has(name) || status === 429 || (status === 503 && name !== 'ServiceUnavailable')) {
    return new ThrottledError(message, options);
  }
  if (ACCESS.has(name) || status === 403) return new AccessDeniedError(message, options);
  if (name === 'ResourceNotFoundException' && reason !== undefined)
    return new SnapshotNotFoundError(message, reason, options);
  if (NOT_FOUND.has(name) || name.endsWith('.NotFound') || status === 404)
    return new NotFoundError(message, options);
  if (name === 'ValidationException' && reason !== undefined)
    return new SnapshotValidationError(message, reason, options);
  if (name === 'ConditionalRequestConflict') return new RetryableError(message, options);
  if (name === 'ConflictException') return new ConflictError(message, options);
  if (status >= 500 || shape.$fault === 'server' || NETWORK.has(name)) {
    return new RetryableError(message, options);
  }
  if (name === 'ValidationException' || status === 400) return new ValidationError(message, options);
  // No HTTP answer and a system error code (ECONNRESET, ETIMEDOUT, ...): the network, retry.
  if (status === 0 && typeof shape.code === 'string' && /^E[A-Z]+$/.test(shape.code))
    return new RetryableError(message, options);
  return new PermanentError(message, options);
}

export async function callAws<T>(
  operation: string,
  context: ErrorContext,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translateEngineError(error, operation, context);
  }
}
