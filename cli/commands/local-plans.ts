/**
 * `rbp local ...` commands for protection plans on the local stack:
 *
 *   rbp local function create --name NAME --command 'SHELL' [--timeout-seconds N] [--endpoint URL]
 *   rbp local function ls [--endpoint URL]
 *   rbp local function rm NAME [--endpoint URL]
 */
import type { Command, Option } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { MAX_COMMAND_TIMEOUT_SECONDS } from '../../local/gateway/command-functions.ts';

/** What local.ts shares with these commands. */
export interface LocalCommandHelpers {
  readonly adminClient: (endpoint: string | undefined) => LocalAdminClient;
  readonly endpointOption: () => Option;
}

function parseTimeoutSeconds(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > MAX_COMMAND_TIMEOUT_SECONDS)
    throw new InvalidArgumentError(`not an integer from 1 to ${MAX_COMMAND_TIMEOUT_SECONDS}`);
  return number;
}

export function registerLocalPlanCommands(local: Command, helpers: LocalCommandHelpers): void {
  const { adminClient, endpointOption } = helpers;
  const functions = local
    .command('function')
    .description('local Lambda functions that run a shell command (e.g. plan hooks)');

  functions
    .command('create')
    .description(
      'make a local Lambda function: each invocation runs the command with the JSON payload on stdin; ' +
        'exit 0 is success (stdout, if JSON, is the result), anything else a function error with stderr as the message; prints the ARN',
    )
    .requiredOption('--name <name>', 'the function name (1-64 of A-Z a-z 0-9 - _)')
    .requiredOption('--command <shell>', 'the command line, run with sh -c')
    .option('--timeout-seconds <n>', 'killed and failed after this long (default 60)', parseTimeoutSeconds)
    .addOption(endpointOption())
    .addHelpText(
      'after',
      `
Examples:
  $ rbp local function create --name pre-backup --command 'cat >> /tmp/hook-calls.jsonl'
  $ rbp local function create --name refuse --command 'echo "maintenance freeze" >&2; exit 1'`,
    )
    .action(
      async (options: { name: string; command: string; timeoutSeconds?: number; endpoint?: string }) => {
        const created = await adminClient(options.endpoint).createFunction({
          name: options.name,
          command: options.command,
          ...(options.timeoutSeconds === undefined ? {} : { timeoutSeconds: options.timeoutSeconds }),
        });
        process.stdout.write(`${created.arn}\n`);
      },
    );

  functions
    .command('ls')
    .description('list the local command functions (JSON)')
    .addOption(endpointOption())
    .addHelpText('after', '\nExample:\n  $ rbp local function ls')
    .action(async (options: { endpoint?: string }) => {
      const list = await adminClient(options.endpoint).listFunctions();
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    });

  functions
    .command('rm')
    .description('remove a local command function')
    .argument('<name>', 'the function name')
    .addOption(endpointOption())
    .addHelpText('after', '\nExample:\n  $ rbp local function rm pre-backup')
    .action(async (name: string, options: { endpoint?: string }) => {
      const removed = await adminClient(options.endpoint).removeFunction(name);
      process.stdout.write(`${removed.arn}\n`);
    });
}
