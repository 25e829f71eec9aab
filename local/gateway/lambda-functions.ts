/**
 * Lambda Invoke answered by in-process handlers: the project's own Lambda code runs inside the
 * gateway, so moto's state-machine interpreter (and any SDK client) invokes the real handlers.
 * Responses follow the Lambda Invoke API: 200 with the JSON result; a thrown error gives 200 with
 * `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage, trace}`, which is what Step
 * Functions matches in Retry/Catch `ErrorEquals` (errorType is the error's `name`).
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-account.ts';

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

/** What Lambda's Node runtime reports for a handler that threw. */
export interface LambdaErrorPayload {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

export interface LambdaInvocationResult {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** The time budget a handler sees in getRemainingTimeInMillis: Lambda's maximum, 15 minutes. */
const LAMBDA_TIMEOUT_MS = 15 * 60 * 1000;
/** Memory reported to handlers: the size the CDK stack gives the functions. */
const LAMBDA_MEMORY_MB = '1024';

/**
 * `name`, `name:qualifier`, `123456789012:function:name[:qualifier]` or the full ARN → `name`.
 */
export function functionNameOf(identifier: string): string {
  const parts = identifier.split(':');
  if (identifier.startsWith('arn:')) return parts[6] ?? identifier;
  if (parts[1] === 'function') return parts[2] ?? identifier;
  return parts[0] ?? identifier;
}

export function errorPayload(error: unknown): LambdaErrorPayload {
  if (error instanceof Error) {
    return {
      errorType: error.name,
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n').filter((line) => line.length > 0),
    };
  }
  return { errorType: 'Error', errorMessage: String(error), trace: [] };
}

export class LambdaFunctions {
  private readonly handlers = new Map<string, LambdaHandler>();

  register(name: string, handler: LambdaHandler): void {
    this.handlers.set(functionNameOf(name), handler);
  }

  unregister(name: string): boolean {
    return this.handlers.delete(functionNameOf(name));
  }

  names(): string[] {
    return [...this.handlers.keys()].sort();
  }

  /** Answers one Invoke request (identifier as it appears in the path, URL-decoded). */
  async invoke(
    identifier: string,
    payload: Buffer,
    invocationType: string | undefined,
    qualifier?: string,
  ): Promise<LambdaInvocationResult> {
    const name = functionNameOf(identifier);
    const arn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${name}`;
    const requestId = randomUUID();
    const handler = this.handlers.get(name);
    if (!handler) {
      return {
        status: 404,
        headers: {
          'content-type': 'application/json',
          'x-amzn-errortype': 'ResourceNotFoundException',
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ Type: 'User', Message: `Function not found: ${arn}` }),
      };
    }
    let event: unknown;
    try {
      event = payload.length === 0 ? {} : JSON.parse(payload.toString('utf8'));
    } catch {
      return {
        status: 400,
        headers: {
          'content-type': 'application/json',
          'x-amzn-errortype': 'InvalidRequestContentException',
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ Type: 'User', message: 'Could not parse request body into json' }),
      };
    }
    const context = makeContext(name, qualifier ? `${arn}:${qualifier}` : arn, requestId);
    const baseHeaders = { 'x-amzn-requestid': requestId, 'x-amz-executed-version': '$LATEST' };
    if (invocationType === 'DryRun') return { status: 204, headers: baseHeaders, body: '' };
    if (invocationType === 'Event') {
      handler(event, context).catch((error: unknown) => {
        console.error(`[local lambda ${name}] asynchronous invocation failed`, error);
      });
      return { status: 202, headers: baseHeaders, body: '' };
    }
    try {
      const result = await handler(event, context);
      return {
        status: 200,
        headers: { ...baseHeaders, 'content-type': 'application/json' },
        body: result === undefined ? 'null' : JSON.stringify(result),
      };
    } catch (error) {
      return {
        status: 200,
        headers: { ...baseHeaders, 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' },
        body: JSON.stringify(errorPayload(error)),
      };
    }
  }
}

function makeContext(name: string, invokedArn: string, requestId: string): Context {
  const deadline = Date.now() + LAMBDA_TIMEOUT_MS;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: invokedArn,
    memoryLimitInMB: LAMBDA_MEMORY_MB,
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `local/[$LATEST]${requestId.replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
