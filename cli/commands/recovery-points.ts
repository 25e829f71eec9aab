/**
 * Whole servers (docs/recovery-points.md): `rbp recovery-points ls --server S`, `rbp recovery-points
 * show RP` (every volume's image and its filesystems under the device name), `rbp recovery-points
 * files RP [PATH]` (the device-named tree: /dev/xvdb1/etc/...), and `rbp restore server
 * --recovery-point RP [--availability-zone AZ [--volume-type T] [--initialization-rate MIBPS]]
 * [--wait] [--json]` (registered on
 * the restore group by registerServerRestore).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { RESTORED_VOLUME_TYPES } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import type { DirectoryEntry } from '../../lambdas/core/api/schemas.ts';
import type {
  RecoveryPointDetail,
  RecoveryPointView,
  ServerRestore,
} from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import type { ApiClient } from '../api/api-client.ts';
import {
  anyCaseChoices,
  apiContext,
  listAll,
  parseImagePath,
  withApiOptions,
  type ApiCommandOptions,
} from '../api/context.ts';
import { exitIfFailed, jobCommand, jobStatus, type JobCommandOptions, type JobKind } from '../api/jobs.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { withIdHint } from '../api/id-hints.ts';
import { formatBytes } from '../api/output.ts';

const RP_EXAMPLE = 'rp-bk-20261120t120000000z-0a1b2c3d4e5f6071';

export function registerRecoveryPointCommands(program: Command): void {
  const points = program
    .command('recovery-points')
    .description('recovery points: the images of every volume of a server from one backup')
    .addHelpText(
      'after',
      `\nExamples:\n  $ rbp recovery-points ls --server web-01\n  $ rbp recovery-points show ${RP_EXAMPLE}\n  $ rbp recovery-points files ${RP_EXAMPLE} /dev/xvdb1/etc`,
    );

  withApiOptions(points.command('ls'))
    .description('list the recovery points of a server, newest first')
    .requiredOption('--server <serverId>', 'the server (its replica volumes’ rbp:source-server tag)')
    .addHelpText('after', '\nExample:\n  $ rbp recovery-points ls --server web-01 --json')
    .action(async (options: ApiCommandOptions & { server: string }) => {
      const { client, print } = await apiContext(options);
      const items = await listAll<RecoveryPointView>(
        client,
        `/servers/${encodeURIComponent(options.server)}/recovery-points`,
      );
      print.result(items, items, [
        { header: 'RECOVERY POINT', value: (p) => p.recoveryPointId },
        { header: 'CREATED', value: (p) => p.createdAt },
        { header: 'TRIGGER', value: (p) => p.trigger ?? '-' },
        { header: 'VOLUMES', value: (p) => String(p.images.length), right: true },
        { header: 'DEVICES', value: (p) => p.images.map((i) => i.device).join(' ') },
      ]);
    });

  withApiOptions(points.command('show'))
    .description('show a recovery point: each volume’s image and its filesystems under the device name')
    .argument('<recoveryPointId>', 'the recovery point')
    .addHelpText('after', `\nExample:\n  $ rbp recovery-points show ${RP_EXAMPLE}`)
    .action(async (recoveryPointId: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const point = await withIdHint(
        client.get<RecoveryPointDetail>(`/recovery-points/${encodeURIComponent(recoveryPointId)}`),
        recoveryPointId,
        'recovery point',
        { image: 'show it: rbp images show {id}' },
      );
      print.message(point, describePoint(point));
    });

  withApiOptions(points.command('files'))
    .description('list a directory of a recovery point (filesystems under their device names)')
    .argument('<recoveryPointId>', 'the recovery point')
    .argument(
      '[path]',
      'the directory: /, /dev, a filesystem such as /dev/xvdb1, or a path below it',
      parseImagePath,
      '/',
    )
    .addHelpText('after', `\nExample:\n  $ rbp recovery-points files ${RP_EXAMPLE} /dev/xvdb1/var/lib`)
    .action(async (recoveryPointId: string, path: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const entries = await withIdHint(
        listRecoveryPointFiles(client, recoveryPointId, path),
        recoveryPointId,
        'recovery point',
        { image: 'list it: rbp files ls --image {id}' },
      );
      print.result(entries, entries, [
        { header: 'TYPE', value: (e) => e.type },
        {
          header: 'SIZE',
          value: (e) => (e.type === 'directory' ? undefined : formatBytes(e.sizeBytes)),
          right: true,
        },
        { header: 'MODIFIED', value: (e) => e.modifiedAt },
        { header: 'PATH', value: (e) => e.path },
      ]);
    });
}

export function listRecoveryPointFiles(
  client: ApiClient,
  recoveryPointId: string,
  path: string,
): Promise<DirectoryEntry[]> {
  return listAll<DirectoryEntry>(client, `/recovery-points/${encodeURIComponent(recoveryPointId)}/files`, {
    path,
  });
}

export function describePoint(point: RecoveryPointDetail): string {
  const lines = [
    `recovery point ${point.recoveryPointId} of ${point.serverId}`,
    `  created     ${point.createdAt}`,
    `  backup      ${point.backupId}`,
  ];
  for (const image of point.images) {
    lines.push(`  ${image.device.padEnd(12)}${image.volumeId}  ${image.imageId} (${image.kind})`);
  }
  lines.push(point.filesystems.length === 0 ? 'filesystems: none catalogued' : 'filesystems:');
  for (const fs of point.filesystems) {
    lines.push(
      `  ${fs.path.padEnd(16)}${fs.type.padEnd(6)} ${fs.status.padEnd(9)} ${fs.files} files, ${fs.directories} directories, ${formatBytes(fs.bytes) ?? ''}`,
    );
  }
  return lines.join('\n');
}

/**
 * What `restore server --json` prints: the restore, its status and each volume's new snapshot;
 * with `--availability-zone` also each new volume (restoredVolumeId) and its zone.
 */
export function serverRestoreJson(restore: ServerRestore): unknown {
  return {
    restoreId: restore.restoreId,
    status: restore.status,
    snapshots: restore.snapshots.map((s) => ({
      device: s.device,
      volumeId: s.volumeId,
      imageId: s.imageId,
      snapshotId: s.snapshotId ?? null,
      ...(restore.availabilityZone === undefined
        ? {}
        : { restoredVolumeId: s.restoredVolumeId ?? null, availabilityZone: restore.availabilityZone }),
    })),
  };
}

export function describeServerRestore(restore: ServerRestore): string {
  const lines = [
    `restore ${restore.restoreId}: ${restore.status}`,
    `  recovery point ${restore.recoveryPointId} of ${restore.serverId}`,
  ];
  if (restore.availabilityZone !== undefined) {
    const rate =
      restore.volumeInitializationRate === undefined
        ? ''
        : `, initialised at ${restore.volumeInitializationRate} MiB/s`;
    lines.push(`  new ${restore.volumeType ?? 'gp3'} volumes in ${restore.availabilityZone}${rate}:`);
  }
  for (const s of restore.snapshots) {
    const made = restore.availabilityZone === undefined ? '' : ` -> ${s.restoredVolumeId ?? '(not yet)'}`;
    lines.push(
      `  ${s.device.padEnd(12)}${s.volumeId}  ${s.status.padEnd(9)} ${s.snapshotId ?? ''}${made}${s.error ? ` ${s.error}` : ''}`,
    );
  }
  return lines.join('\n');
}

const SERVER_RESTORE: JobKind<ServerRestore> = {
  noun: 'restore',
  collection: '/server-restores',
  finished: (r) => r.status === 'SUCCEEDED' || r.status === 'FAILED',
  failed: (r) => r.status === 'FAILED',
  describe: (r, restoreId) =>
    `restore ${restoreId}: ${r.status} (${r.snapshots.filter((s) => s.status === 'SUCCEEDED').length}/${r.snapshots.length} volumes)`,
  unfinished: 'has not finished',
};

/** `--initialization-rate`: a whole number of MiB/s (the API checks EBS's range and says it). */
function initializationRate(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a whole number of MiB/s');
  return Number(value);
}

/**
 * `rbp restore server --recovery-point RP [--availability-zone AZ [--volume-type T]
 * [--initialization-rate MIBPS]] [--wait] [--json]`, on the restore command group.
 */
export function registerServerRestore(restore: Command): void {
  jobCommand(restore, 'server', 'restore')
    .description(
      'restore every volume of a recovery point to new EBS snapshots, with the device names, and optionally to new volumes in an Availability Zone',
    )
    .requiredOption('--recovery-point <recoveryPointId>', 'the recovery point (rbp recovery-points ls)')
    .option(
      '--availability-zone <az>',
      'also create a volume from each snapshot in this Availability Zone (encrypted with the snapshot key, tagged rbp:restore-id, rbp:device, Name)',
    )
    .addOption(
      anyCaseChoices(
        new Option(
          '--volume-type <type>',
          'EBS type of the new volumes (needs --availability-zone; default gp3)',
        ),
        RESTORED_VOLUME_TYPES,
      ),
    )
    .option(
      '--initialization-rate <mibps>',
      'EBS Provisioned Rate for Volume Initialization of the new volumes, 100-300 MiB/s (needs --availability-zone; an EBS charge, see aws.amazon.com/ebs/pricing); without it a new volume loads its blocks lazily, on first read',
      initializationRate,
    )
    .addHelpText(
      'after',
      `\nExamples:\n  $ rbp restore server --recovery-point ${RP_EXAMPLE} --wait --json\n  $ rbp restore server --recovery-point ${RP_EXAMPLE} --availability-zone us-east-1a --volume-type gp3 --wait\n  $ rbp restore server --recovery-point ${RP_EXAMPLE} --availability-zone us-east-1a --initialization-rate 300 --wait`,
    )
    .action(
      async (
        options: JobCommandOptions & {
          recoveryPoint: string;
          availabilityZone?: string;
          volumeType?: string;
          initializationRate?: number;
        },
      ) => {
        if (options.volumeType !== undefined && options.availabilityZone === undefined) {
          throw new CliError(
            '--volume-type needs --availability-zone: it is the type of the volumes made in that zone',
            EXIT.USAGE,
          );
        }
        if (options.initializationRate !== undefined && options.availabilityZone === undefined) {
          throw new CliError(
            '--initialization-rate needs --availability-zone: it is the rate of the volumes made in that zone',
            EXIT.USAGE,
          );
        }
        const { client, print, progress } = await apiContext(options);
        const accepted = await withIdHint(
          client.post<{ restoreId: string }>('/server-restores', {
            recoveryPointId: options.recoveryPoint,
            ...(options.availabilityZone === undefined ? {} : { availabilityZone: options.availabilityZone }),
            ...(options.volumeType === undefined ? {} : { volumeType: options.volumeType }),
            ...(options.initializationRate === undefined
              ? {}
              : { volumeInitializationRate: options.initializationRate }),
          }),
          options.recoveryPoint,
          'recovery point',
          { image: 'to restore that volume: rbp restore volume --image {id}' },
        );
        const current = await jobStatus(client, SERVER_RESTORE, accepted.restoreId, options, progress);
        print.message(serverRestoreJson(current), describeServerRestore(current));
        exitIfFailed(SERVER_RESTORE, current);
      },
    );
}
