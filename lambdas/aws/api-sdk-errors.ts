/**
 * SDK errors in the API's adapters: the orchestration translation (throttling, 5xx), except that
 * a service's validation error, a missing resource or an access denial of the API's own role is the
 * product's fault, not the caller's: none may become a 4xx that blames the request, so each is a
 * PermanentError (500) instead. The caller's own authorisation is API Gateway's (IAM).
 */
import {
  AccessDeniedError,
  NotFoundError,
  PermanentError,
  ValidationError,
  type ErrorContext,
} from '../core/errors.ts';
import { translateSdkError } from './orchestration-sdk-errors.ts';

export function translateApiSdkError(error: unknown, operation: string, context: ErrorContext = {}): Error {
  const translated = translateSdkError(error, operation, context);
  // A missing table, bucket, state machine or function is a broken deployment, not a missing resource of the API.
  if (
    translated instanceof ValidationError ||
    translated instanceof AccessDeniedError ||
    translated instanceof NotFoundError
  ) {
    return new PermanentError(translated.message, { cause: translated, context: translated.context });
  }
  return translated;
}

export async function callApiSdk<T>(
  operation: string,
  context: ErrorContext,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw translateApiSdkError(error, operation, context);
  }
}
