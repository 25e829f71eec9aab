/**
 * The contract of the ports that start a run state machine's execution named by an id: the plan
 * runs' (PlanRunExecutions, core/plans/run-service.ts), the workflow runs' (WorkflowRunExecutions,
 * core/workflows/workflow-run-ports.ts) and the volume restores' (the volume launcher of
 * RestoreLauncher, core/api/restore-service.ts). What the core relies on: a start runs one
 * execution named by the id with the id's input; a retried start while that execution runs is the
 * same execution, no error (the workflow engine launches a pending restore again, since the first
 * launch may be what failed); another input, or a start once the execution ended, is refused with
 * the error the core maps. Step Functions' rule: StartExecution with the name and input of a
 * running execution is idempotent, otherwise ExecutionAlreadyExists
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
 * Run against the fakes in test/fakes/memory-run-executions.ts and the Sfn adapters on the local stack.
 */
import { describe, expect, it } from 'vitest';
import { rejectionOf } from '../local/ebs-test-support.ts';

export interface RunExecutionsHarness {
  /** Starts the execution of `id` through the port; `other`: with another input, where the port takes one. */
  start(id: string, other?: boolean): Promise<void>;
  /** Stops the execution of `id` through the port, where the port can stop one. */
  readonly stop?: (id: string) => Promise<void>;
  /** The execution named `id` as the state machine has it (input parsed); undefined when none started. */
  execution(id: string): Promise<{ readonly input: unknown; readonly running: boolean } | undefined>;
  /** Ends the execution of `id` outside the port and resolves once it no longer runs. */
  end(id: string): Promise<void>;
}

export interface RunExecutionsExpectation {
  /** What the ids name, for the test titles: `plan run`. */
  readonly label: string;
  /** The input the execution of `id` is started with (`other`: start(id, true)'s); absent when the port takes none. */
  input(id: string, other?: boolean): unknown;
  /** Whether start(id, true) gives another input. */
  readonly otherInput: boolean;
  /** Whether the port stops executions (the harness then has `stop`). */
  readonly stops: boolean;
  /** The error a refused start rejects with: its class and message. */
  readonly refusal: (id: string) => {
    readonly type: abstract new (...args: never[]) => Error;
    readonly message: RegExp;
  };
}

export function runExecutionsContract(
  name: string,
  expected: RunExecutionsExpectation,
  open: () => Promise<RunExecutionsHarness>,
): void {
  const { label } = expected;
  const expectRefused = async (attempt: Promise<void>, id: string): Promise<void> => {
    const error = await rejectionOf(attempt);
    const refusal = expected.refusal(id);
    expect(error).toBeInstanceOf(refusal.type);
    expect(error.message).toMatch(refusal.message);
  };

  describe(`run executions contract (${label}): ${name}`, () => {
    it(`starts one execution named by the ${label} id with its input; a retried start while it runs is the same`, async () => {
      const harness = await open();
      await harness.start('rx-start-1');
      expect(await harness.execution('rx-start-1')).toEqual({
        input: expected.input('rx-start-1'),
        running: true,
      });
      await harness.start('rx-start-1');
      expect(await harness.execution('rx-start-1')).toEqual({
        input: expected.input('rx-start-1'),
        running: true,
      });
      expect(await harness.execution('rx-never')).toBeUndefined();
    });

    if (expected.otherInput) {
      it('another input for a running id is refused, and the running execution keeps its input', async () => {
        const harness = await open();
        await harness.start('rx-other-1');
        await expectRefused(harness.start('rx-other-1', true), 'rx-other-1');
        expect(await harness.execution('rx-other-1')).toEqual({
          input: expected.input('rx-other-1'),
          running: true,
        });
      });
    }

    it('a start once the execution ended is refused', async () => {
      const harness = await open();
      await harness.start('rx-ended-1');
      await harness.end('rx-ended-1');
      await expectRefused(harness.start('rx-ended-1'), 'rx-ended-1');
      expect(await harness.execution('rx-ended-1')).toEqual({
        input: expected.input('rx-ended-1'),
        running: false,
      });
    });

    if (expected.stops) {
      it('stop ends a running execution; an ended or never started one is no error', async () => {
        const harness = await open();
        const stop = harness.stop!;
        await harness.start('rx-stop-1');
        await stop('rx-stop-1');
        await harness.end('rx-stop-1');
        expect(await harness.execution('rx-stop-1')).toEqual({
          input: expected.input('rx-stop-1'),
          running: false,
        });
        await stop('rx-stop-1');
        await stop('rx-never');
        expect(await harness.execution('rx-never')).toBeUndefined();
      });
    }
  });
}
