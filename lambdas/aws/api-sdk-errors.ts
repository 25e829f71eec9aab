/**
 * SDK errors in the API's adapters: the orchestration translation (throttling, access, not found,
 * 5xx), except that a service's own validation error is the product's fault, not the caller's: it
 * must not become a 400 that blames the request, so it is a PermanentError (500) instead.
 */
import { PermanentError, ValidationError, type ErrorContext } from '../core/errors.ts';
import { translateSdkError } from './orchestration-sdk-errors.ts';

export function translateApiSdkError(error: unknown, operation: string, context: ErrorContext = {}): Error {
  const translated = translateSdkError(error, operation, context);
  if (translated instanceof ValidationError) {
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
