/**
 * The backup state machine as the API sees it (BackupExecutions port): StartExecution named by the
 * backup id, DescribeExecution by name, running executions with their input, the current step
 * from the execution history, StopExecution (cancel) and RedriveExecution (resume).
 */
import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  ListExecutionsCommand,
  RedriveExecutionCommand,
  StartExecutionCommand,
  StopExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { ConflictError } from '../core/errors.ts';
import { backupNotFound, type BackupExecutions, type ExecutionDetail } from '../core/api/backup-launcher.ts';
import { BackupNotResumableError, REDRIVE_WINDOW_PASSED } from '../core/api/backup-resume.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/** History events read to find the current step: the last state entered is among the newest few. */
export const HISTORY_EVENTS_FOR_STEP = 25;
/** History pages read at most when the service answers oldest first: a backup run has a few hundred events. */
export const MAX_HISTORY_PAGES = 40;

/** History events per page when looking for the step that failed (the service's maximum is 1,000). */
export const HISTORY_EVENTS_FOR_FAILURE = 200;
/** Execution statuses of a backup that did not succeed. */
const FAILED_STATUSES: ReadonlySet<string> = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);
/** History events of a step that failed (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html). */
const STEP_FAILURE_EVENTS: ReadonlySet<string> = new Set([
  'TaskFailed',
  'TaskTimedOut',
  'LambdaFunctionFailed',
  'LambdaFunctionTimedOut',
  'MapRunFailed',
  'MapStateFailed',
]);
const EXECUTION_END_EVENTS: ReadonlySet<string> = new Set([
  'ExecutionFailed',
  'ExecutionTimedOut',
  'ExecutionAborted',
]);

/** The state whose entry starts a volume's copy (backup.asl.json): progress counts time from it. */
export const COPY_STEP = 'Copy Ranges';

/** `arn:aws:states:r:a:stateMachine:Name` + `x` → `arn:aws:states:r:a:execution:Name:x`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  const parts = stateMachineArn.split(':');
  if (parts.length < 7 || parts[5] !== 'stateMachine')
    throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  return [...parts.slice(0, 5), 'execution', parts[6], name].join(':');
}

const iso = (date: Date | undefined): string | undefined =>
  date === undefined ? undefined : date.toISOString();

function detailOf(name: string, answer: DescribeExecutionCommandOutput): ExecutionDetail {
  const stoppedAt = iso(answer.stopDate);
  return {
    name,
    status: answer.status ?? 'RUNNING',
    startedAt: iso(answer.startDate) ?? new Date(0).toISOString(),
    ...(stoppedAt === undefined ? {} : { stoppedAt }),
    ...(answer.input === undefined ? {} : { input: answer.input }),
    ...(answer.output === undefined ? {} : { output: answer.output }),
    ...(answer.error === undefined ? {} : { error: answer.error }),
    ...(answer.cause === undefined ? {} : { cause: answer.cause }),
    ...(answer.redriveStatus === undefined ? {} : { redriveStatus: answer.redriveStatus }),
    ...(answer.redriveStatusReason === undefined ? {} : { redriveStatusReason: answer.redriveStatusReason }),
  };
}

export class SfnBackupExecutions implements BackupExecutions {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(name: string, input: unknown): Promise<{ startedAt: string }> {
    try {
      const answer = await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name,
          input: JSON.stringify(input),
        }),
      );
      return { startedAt: (answer.startDate ?? new Date()).toISOString() };
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionAlreadyExists') {
        throw new ConflictError(`backup ${name} already exists`, {
          cause: error,
          context: { backupId: name },
        });
      }
      throw translateSdkError(error, 'StartExecution', { backupId: name });
    }
  }

  /**
   * One page of executions, newest first (ListExecutions pages itself: `nextToken` is its token),
   * each described (input, output, error) and, when it did not succeed, with the step that failed.
   * Requests: 1 + one DescribeExecution per execution + history pages of the failed ones.
   */
  async list(request: {
    readonly status?: ExecutionDetail['status'];
    readonly limit: number;
    readonly pageToken?: string;
  }): Promise<{ readonly items: readonly ExecutionDetail[]; readonly nextToken?: string }> {
    const page = await callSdk('ListExecutions', {}, () =>
      this.sfn.send(
        new ListExecutionsCommand({
          stateMachineArn: this.stateMachineArn,
          maxResults: request.limit,
          ...(request.status === undefined ? {} : { statusFilter: request.status }),
          ...(request.pageToken === undefined ? {} : { nextToken: request.pageToken }),
        }),
      ),
    );
    const items: ExecutionDetail[] = [];
    for (const execution of page.executions ?? []) {
      if (!execution.name) continue;
      try {
        const detail = await this.withAbortDetails(await this.describeOnly(execution.name));
        const failedStep = FAILED_STATUSES.has(detail.status)
          ? await this.failedStep(execution.name)
          : undefined;
        items.push(failedStep === undefined ? detail : { ...detail, failedStep });
      } catch (error) {
        if (error instanceof Error && error.name === 'NotFoundError') continue;
        throw error;
      }
    }
    return { items, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
  }

  /**
   * The step that failed: the state entered last before the newest failure event of a task, a
   * Lambda function or a Map run (a step caught by the state machine, which then cleans up),
   * else before the execution's own failure (a Fail state). Reads at most MAX_HISTORY_PAGES pages.
   */
  async failedStep(name: string): Promise<string | undefined> {
    const events: { id: number; type: string; entered?: string }[] = [];
    for await (const page of this.history(name, { maxResults: HISTORY_EVENTS_FOR_FAILURE })) {
      for (const event of page) {
        const entered = event.stateEnteredEventDetails?.name;
        events.push({ id: event.id ?? 0, type: event.type ?? '', ...(entered ? { entered } : {}) });
      }
    }
    events.sort((a, b) => a.id - b.id);
    const failures = events.filter((e) => STEP_FAILURE_EVENTS.has(e.type));
    const failure = failures.at(-1) ?? events.findLast((e) => EXECUTION_END_EVENTS.has(e.type));
    if (failure === undefined) return undefined;
    return events.findLast((e) => e.id < failure.id && e.entered !== undefined)?.entered;
  }

  executionIdOf(name: string): string {
    return executionArnOf(this.stateMachineArn, name);
  }

  /**
   * A stopped execution's error and cause (a cancel's "Cancelled") are in its ExecutionAborted
   * history event (executionAbortedEventDetails); DescribeExecution may leave them out. The event
   * is the last: one page newest first, or every page from an emulator that answers oldest first.
   * https://docs.aws.amazon.com/step-functions/latest/apireference/API_ExecutionAbortedEventDetails.html
   */
  private async withAbortDetails(detail: ExecutionDetail): Promise<ExecutionDetail> {
    if (detail.status !== 'ABORTED' || detail.error !== undefined) return detail;
    for await (const events of this.historyNewestFirst(detail.name)) {
      const aborted = events.find((e) => e.type === 'ExecutionAborted');
      if (aborted === undefined) continue;
      const { error, cause } = aborted.executionAbortedEventDetails ?? {};
      return {
        ...detail,
        ...(error === undefined ? {} : { error }),
        ...(cause === undefined ? {} : { cause }),
      };
    }
    return detail;
  }

  /**
   * The execution's history a page at a time (HISTORY_EVENTS_FOR_STEP events), asked newest first;
   * an emulator that ignores reverseOrder (moto) answers oldest first. At most MAX_HISTORY_PAGES.
   */
  private historyNewestFirst(name: string): AsyncGenerator<HistoryEvent[]> {
    return this.history(name, { reverseOrder: true, maxResults: HISTORY_EVENTS_FOR_STEP });
  }

  /** The execution's history a page (GetExecutionHistory) at a time; at most MAX_HISTORY_PAGES. */
  private async *history(
    name: string,
    order: { readonly reverseOrder?: boolean; readonly maxResults: number },
  ): AsyncGenerator<HistoryEvent[]> {
    const executionArn = executionArnOf(this.stateMachineArn, name);
    let nextToken: string | undefined;
    for (let page = 0; page < MAX_HISTORY_PAGES; page += 1) {
      const token = nextToken;
      const history = await callSdk('GetExecutionHistory', { backupId: name }, () =>
        this.sfn.send(
          new GetExecutionHistoryCommand({
            executionArn,
            ...order,
            ...(token === undefined ? {} : { nextToken: token }),
          }),
        ),
      );
      yield history.events ?? [];
      nextToken = history.nextToken;
      if (nextToken === undefined) return;
    }
  }

  /** StopExecution: on an execution that already ended the service changes nothing. */
  async stop(name: string, error: string, cause: string): Promise<void> {
    const executionArn = executionArnOf(this.stateMachineArn, name);
    try {
      await this.sfn.send(new StopExecutionCommand({ executionArn, error, cause }));
    } catch (failure) {
      if (sdkErrorName(failure) === 'ExecutionDoesNotExist') throw backupNotFound(name, failure);
      throw translateSdkError(failure, 'StopExecution', { backupId: name });
    }
  }

  /**
   * RedriveExecution: the execution goes on from the state that failed, with that state's input
   * and the same ARN. Step Functions accepts it for an execution that did not succeed, stopped
   * less than 14 days ago, is open less than a year and has fewer than 24,999 history events;
   * otherwise ExecutionNotRedrivable (here a BackupNotResumableError, 409). ExecutionLimitExceeded
   * (too many running executions) is throttling (sdk-errors.ts). The SDK sends a client token, so
   * its own retries do not redrive twice.
   * https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
   */
  async redrive(name: string): Promise<{ readonly redrivenAt: string }> {
    const executionArn = executionArnOf(this.stateMachineArn, name);
    try {
      const answer = await this.sfn.send(new RedriveExecutionCommand({ executionArn }));
      return { redrivenAt: (answer.redriveDate ?? new Date()).toISOString() };
    } catch (failure) {
      if (sdkErrorName(failure) === 'ExecutionDoesNotExist') throw backupNotFound(name, failure);
      const error = translateSdkError(failure, 'RedriveExecution', { backupId: name });
      if (sdkErrorName(failure) !== 'ExecutionNotRedrivable') throw error;
      throw new BackupNotResumableError(
        `backup ${name} cannot be resumed: Step Functions refused the redrive (${error.message})`,
        { cause: error, context: { backupId: name, reason: REDRIVE_WINDOW_PASSED } },
      );
    }
  }

  async describe(name: string): Promise<ExecutionDetail> {
    const detail = await this.withAbortDetails(await this.describeOnly(name));
    const { step, copyStartedAt } = await this.currentStep(name);
    return {
      ...detail,
      ...(step === undefined ? {} : { currentStep: step }),
      ...(copyStartedAt === undefined ? {} : { copyStartedAt }),
    };
  }

  private async describeOnly(name: string): Promise<ExecutionDetail> {
    const executionArn = executionArnOf(this.stateMachineArn, name);
    try {
      return detailOf(name, await this.sfn.send(new DescribeExecutionCommand({ executionArn })));
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionDoesNotExist') throw backupNotFound(name, error);
      throw translateSdkError(error, 'DescribeExecution', { backupId: name });
    }
  }

  /**
   * Name of the last state entered. The newest events come first when the service honours
   * reverseOrder; an emulator that ignores it (moto) answers oldest first, and then every page is
   * read so that the answer is still the last state.
   */
  private async currentStep(name: string): Promise<{ step?: string; copyStartedAt?: string }> {
    let latest: { id: number; name: string } | undefined;
    let copy: { id: number; at: string } | undefined;
    const answer = () => ({
      ...(latest === undefined ? {} : { step: latest.name }),
      ...(copy === undefined ? {} : { copyStartedAt: copy.at }),
    });
    for await (const events of this.historyNewestFirst(name)) {
      for (const event of events) {
        const entered = event.stateEnteredEventDetails?.name;
        if (entered && (latest === undefined || (event.id ?? 0) > latest.id))
          latest = { id: event.id ?? 0, name: entered };
        if (
          entered === COPY_STEP &&
          event.timestamp !== undefined &&
          (copy === undefined || (event.id ?? 0) > copy.id)
        )
          copy = { id: event.id ?? 0, at: event.timestamp.toISOString() };
      }
      const newestFirst = events.length < 2 || (events[0]!.id ?? 0) > (events.at(-1)!.id ?? 0);
      if (newestFirst && latest !== undefined) return answer();
    }
    return answer();
  }
}
