/**
 * Commands that start or watch a job of the API (a backup, a restore, a plan or workflow run, a
 * collection, a scrub): `--wait` polls the job's status path until it has finished, with its
 * progress line on stderr, and a job that ended badly makes the exit code JOB_FAILED; without
 * `--wait` the job's state as it is now.
 */
import type { Command } from 'commander';
import type { ApiClient } from './api-client.ts';
import {
  pollUntilFinished,
  withApiOptions,
  withWaitOptions,
  type ApiCommandOptions,
  type WaitOptions,
} from './context.ts';
import { EXIT } from './exit-codes.ts';
import type { Progress } from './output.ts';

/** The options of a job command: the API's and --wait, --timeout, --poll-interval. */
export type JobCommandOptions = ApiCommandOptions & WaitOptions;

/** `parent <name>` with the API options and --wait/--timeout/--poll-interval ("wait until the <what> has finished"). */
export function jobCommand(parent: Command, name: string, what: string): Command {
  return withWaitOptions(withApiOptions(parent.command(name)), what);
}

/** One kind of job: where its state is, when it has finished, what its progress line says. */
export interface JobKind<T> {
  /** Its name in messages: `backup`, `plan run`. */
  readonly noun: string;
  /** The collection its state is read from: `/backups` (GET `/backups/{id}`). */
  readonly collection: string;
  readonly finished: (job: T) => boolean;
  /** Ended badly: the command exits JOB_FAILED. */
  readonly failed: (job: T) => boolean;
  /** The progress line while it runs, and the last line once it has finished. */
  readonly describe: (job: T, id: string) => string;
  /** How the timeout message says it has not finished: `is still running` unless told otherwise. */
  readonly unfinished?: string;
}

/** `<collection>/<id>`, the id URL-encoded. */
export function jobPath<T>(kind: JobKind<T>, id: string): string {
  return `${kind.collection}/${encodeURIComponent(id)}`;
}

/** Polls the job until it has finished (CliError TIMED_OUT after `timeout` seconds). */
export function waitForJob<T>(
  client: ApiClient,
  kind: JobKind<T>,
  id: string,
  options: Pick<WaitOptions, 'timeout' | 'pollInterval'>,
  progress: Progress,
): Promise<T> {
  return pollUntilFinished(
    {
      fetch: () => client.get<T>(jobPath(kind, id)),
      finished: kind.finished,
      describe: (job) => kind.describe(job, id),
      timeoutMessage: `${kind.noun} ${id} ${kind.unfinished ?? 'is still running'} after ${options.timeout} s`,
    },
    options,
    progress,
  );
}

/** With --wait the finished job; otherwise one look at it. */
export function jobStatus<T>(
  client: ApiClient,
  kind: JobKind<T>,
  id: string,
  options: WaitOptions,
  progress: Progress,
): Promise<T> {
  return options.wait ? waitForJob(client, kind, id, options, progress) : client.get<T>(jobPath(kind, id));
}

/** Sets the exit code JOB_FAILED when the job ended badly. */
export function exitIfFailed<T>(kind: JobKind<T>, job: T): void {
  if (kind.failed(job)) process.exitCode = EXIT.JOB_FAILED;
}
