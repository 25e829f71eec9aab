/**
 * `rbp local ...`: the embedded local AWS stack.
 *
 *   rbp local serve [--state-dir DIR] [--port N] [--snapshot-delay-ms N] [--no-agent] [--agent-delay-ms N] [--verbose]
 *   rbp local agent [--auto-checkpoint on|off] [--delay-ms N] [--endpoint URL]
 *   rbp local replica create --image PATH [--server ID] [--device NAME] [--endpoint URL]
 *   rbp local replica list [--endpoint URL]
 *   rbp local replica write VOLUME_ID --from LOCAL_FILE --to PATH [--endpoint URL]
 *   rbp local replica rm VOLUME_ID PATH [--endpoint URL]
 *   rbp local replica checkpoint VOLUME_ID --checkpoint-id ID [--sync-state S] [--backlog-bytes N] [--endpoint URL]
 *   rbp local function|server|primary ...     (local-plans.ts: hook functions, replication state, primaries)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import type { ProcessLog } from '../../local/process-log.ts';
import type { ReplicaFileChange } from '../../local/replica/replica-files.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { SYNC_STATES, type SyncState } from '../../local/replica/replica-tags.ts';
import { registerLocalPlanCommands } from './local-plans.ts';

/** Where `rbp local serve` keeps its state unless told otherwise (relative to the working directory). */
export const DEFAULT_LOCAL_STATE_DIR = './.state/local';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new InvalidArgumentError('not a TCP port');
  return port;
}

function parseNonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0)
    throw new InvalidArgumentError('not a non-negative integer');
  return number;
}

/** A value for a POSIX shell `export` line. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function endpointOption(): Option {
  return new Option('--endpoint <url>', 'the local gateway (default: $AWS_ENDPOINT_URL)');
}

function adminClient(endpoint: string | undefined): LocalAdminClient {
  const url = endpoint ?? process.env.AWS_ENDPOINT_URL;
  if (!url)
    throw new Error('no gateway endpoint: pass --endpoint or set AWS_ENDPOINT_URL (see `rbp local serve`)');
  return new LocalAdminClient(url);
}

/** Where `rbp local serve` writes the Lambda handlers' logs and warnings, inside the state directory. */
export const LOCAL_LOG_FILE = 'lambda.log';
/** The export lines `rbp local serve` prints, also written here (`. DIR/env.sh` in another shell). */
export const LOCAL_ENV_FILE = 'env.sh';

async function serve(options: {
  stateDir: string;
  port?: number;
  snapshotDelayMs?: number;
  agent: boolean;
  agentDelayMs?: number;
  verbose: boolean;
}): Promise<void> {
  const stateDir = resolve(options.stateDir);
  await mkdir(stateDir, { recursive: true });
  const { redirectProcessOutput } = await import('../../local/process-log.ts');
  const log = redirectProcessOutput(join(stateDir, LOCAL_LOG_FILE), { verbose: options.verbose });
  try {
    await serveLogged(stateDir, options, log);
  } catch (error) {
    // Start-up failures belong on the terminal, not only in the log file.
    await log.close();
    throw error;
  }
}

async function serveLogged(
  stateDir: string,
  options: {
    port?: number;
    snapshotDelayMs?: number;
    agent: boolean;
    agentDelayMs?: number;
    verbose: boolean;
  },
  log: ProcessLog,
): Promise<void> {
  // Loaded here so that the other commands do not pay for the AWS SDK and the emulator at start-up.
  const { startLocalStack } = await import('../../local/stack.ts');
  const stack = await startLocalStack({
    stateDir,
    keepState: true,
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.snapshotDelayMs === undefined ? {} : { snapshotCompletionDelayMs: options.snapshotDelayMs }),
  });
  stack.agent.configureAgent({
    autoCheckpoint: options.agent,
    ...(options.agentDelayMs === undefined ? {} : { answerDelayMs: options.agentDelayMs }),
  });
  // The product on top: table, buckets, handlers, the backup state machine and the REST API.
  const { deployProduct } = await import('../../local/deploy.ts');
  // The RPO check fires every 5 minutes, as in AWS (local/plan-run-deploy.ts).
  const deployed = await deployProduct(stack, { planRuns: { rpoCheckSchedule: true } }).catch(
    async (error: unknown) => {
      await stack.stop();
      throw error;
    },
  );
  const api = { url: deployed.apiUrl };
  // Backups that a stop interrupted come back ABORTED; free the volumes they had locked.
  const { releaseInterruptedBackups } = await import('../../local/interrupted-backups.ts');
  const { released, snapshotsDeleted } = await releaseInterruptedBackups(
    {
      endpoint: stack.endpoint,
      region: stack.env.AWS_REGION!,
      credentials: {
        accessKeyId: stack.env.AWS_ACCESS_KEY_ID!,
        secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY!,
      },
    },
    deployed.stateMachineArn,
    deployed.names.table,
  );
  for (const pair of released) log.err(`rbp local serve: released the lock of interrupted backup ${pair}\n`);
  for (const pair of snapshotsDeleted)
    log.err(`rbp local serve: deleted the snapshot of interrupted backup ${pair}\n`);
  const exports = Object.entries(stack.env).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
  await writeFile(join(stateDir, LOCAL_ENV_FILE), `${exports.join('\n')}\n`);
  log.out(`${[`READY ${stack.endpoint}`, ...exports, `API ${api.url}`].join('\n')}\n`);
  log.err(
    `rbp local serve: state in ${stateDir} (kept across restarts); moto (pid ${stack.moto.pid}) at ${stack.moto.endpoint}; ` +
      `${stack.replicas.list().length} replica volume(s); replication agent ` +
      `${options.agent ? 'answers checkpoints' : 'off (checkpoints time out)'}; ` +
      `Lambda logs in ${log.path}${options.verbose ? ' and here' : ''}; ` +
      `in another shell: . ${join(stateDir, LOCAL_ENV_FILE)}. Ctrl-C stops.\n`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.err(`rbp local serve: ${signal}, saving state and stopping\n`);
    stack
      .stop()
      .then(() => log.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.err(`rbp local serve: stop failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Makes a file change on a replica through debugfs and the gateway; returns the blocks written. */
async function changeReplica(
  volumeId: string,
  endpoint: string | undefined,
  change: ReplicaFileChange,
): Promise<number> {
  const admin = adminClient(endpoint);
  const record = (await admin.listReplicas()).find((replica) => replica.volumeId === volumeId);
  if (record === undefined)
    throw new CliError(`no replica volume ${volumeId} (rbp local replica list)`, EXIT.NOT_FOUND);
  const { changeReplicaFile, ReplicaFileError } = await import('../../local/replica/replica-files.ts');
  try {
    const result = await changeReplicaFile(record.imagePath, change, (offset, data) =>
      admin.writeReplica(volumeId, offset, data),
    );
    return result.blocksWritten;
  } catch (error) {
    if (error instanceof ReplicaFileError) throw new CliError(error.message, EXIT.USAGE);
    throw error;
  }
}

export function registerLocalCommands(program: Command): void {
  const local = program
    .command('local')
    .description('the embedded local AWS stack (moto + the local gateway)');

  local
    .command('serve')
    .description('start the local stack, print READY <endpoint> and the environment a client needs')
    .option(
      '--state-dir <dir>',
      "where replicas, EBS data, the AWS services' state (kept across restarts) and logs are kept",
      DEFAULT_LOCAL_STATE_DIR,
    )
    .option('--port <n>', 'the gateway port (default: a free one)', parsePort)
    .option('--snapshot-delay-ms <n>', 'time a replica snapshot stays pending', parseNonNegativeInteger)
    .option('--no-agent', 'the simulated replication agent does not answer checkpoint requests')
    .option('--agent-delay-ms <n>', 'time the agent takes to report a checkpoint', parseNonNegativeInteger)
    .option('--verbose', 'also print the Lambda logs here (they always go to DIR/lambda.log)', false)
    .addHelpText(
      'after',
      `
Examples:
  $ rbp local serve --state-dir /tmp/rbp --port 4566
  (then, in another shell, paste the printed export lines and use any AWS SDK or CLI)`,
    )
    .action(serve);

  local
    .command('agent')
    .addHelpText('after', '\nExample:\n  $ rbp local agent --delay-ms 500')
    .description('configure the simulated replication agent of a running `rbp local serve` (prints JSON)')
    .addOption(new Option('--auto-checkpoint <state>', 'answer checkpoint requests').choices(['on', 'off']))
    .option('--delay-ms <n>', 'time between a checkpoint request and the report', parseNonNegativeInteger)
    .addOption(endpointOption())
    .action(async (options: { autoCheckpoint?: 'on' | 'off'; delayMs?: number; endpoint?: string }) => {
      const settings = await adminClient(options.endpoint).configureAgent({
        ...(options.autoCheckpoint === undefined ? {} : { autoCheckpoint: options.autoCheckpoint === 'on' }),
        ...(options.delayMs === undefined ? {} : { answerDelayMs: options.delayMs }),
      });
      process.stdout.write(`${JSON.stringify(settings, null, 2)}\n`);
    });

  registerLocalPlanCommands(local, { adminClient, endpointOption });

  const replica = local.command('replica').description('replica volumes backed by raw disk images');

  replica
    .command('create')
    .description('register a raw disk image as a replica EBS volume and print its volume id')
    .requiredOption('--image <path>', 'the raw disk image')
    .option('--server <id>', 'the source server id (default: derived from the image path)')
    .option('--device <name>', 'the source device name (default: /dev/xvda)')
    .addOption(endpointOption())
    .addHelpText(
      'after',
      '\nExample:\n  $ rbp local replica create --image disk.img --server s-0123456789abcdef0',
    )
    .action(async (options: { image: string; server?: string; device?: string; endpoint?: string }) => {
      const record = await adminClient(options.endpoint).createReplica({
        imagePath: resolve(options.image),
        ...(options.server === undefined ? {} : { serverId: options.server }),
        ...(options.device === undefined ? {} : { device: options.device }),
      });
      process.stdout.write(`${record.volumeId}\n`);
    });

  replica
    .command('list')
    .addHelpText('after', '\nExample:\n  $ rbp local replica list')
    .description('list the registered replica volumes (JSON)')
    .addOption(endpointOption())
    .action(async (options: { endpoint?: string }) => {
      const replicas = await adminClient(options.endpoint).listReplicas();
      process.stdout.write(`${JSON.stringify(replicas, null, 2)}\n`);
    });

  replica
    .command('write')
    .description('write a local file to a path on an ext2/3/4 replica, as a source write would (debugfs)')
    .argument('<volumeId>', 'the replica volume')
    .requiredOption('--from <localFile>', 'the local file to copy')
    .requiredOption('--to <path>', 'the absolute path on the replica (parents are made, a file replaced)')
    .addOption(endpointOption())
    .addHelpText(
      'after',
      '\nExample:\n  $ rbp local replica write vol-0123456789abcdef0 --from ./notes.txt --to /etc/notes.txt',
    )
    .action(async (volumeId: string, options: { from: string; to: string; endpoint?: string }) => {
      const written = await changeReplica(volumeId, options.endpoint, {
        kind: 'write',
        from: resolve(options.from),
        to: options.to,
      });
      process.stdout.write(`${volumeId}: wrote ${options.to} (${written} block(s) of 512 KiB changed)\n`);
    });

  replica
    .command('rm')
    .description('remove a file, symlink or empty directory from an ext2/3/4 replica (debugfs)')
    .argument('<volumeId>', 'the replica volume')
    .argument('<path>', 'the absolute path on the replica')
    .addOption(endpointOption())
    .addHelpText('after', '\nExample:\n  $ rbp local replica rm vol-0123456789abcdef0 /etc/motd')
    .action(async (volumeId: string, path: string, options: { endpoint?: string }) => {
      const written = await changeReplica(volumeId, options.endpoint, { kind: 'rm', path });
      process.stdout.write(`${volumeId}: removed ${path} (${written} block(s) of 512 KiB changed)\n`);
    });

  replica
    .command('checkpoint')
    .addHelpText(
      'after',
      '\nExample:\n  $ rbp local replica checkpoint vol-0123456789abcdef0 --checkpoint-id cp-0001',
    )
    .description("set a replica's checkpoint and sync tags, as the replication agent would")
    .argument('<volumeId>', 'the replica volume')
    .requiredOption('--checkpoint-id <id>', 'the checkpoint the replica now holds')
    .addOption(
      new Option('--sync-state <state>', 'replication state').choices(SYNC_STATES).default('IN_SYNC'),
    )
    .option('--backlog-bytes <n>', 'bytes not yet replicated', parseNonNegativeInteger, 0)
    .addOption(endpointOption())
    .action(
      async (
        volumeId: string,
        options: { checkpointId: string; syncState: SyncState; backlogBytes: number; endpoint?: string },
      ) => {
        const record = await adminClient(options.endpoint).reportCheckpoint(volumeId, {
          checkpointId: options.checkpointId,
          syncState: options.syncState,
          backlogBytes: options.backlogBytes,
        });
        process.stdout.write(`${JSON.stringify(record.tags, null, 2)}\n`);
      },
    );
}
