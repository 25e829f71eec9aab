/**
 * The API's one error shape, `{code, message, details}`, and the mapping from the product's error
 * hierarchy (lambdas/core/errors.ts) to HTTP statuses. Bad input is always a 4xx; a 5xx means the
 * service failed, and its message never leaks internals.
 */
import {
  AccessDeniedError,
  ConflictError,
  DocumentValidationError,
  NotFoundError,
  PermanentError,
  RbpError,
  ThrottledError,
  ValidationError,
  type RbpErrorOptions,
} from '../errors.ts';

/** Machine-readable error codes of the API (documented in docs/api.md). */
export const API_ERROR_CODES = [
  'InvalidRequest',
  'AccessDenied',
  'NotFound',
  'MethodNotAllowed',
  'Conflict',
  'PayloadTooLarge',
  'UnsupportedMediaType',
  'Throttled',
  'ServiceUnavailable',
  'InternalError',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export interface ApiErrorBody {
  readonly code: ApiErrorCode;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** The request's method is not served on a path that exists. Maps to 405 with an Allow header. */
export class MethodNotAllowedError extends PermanentError {
  constructor(
    readonly method: string,
    readonly allowed: readonly string[],
    options: RbpErrorOptions = {},
  ) {
    super(`method ${method} is not allowed here; allowed: ${allowed.join(', ')}`, options);
  }
}

/** A path no route serves. A NotFoundError, so it maps to 404 like any missing resource. */
export class RouteNotFoundError extends NotFoundError {
  constructor(readonly path: string) {
    super(`no such resource: ${path.slice(0, 200)}`);
  }
}

/** The request body is larger than the API accepts. Maps to 413. */
export class PayloadTooLargeError extends PermanentError {}

/** The request body is not JSON. Maps to 415. */
export class UnsupportedMediaTypeError extends PermanentError {}

/** A ValidationError that lists every problem found, each with the field it concerns. */
export class RequestValidationError extends ValidationError {
  constructor(
    message: string,
    readonly issues: readonly { readonly field: string; readonly message: string }[],
    options: RbpErrorOptions = {},
  ) {
    super(message, options);
  }
}

export interface MappedError {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ApiErrorBody;
}

function contextDetails(error: RbpError): Record<string, unknown> {
  return Object.fromEntries(Object.entries(error.context).filter(([, value]) => value !== undefined));
}

/** The HTTP answer for any error thrown while serving a request. */
export function mapApiError(error: unknown): MappedError {
  const json = { 'content-type': 'application/json' };
  const answer = (
    status: number,
    code: ApiErrorCode,
    message: string,
    details: Record<string, unknown> = {},
  ) => ({
    status,
    headers: json,
    body: { code, message, details },
  });
  if (error instanceof RequestValidationError || error instanceof DocumentValidationError) {
    return answer(400, 'InvalidRequest', error.message, { ...contextDetails(error), issues: error.issues });
  }
  if (error instanceof MethodNotAllowedError) {
    return {
      ...answer(405, 'MethodNotAllowed', error.message, { allowed: error.allowed }),
      headers: { ...json, allow: error.allowed.join(', ') },
    };
  }
  if (error instanceof PayloadTooLargeError)
    return answer(413, 'PayloadTooLarge', error.message, contextDetails(error));
  if (error instanceof UnsupportedMediaTypeError) {
    return answer(415, 'UnsupportedMediaType', error.message, contextDetails(error));
  }
  if (error instanceof ValidationError)
    return answer(400, 'InvalidRequest', error.message, contextDetails(error));
  if (error instanceof NotFoundError) return answer(404, 'NotFound', error.message, contextDetails(error));
  if (error instanceof ConflictError) {
    return answer(409, 'Conflict', error.message, { reason: error.name, ...contextDetails(error) });
  }
  if (error instanceof AccessDeniedError)
    return answer(403, 'AccessDenied', error.message, contextDetails(error));
  if (error instanceof ThrottledError) {
    return {
      ...answer(429, 'Throttled', error.message, {}),
      headers: { ...json, 'retry-after': String(RETRY_AFTER_SECONDS) },
    };
  }
  if (error instanceof RbpError && error.retryable) {
    return {
      ...answer(503, 'ServiceUnavailable', 'the service is briefly unavailable; retry', {}),
      headers: { ...json, 'retry-after': String(RETRY_AFTER_SECONDS) },
    };
  }
  return answer(500, 'InternalError', 'the request failed inside the service; see its logs', {});
}

/** Retry-After on 429/503: the SDKs' first backoff steps are shorter; one second spreads a burst. */
export const RETRY_AFTER_SECONDS = 1;
