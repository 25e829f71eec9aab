/**
 * A synchronous Lambda Invoke (RequestResponse) of an operator's function (plan hooks, masking
 * hooks): a function error (`FunctionError` set, the payload then holds `errorMessage`) or no
 * answer within the timeout is a PermanentError; other SDK errors go through the one boundary,
 * so throttling stays retryable (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
 * The answer is the payload parsed as JSON, its text when it is not JSON, or undefined when empty.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { PermanentError } from '../core/errors.ts';
import { sdkErrorName, translateSdkError } from './sdk-errors.ts';

export async function invokeForAnswer(
  lambda: LambdaClient,
  functionName: string,
  payload: unknown,
  timeoutSeconds: number,
  operation: string,
): Promise<unknown> {
  let answer;
  try {
    answer = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        Payload: Buffer.from(JSON.stringify(payload)),
      }),
      { abortSignal: AbortSignal.timeout(timeoutSeconds * 1_000) },
    );
  } catch (error) {
    const name = sdkErrorName(error);
    if (name === 'AbortError' || name === 'TimeoutError') {
      throw new PermanentError(`no answer within ${timeoutSeconds} s`, {
        context: { function: functionName },
        cause: error,
      });
    }
    throw translateSdkError(error, operation, { function: functionName });
  }
  const text = answer.Payload === undefined ? '' : Buffer.from(answer.Payload).toString('utf8');
  if (answer.FunctionError !== undefined) {
    let message = text;
    try {
      const parsed = JSON.parse(text) as { errorMessage?: unknown };
      if (typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
    } catch {
      // not JSON: the payload text is the message
    }
    throw new PermanentError(message.length > 0 ? message : `function error ${answer.FunctionError}`, {
      context: { function: functionName },
    });
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
