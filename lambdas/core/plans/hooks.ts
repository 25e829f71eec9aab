/**
 * The hook contract: a hook succeeds unless its invocation throws (the function failed, or did
 * not answer within its timeout) or it returns `{"status": "failed", "message": ...}`.
 */
import { describeError, isRetryable } from '../errors.ts';
import type { Hook } from './plan-document.ts';
import type { HookInvoker, HookPayload } from './plan-ports.ts';

/** Longest hook message kept in a task's reason: enough for a sentence, never a whole log. */
export const MAX_HOOK_MESSAGE_CHARS = 500;

function clip(text: string): string {
  return text.length <= MAX_HOOK_MESSAGE_CHARS ? text : `${text.slice(0, MAX_HOOK_MESSAGE_CHARS)}…`;
}

/** Undefined when the returned value means success, else the failure message. */
export function hookResultFailure(result: unknown): string | undefined {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return undefined;
  const { status, message } = result as { status?: unknown; message?: unknown };
  if (status !== 'failed') return undefined;
  return typeof message === 'string' && message.length > 0 ? clip(message) : 'returned status failed';
}

/**
 * Runs a hook; undefined on success, else a reason such as
 * `pre-task hook check-db failed: database is in recovery`. A retryable error is thrown so the
 * step that called it is retried (the hook may then run again: hooks must tolerate a repeat).
 */
export async function runHook(
  invoker: HookInvoker,
  hook: Hook,
  payload: HookPayload,
): Promise<string | undefined> {
  let result: unknown;
  try {
    result = await invoker.invoke(hook.function, payload, hook.timeoutSeconds);
  } catch (error) {
    if (isRetryable(error)) throw error;
    return `${payload.phase} hook ${hook.function} failed: ${clip(describeError(error))}`;
  }
  const failure = hookResultFailure(result);
  return failure === undefined ? undefined : `${payload.phase} hook ${hook.function} failed: ${failure}`;
}
