/**
 * `rbp local ...` commands for protection plans on the local stack:
 *
 *   rbp local function create --name NAME --command 'SHELL' [--timeout-seconds N] [--endpoint URL]
 *   rbp local function ls [--endpoint URL]
 *   rbp local function rm NAME [--endpoint URL]
 *   rbp local server state SERVER --replication in-sync|lagging|stalled|disconnected [--lag-seconds N] [--endpoint URL]
 *   rbp local primary create --image PATH --server SERVER [--device D] [--endpoint URL]
 *   rbp local primary list [--endpoint URL]
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { REPLICATION_STATES, type ReplicationState } from '../../lambdas/core/plans/servers.ts';
import type { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { MAX_COMMAND_TIMEOUT_SECONDS } from '../../local/gateway/command-functions.ts';

/** What local.ts shares with these commands. */
export interface LocalCommandHelpers {
  readonly adminClient: (endpoint: string | undefined) => LocalAdminClient;
  readonly endpointOption: () => Option;
}

function parseLagSeconds(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0)
    throw new InvalidArgumentError('not a non-negative integer');
  return number;
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

  const server = local
    .command('server')
    .description('what the simulated replication agent reports for a server');

  server
    .command('state')
    .description(
      "set a server's replication state on all its replica volumes (tags rbp:replication-state, rbp:lag-seconds); prints the tags",
    )
    .argument('<server>', 'the source server id (rbp:source-server)')
    .addOption(
      new Option('--replication <state>', 'what the agent reports')
        .choices(REPLICATION_STATES)
        .makeOptionMandatory(),
    )
    .option(
      '--lag-seconds <n>',
      'seconds behind the source (default 0 when in-sync, unknown otherwise)',
      parseLagSeconds,
    )
    .addOption(endpointOption())
    .addHelpText(
      'after',
      `
Examples:
  $ rbp local server state QA1 --replication stalled
  $ rbp local server state QA2 --replication lagging --lag-seconds 300`,
    )
    .action(
      async (
        serverId: string,
        options: { replication: ReplicationState; lagSeconds?: number; endpoint?: string },
      ) => {
        const answer = await adminClient(options.endpoint).setServerReplication(serverId, {
          replication: options.replication,
          ...(options.lagSeconds === undefined ? {} : { lagSeconds: options.lagSeconds }),
        });
        const tags = Object.fromEntries(answer.replicas.map((record) => [record.volumeId, record.tags]));
        process.stdout.write(`${JSON.stringify(tags, null, 2)}\n`);
      },
    );

  const primary = local.command('primary').description("primary volumes: a source server's own EBS disks");

  primary
    .command('create')
    .description(
      "register a raw disk image as the primary EBS volume of a server's device (attached to the server's EC2 instance; " +
        'the replica of that device gets rbp:primary-volume); prints the volume id',
    )
    .requiredOption('--image <path>', 'the raw disk image')
    .requiredOption('--server <id>', 'the source server id of its replica volumes')
    .option('--device <name>', 'the source device name (default: /dev/xvda)')
    .addOption(endpointOption())
    .addHelpText('after', '\nExample:\n  $ rbp local primary create --image qa1-primary.img --server QA1')
    .action(async (options: { image: string; server: string; device?: string; endpoint?: string }) => {
      const record = await adminClient(options.endpoint).createPrimary({
        imagePath: resolve(options.image),
        serverId: options.server,
        ...(options.device === undefined ? {} : { device: options.device }),
      });
      process.stdout.write(`${record.volumeId}\n`);
    });

  primary
    .command('list')
    .description('list the registered primary volumes (JSON)')
    .addOption(endpointOption())
    .addHelpText('after', '\nExample:\n  $ rbp local primary list')
    .action(async (options: { endpoint?: string }) => {
      process.stdout.write(
        `${JSON.stringify(await adminClient(options.endpoint).listPrimaries(), null, 2)}\n`,
      );
    });
}
