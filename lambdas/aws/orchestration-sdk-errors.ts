/**
 * Translation of AWS SDK errors raised by the orchestration adapters (EC2, DynamoDB lock,
 * EventBridge, SNS, DRS) into the product's error hierarchy, so the state machine can tell what
 * to retry. Service-specific codes are mapped by the adapters first; this is the common fallback.
 */
import {
  AccessDeniedError,
  NotFoundError,
  RetryableError,
  ThrottledError,
  ValidationError,
  type ErrorContext,
  type RbpError,
} from '../core/errors.ts';

interface SdkErrorShape {
  readonly name?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $fault?: 'client' | 'server';
  readonly $retryable?: unknown;
}

const THROTTLING_CODES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestThrottledException',
  'SlowDown',
]);
const ACCESS_CODES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthFailure',
  'KMSAccessDeniedException',
]);
const VALIDATION_CODES = new Set([
  'ValidationException',
  'InvalidParameterValue',
  'InvalidParameterException',
  'MissingParameter',
]);

export function sdkErrorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape).name : undefined;
}

/** The product error for an SDK failure of `operation`; errors already translated pass through. */
export function translateSdkError(error: unknown, operation: string, context: ErrorContext = {}): Error {
  if (!(typeof error === 'object' && error !== null))
    return new RetryableError(`${operation} failed: ${String(error)}`, { context });
  if ('retryable' in error && 'context' in error) return error as RbpError;
  const shape = error as SdkErrorShape;
  const name = shape.name ?? 'UnknownError';
  const message = `${operation} failed: ${name}: ${shape.message ?? ''}`.trimEnd();
  const options = { cause: error, context: { ...context, sdkError: name } };
  if (THROTTLING_CODES.has(name)) return new ThrottledError(message, options);
  if (ACCESS_CODES.has(name)) return new AccessDeniedError(message, options);
  if (name.endsWith('.NotFound') || name === 'ResourceNotFoundException' || name === 'NotFoundException') {
    return new NotFoundError(message, options);
  }
  if (VALIDATION_CODES.has(name)) return new ValidationError(message, options);
  const status = shape.$metadata?.httpStatusCode ?? 0;
  if (status >= 500 || shape.$fault === 'server' || name === 'TimeoutError' || name.startsWith('ECONN')) {
    return new RetryableError(message, options);
  }
  if (status === 429) return new ThrottledError(message, options);
  return error instanceof Error ? error : new RetryableError(message, options);
}
