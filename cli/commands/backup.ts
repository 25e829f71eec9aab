/**
 * `rbp backup start --volume V | --server S [--full] [--wait]`, `rbp backup status ID [--wait]`, `rbp backup cancel ID`,
 * `rbp backup resume ID [--wait]` and `rbp backup ls [--server S] [--volume V] [--status S]`.
 * A server backup is one recovery point of every volume (docs/recovery-points.md).
 */
import { Option, type Command } from 'commander';
import { BACKUP_STATUSES, type Backup } from '../../lambdas/core/api/schemas.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { ApiCallError } from '../api/api-client.ts';
import type { BackupResumption } from '../../lambdas/core/api/backup-resume.ts';
import { RESUME_BLOCKED } from '../../lambdas/core/api/backup-resume.ts';
import { printHistory, withHistoryLimit, type HistoryListing, type HistoryOptions } from '../api/history.ts';
import { jobProgress, progressFigures, progressLine, shortTime } from '../api/job-progress.ts';
import { bytesColumn, durationColumn } from './history-columns.ts';
import { registerCancelCommand } from '../api/cancel.ts';
import type { BackupCancellation } from '../../lambdas/core/api/backup-cancel.ts';
import { BACKUP_CANCELLED_ERROR } from '../../lambdas/core/api/backup-cancel.ts';
import { anyCaseChoices, apiContext, withApiOptions } from '../api/context.ts';
import {
  exitIfFailed,
  jobCommand,
  jobStatus,
  waitForJob,
  type JobCommandOptions,
  type JobKind,
} from '../api/jobs.ts';

const BACKUP_JOB: JobKind<Backup> = {
  noun: 'backup',
  collection: '/backups',
  finished: (backup) => backup.status !== 'RUNNING',
  failed: (backup) => backup.status !== 'SUCCEEDED' && backup.status !== 'RUNNING',
  describe: (backup, backupId) =>
    backup.status === 'RUNNING'
      ? progressLine(
          `backup ${backupId}: ${backup.status}${backup.step ? ` — ${backup.step}` : ''}`,
          backup.progress,
        )
      : finishedBackupLine(backup, backupId),
};

/**
 * The line for a finished backup: the recovery point and its number of images when it covers
 * several volumes (the top-level imageId is then only one of them), else the image.
 */
export function finishedBackupLine(backup: Backup, backupId: string): string {
  const images = backup.images ?? [];
  const what =
    backup.recoveryPointId !== undefined && images.length > 1
      ? ` (recovery point ${backup.recoveryPointId}: ${images.length} images)`
      : backup.imageId
        ? ` (image ${backup.imageId})`
        : '';
  return `backup ${backupId}: ${backup.status}${what}`;
}

/**
 * POST /backups/{id}/resume. A 409 because another backup holds a volume keeps exit 4 (a later
 * resume may succeed); any other 409 (not suspended, past the redrive window, snapshot gone) is
 * exit 5 with the API's message: resuming that backup will never make sense.
 */
async function postResume(
  client: Parameters<typeof waitForJob>[0],
  backupId: string,
): Promise<BackupResumption> {
  try {
    return await client.post<BackupResumption>(`/backups/${encodeURIComponent(backupId)}/resume`, {});
  } catch (error) {
    if (
      error instanceof ApiCallError &&
      error.status === 409 &&
      error.body.details?.['reason'] !== RESUME_BLOCKED
    )
      throw new CliError(error.body.message, EXIT.INVALID_REQUEST, { cause: error });
    throw error;
  }
}

function report(print: { message(value: unknown, text: string): void }, backup: Backup): void {
  const lines = [`backup ${backup.backupId}: ${backup.status}`];
  if (backup.serverId) lines.push(`  server   ${backup.serverId}${backup.full ? ' (full)' : ''}`);
  else if (backup.volumeId) lines.push(`  volume   ${backup.volumeId}${backup.full ? ' (full)' : ''}`);
  lines.push(`  started  ${backup.startedAt}`);
  if (backup.stoppedAt) lines.push(`  stopped  ${backup.stoppedAt}`);
  if (backup.step) lines.push(`  step     ${backup.step}`);
  if (backup.progress) lines.push(`  progress ${progressFigures(backup.progress)}`);
  if (backup.recoveryPointId) lines.push(`  recovery point ${backup.recoveryPointId}`);
  for (const image of backup.images ?? []) {
    lines.push(`  ${image.device.padEnd(12)}${image.volumeId}  ${image.imageId}`);
  }
  if (backup.imageId && backup.images === undefined) lines.push(`  image    ${backup.imageId}`);
  if (backup.error) lines.push(`  error    ${backup.error}${backup.cause ? `: ${backup.cause}` : ''}`);
  print.message(backup, lines.join('\n'));
}

/** Most backups per request (GET /backups answers at most 50). */
const BACKUP_PAGE_LIMIT = 50;

const BACKUP_HISTORY: HistoryListing<Backup> = {
  noun: 'backup',
  collection: '/backups',
  pageLimit: BACKUP_PAGE_LIMIT,
  columns: [
    { header: 'BACKUP', value: (b) => b.backupId },
    {
      header: 'STATUS',
      value: (b) => (b.status === 'ABORTED' && b.error === BACKUP_CANCELLED_ERROR ? 'CANCELLED' : b.status),
    },
    { header: 'SERVER/VOLUME', value: (b) => b.serverId ?? b.volumeId },
    { header: 'STARTED', value: (b) => shortTime(b.startedAt) },
    durationColumn(
      (b) => b.durationSeconds,
      (b) => b.progress?.elapsedSeconds,
    ),
    bytesColumn('COPIED', (b) => b.bytesCopied ?? b.progress?.bytesCopied),
    bytesColumn('STORED', (b) => b.bytesStored ?? b.progress?.bytesStored),
    { header: 'IMAGE', value: (b) => b.imageId ?? b.recoveryPointId },
    {
      header: 'FAILED STEP',
      value: (b) =>
        b.failedStep === undefined && b.error === undefined
          ? undefined
          : `${b.failedStep ?? '?'}: ${b.error ?? ''}${b.cause ? ` (${b.cause})` : ''}`,
    },
  ],
};

function registerBackupList(backup: Command): void {
  withHistoryLimit(
    withApiOptions(backup.command('ls'))
      .description(
        'list backups, running and past, newest first: outcome, start, duration, bytes, the step that failed',
      )
      .option('--server <serverId>', 'only backups of this server')
      .option('--volume <volumeId>', 'only backups that include this volume')
      .addOption(
        anyCaseChoices(new Option('--status <status>', 'only backups in this state'), BACKUP_STATUSES),
      ),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp backup ls\n  $ rbp backup ls --server web-01 --status FAILED\n  $ rbp backup ls --volume vol-0123456789abcdef0 --limit 100 --json',
    )
    .action((options: HistoryOptions & { server?: string; volume?: string; status?: string }) =>
      printHistory(BACKUP_HISTORY, options, {
        server: options.server,
        volume: options.volume,
        status: options.status,
      }),
    );
}

export function registerBackupCommands(program: Command): void {
  const backup = program
    .command('backup')
    .description('on-demand backups')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp backup start --volume vol-0123456789abcdef0 --wait\n  $ rbp backup status bk-20261120t120000000z-0a1b2c3d4e5f6071',
    );

  jobCommand(backup, 'start', 'backup')
    .description(
      'start a backup of a volume, or of every volume of a server as one recovery point, now (refused with exit code 4 when one is running)',
    )
    .option('--volume <volumeId>', 'the replica volume (or --server)')
    .option('--server <serverId>', 'every replica volume of this server (tag rbp:source-server)')
    .option('--full', 'read every block even when an incremental is possible', false)
    .addOption(
      new Option(
        '--source <source>',
        "the replica, or the source server's own (primary) volumes (rbp:primary-volume)",
      )
        .choices(['replica', 'primary'])
        .default('replica'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp backup start --volume vol-0123456789abcdef0\n  $ rbp backup start --server QA1 --source primary --wait\n  $ rbp backup start --volume vol-0123456789abcdef0 --full --wait --json\n  $ rbp backup start --server web-01 --wait --json',
    )
    .action(
      async (
        options: JobCommandOptions & {
          volume?: string;
          server?: string;
          full: boolean;
          source: 'replica' | 'primary';
        },
      ) => {
        if ((options.volume === undefined) === (options.server === undefined)) {
          throw new CliError('give exactly one of --volume and --server', EXIT.USAGE);
        }
        const { client, print } = await apiContext(options);
        const accepted = await client.post<{ backupId: string; status: Backup['status'] }>('/backups', {
          ...(options.server === undefined ? { volumeId: options.volume } : { serverId: options.server }),
          full: options.full,
          ...(options.source === 'primary' ? { source: options.source } : {}),
        });
        if (!options.wait) {
          print.message(
            accepted,
            `backup ${accepted.backupId} started (rbp backup status ${accepted.backupId})`,
          );
          return;
        }
        const finished = await waitForJob(client, BACKUP_JOB, accepted.backupId, options, jobProgress());
        report(print, finished);
        exitIfFailed(BACKUP_JOB, finished);
      },
    );

  registerBackupList(backup);

  jobCommand(backup, 'status', 'backup')
    .description('show the status and progress of a backup')
    .argument('<backupId>', 'the backup')
    .addHelpText('after', '\nExample:\n  $ rbp backup status bk-20261120t120000000z-0a1b2c3d4e5f6071 --wait')
    .action(async (backupId: string, options: JobCommandOptions) => {
      const { client, print } = await apiContext(options);
      const current = await jobStatus(client, BACKUP_JOB, backupId, options, jobProgress());
      report(print, current);
      exitIfFailed(BACKUP_JOB, current);
    });

  jobCommand(backup, 'resume', 'backup')
    .description(
      'resume a suspended backup (its copy failed after its retries): it takes its volumes back and goes on where it failed, skipping ranges already copied (exit 3: no such backup; exit 4: another backup holds a volume, resume later; exit 5: not suspended, past the 14-day redrive window, or its snapshot is gone)',
    )
    .argument('<backupId>', 'the suspended backup')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp backup resume bk-20261120t120000000z-0a1b2c3d4e5f6071\n  $ rbp backup resume bk-20261120t120000000z-0a1b2c3d4e5f6071 --wait --json',
    )
    .action(async (backupId: string, options: JobCommandOptions) => {
      const { client, print } = await apiContext(options);
      const resumed = await postResume(client, backupId);
      if (!options.wait) {
        print.message(resumed, `backup ${resumed.backupId} resumed (rbp backup status ${resumed.backupId})`);
        return;
      }
      const finished = await waitForJob(client, BACKUP_JOB, resumed.backupId, options, jobProgress());
      report(print, finished);
      exitIfFailed(BACKUP_JOB, finished);
    });

  registerCancelCommand<BackupCancellation>(backup, {
    noun: 'backup',
    description:
      'cancel a running backup: its locks are released, its snapshots deleted, nothing is committed (exit 3: no such backup; exit 5: it finished or already committed its image)',
    example: 'rbp backup cancel bk-20261120t120000000z-0a1b2c3d4e5f6071',
    describe: (cancelled, backupId) => {
      const snapshots = cancelled.snapshotsDeleted.length;
      return (
        `backup ${backupId} cancelled: ${cancelled.locksReleased} lock(s) released, ${snapshots} snapshot(s) deleted` +
        (snapshots === 0 ? '' : ` (${cancelled.snapshotsDeleted.join(', ')})`)
      );
    },
  });
}
