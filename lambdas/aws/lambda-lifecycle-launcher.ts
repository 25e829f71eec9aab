/**
 * Starts the lifecycle job Lambda (garbage collection, scrub) without waiting: an asynchronous
 * invocation (InvocationType Event), which Lambda retries on its own after a function error
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html). The API uses it to start a
 * run, and the Lambda itself to hand a collection over to a fresh invocation when its time is up.
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { LifecycleJobEvent, LifecycleJobLauncher } from '../core/lifecycle/lifecycle-jobs.ts';
import { callSdk } from './sdk-errors.ts';

export class LambdaLifecycleJobLauncher implements LifecycleJobLauncher {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async launch(event: LifecycleJobEvent): Promise<void> {
    await callSdk('Invoke (lifecycle job)', { kind: event.kind, runId: event.runId }, () =>
      this.lambda.send(
        new InvokeCommand({
          FunctionName: this.functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(event)),
        }),
      ),
    );
  }
}
