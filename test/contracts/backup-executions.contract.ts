/**
 * The contract of BackupExecutions (lambdas/core/api/backup-launcher.ts): the backup state machine
 * as the API's launcher and GET /backups/{id} use it. Step Functions facts both sides must show:
 * StartExecution with the name and input of a running execution is that execution again, with
 * another input or after it ended ExecutionAlreadyExists, DescribeExecution of an
 * unknown execution is ExecutionDoesNotExist, ListExecutions with statusFilter RUNNING lists newest
 * first, StopExecution ends a running execution as ABORTED with the error and cause given and
 * changes nothing on one that ended, and an execution's ARN is the state machine's with `execution` and the name;
 * a stopped execution's history ends with ExecutionAborted after the state it was in, which is
 * then its failed step; RedriveExecution of an unknown execution is ExecutionDoesNotExist and of a
 * running one ExecutionNotRedrivable ("Execution is RUNNING and cannot be redriven.", the reason
 * DescribeExecution gives as redriveStatusReason)
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html,
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListExecutions.html,
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html,
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html).
 * Run against MemoryExecutions and SfnBackupExecutions on the local stack's Step Functions.
 */
import { describe, expect, it } from 'vitest';
import type { BackupExecutions } from '../../lambdas/core/api/backup-launcher.ts';
import { BackupNotResumableError, REDRIVE_WINDOW_PASSED } from '../../lambdas/core/api/backup-resume.ts';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface BackupExecutionsHarness {
  readonly executions: Required<Pick<BackupExecutions, 'stop' | 'redrive' | 'failedStep' | 'list'>> &
    BackupExecutions;
  /** Resolves once the execution named `name` no longer runs. */
  untilEnded(name: string): Promise<void>;
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

export function backupExecutionsContract(name: string, open: () => Promise<BackupExecutionsHarness>): void {
  describe(`BackupExecutions contract: ${name}`, () => {
    it('starts an execution once by name and describes it running with its input', async () => {
      const { executions, untilEnded } = await open();
      const input = { volumeIds: ['vol-0a'], full: true };
      const { startedAt } = await executions.start('bk-contract-1', input);
      expect(startedAt).toMatch(ISO_INSTANT);
      const described = await executions.describe('bk-contract-1');
      expect(described).toMatchObject({ name: 'bk-contract-1', status: 'RUNNING', startedAt });
      expect(JSON.parse(described.input ?? 'null')).toEqual(input);
      // The same name and input while it runs: the same execution, not a second one.
      expect(await executions.start('bk-contract-1', input)).toEqual({ startedAt });
      const other = await rejectionOf(executions.start('bk-contract-1', { ...input, full: false }));
      expect(other).toBeInstanceOf(ConflictError);
      expect(other.message).toBe('backup bk-contract-1 already exists');
      await executions.stop('bk-contract-1', 'Cancelled', 'ended by the contract');
      await untilEnded('bk-contract-1');
      const ended = await rejectionOf(executions.start('bk-contract-1', input));
      expect(ended).toBeInstanceOf(ConflictError);
      expect(ended.message).toBe('backup bk-contract-1 already exists');
    });

    it('an unknown execution is a NotFoundError naming the backup', async () => {
      const { executions } = await open();
      const error = await rejectionOf(executions.describe('bk-never'));
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.message).toBe('backup bk-never does not exist');
    });

    it('stops a running execution as ABORTED with the error and cause; stopping it again changes nothing', async () => {
      const { executions, untilEnded } = await open();
      await executions.start('bk-stop-1', {});
      await executions.stop('bk-stop-1', 'Cancelled', 'cancelled by the contract');
      await untilEnded('bk-stop-1');
      const stopped = await executions.describe('bk-stop-1');
      expect(stopped).toMatchObject({
        status: 'ABORTED',
        error: 'Cancelled',
        cause: 'cancelled by the contract',
      });
      expect(stopped.stoppedAt).toMatch(ISO_INSTANT);
      await executions.stop('bk-stop-1', 'Again', 'a second stop');
      expect(await executions.describe('bk-stop-1')).toMatchObject({ status: 'ABORTED', error: 'Cancelled' });
      const unknown = await rejectionOf(executions.stop('bk-never', 'Cancelled', 'x'));
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect(unknown.message).toBe('backup bk-never does not exist');
    });

    it('a stopped execution failed at the step it was in; one that runs has no failed step', async () => {
      const { executions, untilEnded } = await open();
      await executions.start('bk-step-1', {});
      const running = await executions.describe('bk-step-1');
      expect(running.currentStep).toEqual(expect.any(String));
      expect(await executions.failedStep('bk-step-1')).toBeUndefined();
      await executions.stop('bk-step-1', 'Cancelled', 'cancelled by the contract');
      await untilEnded('bk-step-1');
      expect(await executions.failedStep('bk-step-1')).toBe(running.currentStep);
    });

    it('refuses to redrive an unknown execution (NotFoundError) and a running one (not resumable), which runs on', async () => {
      const { executions } = await open();
      const unknown = await rejectionOf(executions.redrive('bk-never'));
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect(unknown.message).toBe('backup bk-never does not exist');
      await executions.start('bk-redrive-1', {});
      const refused = await rejectionOf(executions.redrive('bk-redrive-1'));
      expect(refused).toBeInstanceOf(BackupNotResumableError);
      expect(refused.message).toBe(
        'backup bk-redrive-1 cannot be resumed: Step Functions refused the redrive (RedriveExecution failed: ' +
          'ExecutionNotRedrivable: Execution is RUNNING and cannot be redriven.)',
      );
      expect(refused['context']).toMatchObject({
        backupId: 'bk-redrive-1',
        reason: REDRIVE_WINDOW_PASSED,
      });
      expect((await executions.describe('bk-redrive-1')).status).toBe('RUNNING');
      await executions.stop('bk-redrive-1', 'Cancelled', 'ended by the contract');
    });

    it('lists executions newest first a page at a time, by status, described with a stopped one’s failed step', async () => {
      const { executions, untilEnded } = await open();
      for (const n of [1, 2, 3]) await executions.start(`bk-list-${n}`, { n });
      const stepOfFirst = (await executions.describe('bk-list-1')).currentStep;
      await executions.stop('bk-list-1', 'Cancelled', 'cancelled by the contract');
      await untilEnded('bk-list-1');

      const first = await executions.list({ limit: 2 });
      expect(first.items.map((e) => [e.name, e.status])).toEqual([
        ['bk-list-3', 'RUNNING'],
        ['bk-list-2', 'RUNNING'],
      ]);
      expect(first.nextToken).toEqual(expect.any(String));
      const second = await executions.list({ limit: 2, pageToken: first.nextToken! });
      expect(second.nextToken).toBeUndefined();
      expect(second.items).toHaveLength(1);
      expect(second.items[0]).toMatchObject({
        name: 'bk-list-1',
        status: 'ABORTED',
        error: 'Cancelled',
        cause: 'cancelled by the contract',
        failedStep: stepOfFirst,
      });
      expect(JSON.parse(second.items[0]!.input ?? 'null')).toEqual({ n: 1 });

      expect((await executions.list({ limit: 10, status: 'RUNNING' })).items.map((e) => e.name)).toEqual([
        'bk-list-3',
        'bk-list-2',
      ]);
      expect((await executions.list({ limit: 10, status: 'ABORTED' })).items.map((e) => e.name)).toEqual([
        'bk-list-1',
      ]);
      expect((await executions.list({ limit: 10, status: 'SUCCEEDED' })).items).toEqual([]);
      for (const n of [2, 3]) await executions.stop(`bk-list-${n}`, 'Cancelled', 'ended by the contract');
    });

    it("names an execution's id by its name before and after it starts", async () => {
      const { executions } = await open();
      const before = executions.executionIdOf('bk-id-1');
      expect(before).toMatch(/^arn:aws:states:[a-z0-9-]+:\d{12}:execution:[^:]+:bk-id-1$/);
      await executions.start('bk-id-1', {});
      expect(executions.executionIdOf('bk-id-1')).toBe(before);
    });
  });
}
