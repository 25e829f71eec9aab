/** Starts the restore worker Lambda asynchronously (InvocationType Event): the API answers 202 at once. */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { RestoreLauncher, RestoreWorkerEvent } from '../core/api/restore-service.ts';
import { callSdk } from './sdk-errors.ts';

export class LambdaRestoreLauncher implements RestoreLauncher {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async launch(event: RestoreWorkerEvent): Promise<void> {
    await callSdk('Invoke (restore worker)', { restoreId: event.restoreId }, () =>
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
