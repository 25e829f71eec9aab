/**
 * Starting restore jobs without waiting for them (the API answers 202 at once): file, directory
 * and application restores invoke the restore worker Lambda asynchronously (InvocationType
 * Event); volume restores start an execution of the volume-restore state machine, named by the
 * restore id (a second start of the same restore is refused by Step Functions, not run twice).
 */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { StartExecutionCommand, StopExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { executionArnOf } from './sfn-backup-executions.ts';
import { ConflictError } from '../core/errors.ts';
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

  /**
   * A second start of the same restore while it runs is that execution again; once it ended, or
   * with another input, Step Functions answers ExecutionAlreadyExists: a ConflictError (409, the
   * same request racing), as for plan and workflow runs
   * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
   */
  async launch(event: RestoreWorkerEvent): Promise<void> {
    const { restoreId } = event;
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: restoreId,
          input: JSON.stringify({ restoreId }),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionAlreadyExists') {
        throw new ConflictError(`volume restore ${restoreId} already has an execution`, {
          context: { restoreId },
          cause: error,
        });
      }
      throw translateSdkError(error, 'StartExecution (volume restore)', { restoreId });
    }
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
