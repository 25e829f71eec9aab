/**
 * executionEnded (execution-ended.ts) against a scripted Step Functions client (as in
 * test/aws/sfn-backup-redrive.test.ts) and fake timers: how many DescribeExecution calls it makes,
 * what it answers, and how it fails when the execution does not end in time.
 */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExecutionStillRunningError, executionEnded } from './execution-ended.ts';

const EXECUTION = 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-1';

/** An SFN client answering DescribeExecution with `answers` in turn (the last one again and again). */
function scripted(answers: readonly Partial<DescribeExecutionCommandOutput>[]): {
  client: SFNClient;
  sent: { command: string; executionArn: unknown }[];
} {
  const sent: { command: string; executionArn: unknown }[] = [];
  const client = {
    send: (command: { constructor: unknown; input: { executionArn?: unknown } }) => {
      sent.push({
        command: (command.constructor as { name: string }).name,
        executionArn: command.input.executionArn,
      });
      return Promise.resolve(answers[Math.min(sent.length, answers.length) - 1]);
    },
  } as unknown as SFNClient;
  return { client, sent };
}

/** Runs the wait to its end on the fake clock; answers its outcome and the fake time it took. */
async function settle(
  wait: Promise<DescribeExecutionCommandOutput>,
): Promise<{ answer?: DescribeExecutionCommandOutput; error?: Error; tookMs: number }> {
  const started = Date.now();
  const outcome = wait.then(
    (answer) => ({ answer }),
    (error: unknown) => ({ error: error as Error }),
  );
  await vi.runAllTimersAsync();
  return { ...(await outcome), tookMs: Date.now() - started };
}

const running = { status: 'RUNNING' } as const;

describe('executionEnded', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-12-04T10:00:00.000Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers the first DescribeExecution output that is not RUNNING, one read per pause', async () => {
    const failed = { status: 'FAILED', error: 'BackupFailed', cause: 'the copy failed' } as const;
    const { client, sent } = scripted([running, running, failed, { status: 'SUCCEEDED' }]);

    const { answer, error, tookMs } = await settle(
      executionEnded(client, EXECUTION, { timeoutMs: 1_000, pollMs: 250 }),
    );

    expect({ answer, error, tookMs }).toEqual({ answer: failed, error: undefined, tookMs: 500 });
    expect(sent).toEqual(Array(3).fill({ command: DescribeExecutionCommand.name, executionArn: EXECUTION }));
  });

  it('reads once and does not pause when the execution has already ended', async () => {
    const { client, sent } = scripted([{ status: 'ABORTED' }]);

    const { answer, tookMs } = await settle(executionEnded(client, EXECUTION, { timeoutMs: 0, pollMs: 250 }));

    expect({ answer, tookMs, reads: sent.length }).toEqual({
      answer: { status: 'ABORTED' },
      tookMs: 0,
      reads: 1,
    });
  });

  it('keeps waiting while a redriven execution is PENDING_REDRIVE, then answers its end', async () => {
    const pending = { status: 'PENDING_REDRIVE' } as const;
    const { client, sent } = scripted([pending, pending, running, { status: 'SUCCEEDED' }]);

    const { answer, tookMs } = await settle(
      executionEnded(client, EXECUTION, { timeoutMs: 1_000, pollMs: 100 }),
    );

    expect({ answer, tookMs, reads: sent.length }).toEqual({
      answer: { status: 'SUCCEEDED' },
      tookMs: 300,
      reads: 4,
    });
  });

  it('fails naming PENDING_REDRIVE when the redrive has not started by the timeout', async () => {
    const { client } = scripted([{ status: 'PENDING_REDRIVE' }]);

    const { error } = await settle(executionEnded(client, EXECUTION, { timeoutMs: 200, pollMs: 100 }));

    expect(error?.message).toBe(`execution ${EXECUTION} is still PENDING_REDRIVE after 200 ms`);
  });

  it('fails naming the execution, its last status and the time waited once the timeout has passed', async () => {
    const { client, sent } = scripted([running]);

    const { error, tookMs } = await settle(
      executionEnded(client, EXECUTION, { timeoutMs: 1_000, pollMs: 300 }),
    );

    expect(error).toBeInstanceOf(ExecutionStillRunningError);
    expect(error?.message).toBe(`execution ${EXECUTION} is still RUNNING after 1200 ms`);
    expect(error).toMatchObject({ executionArn: EXECUTION, status: 'RUNNING', waitedMs: 1_200 });
    // Reads at 0, 300, 600, 900 and 1200 ms: the last is the first one at or past the timeout.
    expect({ tookMs, reads: sent.length }).toEqual({ tookMs: 1_200, reads: 5 });
  });

  it('makes min(runningReads, ceil(timeout / pause)) + 1 reads and fails exactly when the execution outlasts them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 2_000 }),
        fc.integer({ min: 1, max: 500 }),
        async (runningReads, timeoutMs, pollMs) => {
          const ended = { status: 'SUCCEEDED', output: '{}' } as const;
          const { client, sent } = scripted([...Array<typeof running>(runningReads).fill(running), ended]);
          const readsBeforeTimeout = Math.ceil(timeoutMs / pollMs);

          const { answer, error, tookMs } = await settle(
            executionEnded(client, EXECUTION, { timeoutMs, pollMs }),
          );

          const pauses = Math.min(runningReads, readsBeforeTimeout);
          expect({ reads: sent.length, tookMs }).toEqual({ reads: pauses + 1, tookMs: pauses * pollMs });
          if (runningReads <= readsBeforeTimeout)
            expect({ answer, error }).toEqual({ answer: ended, error: undefined });
          else
            expect(error?.message).toBe(
              `execution ${EXECUTION} is still RUNNING after ${pauses * pollMs} ms`,
            );
        },
      ),
      { numRuns: 200 },
    );
  });
});
