/** Options every API command shares, and the client/printer they build. */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ApiClient } from './api-client.ts';
import { resolveEndpoint } from './endpoint.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { printer, progress, type Printer, type Progress } from './output.ts';

export interface ApiCommandOptions {
  readonly endpoint?: string;
  readonly stack?: string;
  readonly region?: string;
  readonly json?: boolean;
}

export interface ApiContext {
  readonly client: ApiClient;
  readonly print: Printer;
  readonly progress: Progress;
}

/** Adds --endpoint, --stack, --region and --json to an API command. */
export function withApiOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--endpoint <url>',
        'API base URL (default: $RBP_API_URL, the local gateway, or the stack output ApiUrl)',
      ),
    )
    .addOption(
      new Option(
        '--stack <name>',
        'read the endpoint from this CloudFormation stack (default: $RBP_STACK_NAME or ReplicaBackupProxy)',
      ),
    )
    .addOption(new Option('--region <region>', 'AWS region (default: $AWS_REGION)'))
    .option('--json', 'print JSON for scripts instead of a table', false);
}

export async function apiContext(options: ApiCommandOptions): Promise<ApiContext> {
  const endpoint = await resolveEndpoint(options);
  return {
    client: new ApiClient({ baseUrl: endpoint.baseUrl, region: endpoint.region }),
    print: printer(options.json === true),
    progress: progress(),
  };
}

export interface PageAnswer<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

/** Every item of a paginated listing, following nextCursor. */
export async function listAll<T>(
  client: ApiClient,
  path: string,
  query: Readonly<Record<string, string | number | undefined>> = {},
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page: PageAnswer<T> = await client.get<PageAnswer<T>>(path, {
      ...query,
      ...(cursor === undefined ? {} : { cursor }),
    });
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return items;
}

/** --partition: a filesystem's number as the catalog has it (a non-negative integer). */
export function parsePartition(value: string): number {
  const partition = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(partition)) {
    throw new InvalidArgumentError('not a partition number (0, 1, 2, ...)');
  }
  return partition;
}

/**
 * `option` limited to `choices`, typed in any case (`--status failed` for FAILED): the help lists
 * the choices as commander's `.choices()` does, the command gets the choice as listed, and anything
 * else is refused with the choices, as commander refuses it.
 */
export function anyCaseChoices(option: Option, choices: readonly string[]): Option {
  return option.choices(choices).argParser((value: string) => {
    const choice = choices.find((c) => c.toLowerCase() === value.toLowerCase());
    if (choice === undefined) throw new InvalidArgumentError(`Allowed choices are ${choices.join(', ')}.`);
    return choice;
  });
}

/**
 * A path inside an image or a recovery point (an argument or `--path`): absolute, as the API wants
 * it. A backup has no working directory, so a relative path is refused here, before any request,
 * naming the absolute path it most likely means (`etc/hosts`, `./etc/hosts`, `etc\hosts`: `/etc/hosts`).
 */
export function parseImagePath(value: string): string {
  if (value.startsWith('/')) return value;
  const relative = value.replace(/\\/g, '/').replace(/^(?:\.?\/)+/, '');
  const meant = `/${relative === '.' ? '' : relative}`;
  throw new InvalidArgumentError(
    `not an absolute path; paths in a backup start at / (did you mean ${meant}?)`,
  );
}

export function parsePositiveSeconds(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new InvalidArgumentError('not a positive number of seconds');
  return seconds;
}

/**
 * Poll interval of --wait unless told otherwise: a status call is one DescribeExecution and one
 * history page, and a small backup finishes in seconds, so a 1 s poll returns soon after it does.
 */
export const DEFAULT_POLL_SECONDS = 1;
/** How long --wait waits unless told otherwise: a first full backup of a large volume takes hours. */
export const DEFAULT_WAIT_TIMEOUT_SECONDS = 6 * 3600;

/** --wait, --timeout and --poll-interval. */
export function withWaitOptions(command: Command, what: string): Command {
  return command
    .option('--wait', `wait until the ${what} has finished`, false)
    .option(
      '--timeout <seconds>',
      'give up waiting after this long',
      parsePositiveSeconds,
      DEFAULT_WAIT_TIMEOUT_SECONDS,
    )
    .option(
      '--poll-interval <seconds>',
      'time between status checks while waiting',
      parsePositiveSeconds,
      DEFAULT_POLL_SECONDS,
    );
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The options withWaitOptions adds. */
export interface WaitOptions {
  readonly wait: boolean;
  readonly timeout: number;
  readonly pollInterval: number;
}

/** How to poll one kind of job (a backup, a restore) until it has finished. */
export interface PollSpec<T> {
  readonly fetch: () => Promise<T>;
  readonly finished: (value: T) => boolean;
  /** The progress line for the current state. */
  readonly describe: (value: T) => string;
  /** The error message when the deadline passes first. */
  readonly timeoutMessage: string;
}

/** Polls until `finished`, updating the progress line; CliError TIMED_OUT after `timeout` seconds. */
export async function pollUntilFinished<T>(
  spec: PollSpec<T>,
  options: Pick<WaitOptions, 'timeout' | 'pollInterval'>,
  progress: Progress,
): Promise<T> {
  const deadline = Date.now() + options.timeout * 1000;
  for (;;) {
    const value = await spec.fetch();
    if (spec.finished(value)) {
      progress.finish(spec.describe(value));
      return value;
    }
    progress.update(spec.describe(value));
    if (Date.now() >= deadline) throw new CliError(spec.timeoutMessage, EXIT.TIMED_OUT);
    await sleep(options.pollInterval * 1000);
  }
}
