/**
 * The one wait, for tests, until a Step Functions execution has ended: DescribeExecution reports an
 * execution's status as RUNNING while it runs and as SUCCEEDED, FAILED, TIMED_OUT or ABORTED once it
 * stopped; PENDING_REDRIVE is a failed execution being redriven, which runs again, so it has not ended
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html).
 * Step Functions has no call that blocks until an execution ends, so a test reads the status again
 * and again. Each caller passes its own timeout and pause, which depend on what its execution does.
 */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  type SFNClient,
} from '@aws-sdk/client-sfn';

/** The statuses of an execution that has stopped and will not run again unless redriven. */
const ENDED_STATUSES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);

/** How long, and how often, `executionEnded` reads an execution's status. */
export interface ExecutionWait {
  /** How long the execution may stay RUNNING, from the first read, before the wait fails. */
  readonly timeoutMs: number;
  /** Pause between two DescribeExecution calls. */
  readonly pollMs: number;
}

/** The execution had not ended (RUNNING, PENDING_REDRIVE, …) when the wait's timeout passed. */
export class ExecutionStillRunningError extends Error {
  constructor(
    readonly executionArn: string,
    readonly status: string,
    readonly waitedMs: number,
  ) {
    super(`execution ${executionArn} is still ${status} after ${waitedMs} ms`);
    this.name = 'ExecutionStillRunningError';
  }
}

/**
 * Reads the execution's status until it is SUCCEEDED, FAILED, TIMED_OUT or ABORTED and answers that
 * last DescribeExecution output (status, output, error, cause, …). Reads once right away, then once per
 * `pollMs`; fails with ExecutionStillRunningError (naming the execution, its last status and the
 * time waited) on the first read that finds it not ended once `timeoutMs` has passed.
 */
export async function executionEnded(
  sfn: SFNClient,
  executionArn: string,
  { timeoutMs, pollMs }: ExecutionWait,
): Promise<DescribeExecutionCommandOutput> {
  const started = Date.now();
  for (;;) {
    const described = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (described.status !== undefined && ENDED_STATUSES.has(described.status)) return described;
    const waitedMs = Date.now() - started;
    if (waitedMs >= timeoutMs)
      throw new ExecutionStillRunningError(executionArn, described.status ?? 'without a status', waitedMs);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
