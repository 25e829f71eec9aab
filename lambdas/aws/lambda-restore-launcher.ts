/**
 * Starting restore jobs without waiting for them (the API answers 202 at once): file, directory
 * and application restores invoke the restore worker Lambda asynchronously (InvocationType
 * Event); volume restores start an execution of the volume-restore state machine, named by the
 * restore id (a second start of the same restore is refused by Step Functions, not run twice).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { StartExecutionCommand, StopExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { executionArnOf } from './sfn-backup-executions.ts';
import { RESTORE_CANCELLED_REASON } from '../core/api/restore-cancel.ts';
import type { RestoreLauncher, RestoreWorkerEvent } from '../core/api/restore-service.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

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

/** Starts the volume-restore state machine for a volume restore job (input `{restoreId}`). */
export class StateMachineVolumeRestoreLauncher implements RestoreLauncher {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async launch(event: RestoreWorkerEvent): Promise<void> {
    await callSdk('StartExecution (volume restore)', { restoreId: event.restoreId }, () =>
      this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: event.restoreId,
          input: JSON.stringify({ restoreId: event.restoreId }),
        }),
      ),
    );
  }

  /** StopExecution of the execution named by the restore id (a cancel); none started: nothing to stop. */
  async stop(event: RestoreWorkerEvent): Promise<void> {
    try {
      await this.sfn.send(
        new StopExecutionCommand({
          executionArn: executionArnOf(this.stateMachineArn, event.restoreId),
          error: 'Cancelled',
          cause: RESTORE_CANCELLED_REASON,
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionDoesNotExist') return;
      throw translateSdkError(error, 'StopExecution (volume restore)', { restoreId: event.restoreId });
    }
  }
}

/** Volume restores to the state machine, every other restore to the worker Lambda. */
export class RoutingRestoreLauncher implements RestoreLauncher {
  constructor(
    private readonly files: RestoreLauncher,
    private readonly volumes: RestoreLauncher,
  ) {}

  launch(event: RestoreWorkerEvent): Promise<void> {
    return event.kind === 'volume' ? this.volumes.launch(event) : this.files.launch(event);
  }

  async stop(event: RestoreWorkerEvent): Promise<void> {
    await (event.kind === 'volume' ? this.volumes : this.files).stop?.(event);
  }
}
