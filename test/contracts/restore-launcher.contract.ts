/**
 * The contract of the RestoreLauncher port (lambdas/core/api/restore-service.ts) as the API wires
 * it: file restores go to the restore worker, invoked without waiting for it (InvocationType
 * Event, https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html); volume restores
 * start an execution of the volume-restore state machine named by the restore id with input
 * `{restoreId}`, which Step Functions starts once: a second start while it runs is that execution,
 * once it ended a ConflictError
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html); a
 * cancel stops a volume restore's execution and is no error for a file restore or a restore never
 * started. Run against MemoryRestoreLaunches (test/fakes/memory-run-executions.ts) and
 * RoutingRestoreLauncher over LambdaRestoreLauncher and StateMachineVolumeRestoreLauncher on the
 * local stack (test/contracts/orchestration-ports.contract.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { RestoreLauncher, RestoreWorkerEvent } from '../../lambdas/core/api/restore-service.ts';
import { ConflictError } from '../../lambdas/core/errors.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface RestoreLauncherHarness {
  readonly launcher: RestoreLauncher;
  /** The events the restore worker received, once `count` of them arrived (or the wait ran out). */
  workerEvents(count: number): Promise<readonly unknown[]>;
  /** The volume-restore execution named `restoreId` (input parsed); undefined when none started. */
  execution(restoreId: string): Promise<{ readonly input: unknown; readonly running: boolean } | undefined>;
  /** Ends that execution outside the port and resolves once it no longer runs. */
  end(restoreId: string): Promise<void>;
}

const files = (restoreId: string): RestoreWorkerEvent => ({ restoreId, kind: 'files' });
const volume = (restoreId: string): RestoreWorkerEvent => ({ restoreId, kind: 'volume' });

export function restoreLauncherContract(name: string, open: () => Promise<RestoreLauncherHarness>): void {
  describe(`restore launcher contract: ${name}`, () => {
    it('a file restore goes to the worker once and starts no execution; a volume restore starts its execution and reaches no worker', async () => {
      const harness = await open();
      await harness.launcher.launch(volume('rs-volume-1'));
      // The file restore's delivery is the barrier: a volume restore sent to the worker before it would show.
      await harness.launcher.launch(files('rs-files-1'));
      expect(await harness.workerEvents(1)).toEqual([files('rs-files-1')]);
      expect(await harness.execution('rs-files-1')).toBeUndefined();
      expect(await harness.execution('rs-volume-1')).toEqual({
        input: { restoreId: 'rs-volume-1' },
        running: true,
      });
    });

    it('a second launch of a running volume restore is that execution; once it ended, a ConflictError', async () => {
      const harness = await open();
      await harness.launcher.launch(volume('rs-volume-2'));
      await harness.launcher.launch(volume('rs-volume-2'));
      expect(await harness.execution('rs-volume-2')).toEqual({
        input: { restoreId: 'rs-volume-2' },
        running: true,
      });
      await harness.end('rs-volume-2');
      const error = await rejectionOf(harness.launcher.launch(volume('rs-volume-2')));
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.message).toBe('volume restore rs-volume-2 already has an execution');
    });

    it("stop ends a volume restore's execution; a file restore's stop, and a never started one's, are no error", async () => {
      const harness = await open();
      const stop = harness.launcher.stop!.bind(harness.launcher);
      await harness.launcher.launch(volume('rs-volume-3'));
      await stop(volume('rs-volume-3'));
      await harness.end('rs-volume-3');
      expect(await harness.execution('rs-volume-3')).toEqual({
        input: { restoreId: 'rs-volume-3' },
        running: false,
      });
      await stop(volume('rs-volume-3'));
      await stop(volume('rs-never'));
      await stop(files('rs-never'));
      expect(await harness.execution('rs-never')).toBeUndefined();
    });
  });
}
