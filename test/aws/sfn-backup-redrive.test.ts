/**
 * SfnBackupExecutions.redrive and the redrive fields of describe against Step Functions' answers
 * (a scripted client, as in ec2-workflow-resources.test.ts: aws-sdk-client-mock 4.1's types do not
 * accept this SDK's command classes). The local stack's Step Functions (moto) has no
 * RedriveExecution, so the service's answers are scripted from its API reference:
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { describe, expect, it } from 'vitest';
import { SfnBackupExecutions } from '../../lambdas/aws/sfn-backup-executions.ts';
import { BackupNotResumableError } from '../../lambdas/core/api/backup-resume.ts';
import { NotFoundError, PermanentError, ThrottledError } from '../../lambdas/core/errors.ts';
import { mapApiError } from '../../lambdas/core/api/api-errors.ts';
import { asApiError } from '../../lambdas/aws/sdk-errors.ts';

const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:rbp-backup';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:rbp-backup:bk-1';

/** A Step Functions error as the SDK throws it: the error code is the name. */
function sfnError(code: string, message: string, status = 400): Error {
  return Object.assign(new Error(message), {
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** An SFN client that answers each command class as scripted and records what it was sent. */
function scripted(answers: ReadonlyMap<unknown, unknown>): { client: SFNClient; sent: unknown[] } {
  const sent: unknown[] = [];
  const client = {
    send: (command: { constructor: unknown; input: unknown }) => {
      sent.push({ command: (command.constructor as { name: string }).name, input: command.input });
      const answer = answers.get(command.constructor);
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  } as unknown as SFNClient;
  return { client, sent };
}

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('SfnBackupExecutions.redrive', () => {
  it('sends RedriveExecution with the execution ARN of the backup and answers its redriveDate', async () => {
    const { client, sent } = scripted(
      new Map([[RedriveExecutionCommand, { redriveDate: new Date('2026-12-04T10:00:00.000Z') }]]),
    );
    const answer = await new SfnBackupExecutions(client, MACHINE).redrive('bk-1');
    expect(answer).toEqual({ redrivenAt: '2026-12-04T10:00:00.000Z' });
    expect(sent).toEqual([{ command: 'RedriveExecutionCommand', input: { executionArn: EXECUTION } }]);
  });

  it('ExecutionNotRedrivable is a 409 BackupNotResumableError naming the service’s reason', async () => {
    const { client } = scripted(
      new Map([
        [RedriveExecutionCommand, sfnError('ExecutionNotRedrivable', 'Execution redrivable period exceeded')],
      ]),
    );
    const error = await failureOf(new SfnBackupExecutions(client, MACHINE).redrive('bk-1'));
    expect(error).toBeInstanceOf(BackupNotResumableError);
    expect(error.message).toBe(
      'backup bk-1 cannot be resumed: Step Functions refused the redrive (RedriveExecution failed: ' +
        'ExecutionNotRedrivable: Execution redrivable period exceeded)',
    );
    expect(mapApiError(asApiError(error))).toMatchObject({
      status: 409,
      body: { code: 'Conflict', details: { reason: 'RedriveWindowPassed', backupId: 'bk-1' } },
    });
  });

  it('ExecutionDoesNotExist is the backup’s 404; ExecutionLimitExceeded is throttling (429); others the deployment’s 500', async () => {
    const run = (error: Error) =>
      failureOf(
        new SfnBackupExecutions(
          scripted(new Map([[RedriveExecutionCommand, error]])).client,
          MACHINE,
        ).redrive('bk-1'),
      );
    const missing = await run(sfnError('ExecutionDoesNotExist', 'Execution Does Not Exist'));
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.message).toBe('backup bk-1 does not exist');

    const limit = await run(sfnError('ExecutionLimitExceeded', 'too many open executions'));
    expect(limit).toBeInstanceOf(ThrottledError);
    expect(mapApiError(asApiError(limit)).status).toBe(429);

    const denied = await run(
      sfnError('AccessDeniedException', 'not authorized: states:RedriveExecution', 403),
    );
    expect(mapApiError(asApiError(denied))).toMatchObject({ status: 500 });
    expect(asApiError(denied)).toBeInstanceOf(PermanentError);
  });
});

describe('SfnBackupExecutions.describe: redrive status', () => {
  it('carries DescribeExecution’s redriveStatus and redriveStatusReason', async () => {
    const { client } = scripted(
      new Map<unknown, unknown>([
        [
          DescribeExecutionCommand,
          {
            status: 'FAILED',
            startDate: new Date('2026-11-01T00:00:00.000Z'),
            stopDate: new Date('2026-11-01T01:00:00.000Z'),
            error: 'BackupSuspendedError',
            redriveStatus: 'NOT_REDRIVABLE',
            redriveStatusReason: 'Execution redrivable period exceeded',
          },
        ],
        [GetExecutionHistoryCommand, { events: [] }],
      ]),
    );
    expect(await new SfnBackupExecutions(client, MACHINE).describe('bk-1')).toEqual({
      name: 'bk-1',
      status: 'FAILED',
      startedAt: '2026-11-01T00:00:00.000Z',
      stoppedAt: '2026-11-01T01:00:00.000Z',
      error: 'BackupSuspendedError',
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution redrivable period exceeded',
    });
  });
});
