/**
 * Lambda functions in memory, invoked the two ways the product invokes functions:
 *
 * - for an answer (plan hooks, masking hooks: lambdas/aws/lambda-request-response.ts): the event
 *   and the answer go through JSON, a function that returns nothing answers `null` (Lambda's Node
 *   runtime serialises the handler's undefined as `null`), a function that throws is a
 *   PermanentError with its message, no answer within the timeout is a PermanentError, and an
 *   unknown function is Invoke's ResourceNotFoundException, a NotFoundError
 *   (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html);
 * - without waiting (`eventLauncher`, InvocationType Event: the restore worker, the lifecycle job):
 *   the launch resolves once the event is accepted and the function's own failure is not the
 *   launcher's (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
 */
import { NotFoundError, PermanentError, ThrottledError } from '../../lambdas/core/errors.ts';
import type { HookInvoker, HookPayload } from '../../lambdas/core/plans/plan-ports.ts';
import type { MaskingHookEvent, MaskingHookInvoker } from '../../lambdas/core/workflows/masking.ts';

export type MemoryFunction = (event: unknown) => Promise<unknown>;

/** The account and region in a function's ARN (those of the local stack). */
const FUNCTION_ARN_PREFIX = 'arn:aws:lambda:us-east-1:123456789012:function:';

export class MemoryLambdaFunctions implements HookInvoker, MaskingHookInvoker {
  readonly functions = new Map<string, MemoryFunction>();
  /** Every invocation that reached a function, in order: the event as the function received it. */
  readonly invocations: { readonly functionName: string; readonly event: unknown }[] = [];
  /** While set, every invoke is refused as Lambda throttles (TooManyRequestsException), before any function runs. */
  throttled = false;

  /** `operation` names the call in errors, as the adapter does: `Invoke (hook)`. */
  constructor(private readonly operation = 'Invoke') {}

  register(name: string, handler: MemoryFunction): void {
    this.functions.set(name, handler);
  }

  async invoke(
    functionName: string,
    event: HookPayload | MaskingHookEvent,
    timeoutSeconds: number,
  ): Promise<unknown> {
    const handler = await this.functionOf(functionName);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new PermanentError(`no answer within ${timeoutSeconds} s`, {
              context: { function: functionName },
            }),
          ),
        timeoutSeconds * 1_000,
      );
    });
    const answer = this.call(functionName, handler, event).then(
      (result) => JSON.parse(JSON.stringify(result ?? null)) as unknown,
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        throw new PermanentError(message.length > 0 ? message : 'function error Unhandled', {
          context: { function: functionName },
        });
      },
    );
    try {
      return await Promise.race([answer, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** An asynchronous launcher of `functionName` (RestoreLauncher, LifecycleJobLauncher). */
  eventLauncher<E extends object>(functionName: string): { launch(event: E): Promise<void> } {
    return {
      launch: async (event) => {
        const handler = await this.functionOf(functionName);
        setImmediate(() => void this.call(functionName, handler, event).catch(() => undefined));
      },
    };
  }

  private functionOf(functionName: string): Promise<MemoryFunction> {
    if (this.throttled) {
      return Promise.reject(
        new ThrottledError(
          `${this.operation} failed: TooManyRequestsException (ConcurrentInvocationLimitExceeded): Rate Exceeded.`,
          {
            context: { function: functionName },
          },
        ),
      );
    }
    const handler = this.functions.get(functionName);
    if (handler !== undefined) return Promise.resolve(handler);
    return Promise.reject(
      new NotFoundError(
        `${this.operation} failed: ResourceNotFoundException: Function not found: ${FUNCTION_ARN_PREFIX}${functionName}`,
        { context: { function: functionName } },
      ),
    );
  }

  private call(functionName: string, handler: MemoryFunction, event: unknown): Promise<unknown> {
    const received = JSON.parse(JSON.stringify(event)) as unknown;
    this.invocations.push({ functionName, event: received });
    return handler(received);
  }
}
