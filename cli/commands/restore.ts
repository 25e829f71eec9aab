/**
 * `rbp restore file|dir|app|volume ... [--wait] [--out PATH]` and `rbp restore status ID`.
 * File, directory and application restores end in a presigned download URL, which `--out` fetches
 * (with progress on a terminal); a volume restore ends in a new EBS snapshot id.
 */
import { rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Option, type Command } from 'commander';
import { RESTORE_STATUSES, type Restore } from '../../lambdas/core/api/schemas.ts';
import { restoreDownloadName } from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { ApiClient } from '../api/api-client.ts';
import { PARTITION_HELP } from './files.ts';
import { registerServerRestore } from './recovery-points.ts';
import { registerCancelCommand } from '../api/cancel.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { sparseFileSink } from '../api/sparse-file.ts';
import { withIdHint } from '../api/id-hints.ts';
import { formatBytes, type Printer, type Progress } from '../api/output.ts';
import { jobProgress, progressFigures, progressLine, shortTime } from '../api/job-progress.ts';
import { printHistory, withHistoryLimit, type HistoryListing, type HistoryOptions } from '../api/history.ts';
import {
  anyCaseChoices,
  apiContext,
  parseImagePath,
  parsePartition,
  withApiOptions,
  type WaitOptions,
} from '../api/context.ts';
import {
  exitIfFailed,
  jobCommand,
  jobPath,
  jobStatus,
  type JobCommandOptions,
  type JobKind,
} from '../api/jobs.ts';
import { bytesColumn, durationColumn } from './history-columns.ts';

/** Restores per request of `rbp restore ls`. */
const RESTORE_PAGE_LIMIT = 100;

type RestoreOptions = JobCommandOptions & {
  readonly image: string;
  readonly out?: string;
  readonly force?: boolean;
  readonly partition?: number;
};

/**
 * Refuses an `--out` that cannot be written before anything starts: a directory that does not
 * exist (exit 3), or an existing file unless `force` (exit 2). An existing directory receives the
 * download under its own name: with `downloadName` (restoreDownloadName, the name the restore
 * will give it), a file of that name in the directory is refused as well unless `force`.
 */
export async function checkOut(out: string, force: boolean, downloadName?: string): Promise<void> {
  const existing = await stat(out).catch(() => undefined);
  if (existing?.isDirectory() === true) {
    if (force || downloadName === undefined) return;
    const target = join(out, downloadName);
    if ((await stat(target).catch(() => undefined)) !== undefined) {
      throw new CliError(`${target} already exists; pass --force to overwrite it`, EXIT.USAGE);
    }
    return;
  }
  if (existing !== undefined) {
    if (force) return;
    throw new CliError(`${out} already exists; pass --force to overwrite it`, EXIT.USAGE);
  }
  const parent = dirname(out);
  const directory = await stat(parent).catch(() => undefined);
  if (directory === undefined) {
    throw new CliError(`cannot write ${out}: the directory ${parent} does not exist`, EXIT.NOT_FOUND);
  }
  if (!directory.isDirectory()) {
    throw new CliError(`cannot write ${out}: ${parent} is not a directory`, EXIT.USAGE);
  }
}

const RESTORE_JOB: JobKind<Restore> = {
  noun: 'restore',
  collection: '/restores',
  finished: (restore) =>
    restore.status === 'SUCCEEDED' || restore.status === 'FAILED' || restore.status === 'CANCELLED',
  failed: (restore) => restore.status !== 'SUCCEEDED',
  describe: (restore, restoreId) => progressLine(`restore ${restoreId}: ${restore.status}`, restore.progress),
  unfinished: 'has not finished',
};

/** Downloads `url` to `out` (or into it, when it is a directory) through a temporary file; returns the path. */
export async function download(
  url: string,
  out: string,
  progress: Progress,
  expectedBytes?: number,
  /** Overwrite a file of the download's name in an `out` directory. */
  force = false,
): Promise<string> {
  const isDirectory = await stat(out).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const target = isDirectory
    ? join(out, decodeURIComponent(basename(new URL(url).pathname)) || 'restore')
    : out;
  if (isDirectory && !force && (await stat(target).catch(() => undefined)) !== undefined) {
    throw new CliError(`${target} already exists; pass --force to overwrite it`, EXIT.USAGE);
  }
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new CliError(
      `cannot download the restore: ${cause instanceof Error ? cause.message : String(cause)}`,
      EXIT.UNAVAILABLE,
      { cause },
    );
  }
  if (!response.ok || response.body === null) {
    throw new CliError(
      `the download answered HTTP ${response.status}`,
      response.status === 403 ? EXIT.ACCESS_DENIED : EXIT.FAILURE,
    );
  }
  const header = response.headers.get('content-length');
  const total = header === null ? expectedBytes : Number(header);
  const partial = `${target}.partial`;
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      done += chunk.length;
      progress.update(`downloading ${basename(target)}`, done, total);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
      counter,
      sparseFileSink(partial),
    );
    if (expectedBytes !== undefined && done !== expectedBytes) {
      throw new CliError(`the download has ${done} bytes, the restore ${expectedBytes}`, EXIT.FAILURE);
    }
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  progress.finish(`saved ${target} (${formatBytes(done)})`);
  return target;
}

function describe(restore: Restore, savedTo?: string): string {
  const lines = [`restore ${restore.restoreId}: ${restore.status}`];
  lines.push(`  image     ${restore.imageId}`);
  lines.push(
    `  kind      ${restore.kind}${restore.path ? ` ${restore.path}` : ''}${restore.application ? ` ${restore.application}` : ''}`,
  );
  if (restore.sizeBytes !== undefined) lines.push(`  size      ${formatBytes(restore.sizeBytes)}`);
  if (restore.snapshotId) lines.push(`  snapshot  ${restore.snapshotId}`);
  for (const missing of restore.missingPaths ?? []) lines.push(`  missing   ${missing} (not in the image)`);
  if (restore.downloadUrl && savedTo === undefined) lines.push(`  url       ${restore.downloadUrl}`);
  if (restore.downloadExpiresAt) lines.push(`  expires   ${restore.downloadExpiresAt}`);
  if (savedTo) lines.push(`  saved to  ${savedTo}`);
  if (restore.progress) lines.push(`  progress  ${progressFigures(restore.progress)}`);
  if (restore.error) lines.push(`  error     ${restore.error}`);
  return lines.join('\n');
}

/** `--out` of a restore without a download: a volume restore ends in an EBS snapshot. */
function nothingToDownload(restoreId: string, restore: Restore): CliError {
  return new CliError(
    `restore ${restoreId} has nothing to download (a ${restore.kind} restore ends in an EBS snapshot${
      restore.snapshotId === undefined ? '' : `, ${restore.snapshotId}`
    }): leave out --out`,
    EXIT.USAGE,
  );
}

async function finish(
  client: ApiClient,
  print: Printer,
  progress: Progress,
  restoreId: string,
  options: WaitOptions & { out?: string; force?: boolean },
): Promise<void> {
  const wait = options.wait || options.out !== undefined;
  const current = await jobStatus(client, RESTORE_JOB, restoreId, { ...options, wait }, jobProgress());
  if (!wait || current.status !== 'SUCCEEDED') {
    print.message(current, describe(current));
    if (wait) exitIfFailed(RESTORE_JOB, current);
    return;
  }
  let savedTo: string | undefined;
  if (options.out !== undefined) {
    if (!current.downloadUrl) throw nothingToDownload(restoreId, current);
    savedTo = await download(
      current.downloadUrl,
      options.out,
      progress,
      current.sizeBytes,
      options.force === true,
    );
  }
  print.message(savedTo === undefined ? current : { ...current, savedTo }, describe(current, savedTo));
}

/** What a file, directory or application restore asks for (the body of POST /restores besides the image). */
type RestoreTarget =
  | { readonly kind: 'file' | 'directory'; readonly path: string }
  | { readonly kind: 'application'; readonly application: string }
  | { readonly kind: 'volume'; readonly kmsKeyArn?: string; readonly parentRestoreId?: string };

async function start(options: RestoreOptions, body: RestoreTarget): Promise<void> {
  if (options.out !== undefined) {
    await checkOut(
      options.out,
      options.force === true,
      body.kind === 'volume' ? undefined : restoreDownloadName(body),
    );
  }
  const { client, print, progress } = await apiContext(options);
  const accepted = await withIdHint(
    client.post<{ restoreId: string }>('/restores', {
      imageId: options.image,
      ...(options.partition === undefined ? {} : { partition: options.partition }),
      ...body,
    }),
    options.image,
    'image',
    { 'recovery point': 'to restore every volume of it: rbp restore server --recovery-point {id}' },
  );
  await finish(client, print, progress, accepted.restoreId, options);
}

const RESTORE_HISTORY: HistoryListing<Restore> = {
  noun: 'restore',
  collection: '/restores',
  pageLimit: RESTORE_PAGE_LIMIT,
  columns: [
    { header: 'RESTORE', value: (r) => r.restoreId },
    { header: 'STATUS', value: (r) => r.status },
    { header: 'KIND', value: (r) => r.kind },
    { header: 'IMAGE', value: (r) => r.imageId },
    { header: 'WHAT', value: (r) => r.path ?? r.application ?? r.volumeId },
    { header: 'CREATED', value: (r) => shortTime(r.createdAt) },
    durationColumn((r) => r.durationSeconds),
    bytesColumn('SIZE', (r) => r.sizeBytes),
    { header: 'RESULT', value: (r) => r.snapshotId ?? r.error },
  ],
};

function restoreCommand(parent: Command, name: string, description: string): Command {
  return jobCommand(parent, name, 'restore')
    .description(description)
    .requiredOption('--image <imageId>', 'the image to restore from');
}

export function registerRestoreCommands(program: Command): void {
  const restore = program
    .command('restore')
    .description('restore files, directories, applications or whole volumes')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp restore file --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --path /etc/hosts --out ./hosts\n  $ rbp restore volume --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --wait --json',
    );

  restoreCommand(restore, 'file', 'restore one file to a download')
    .option('--partition <n>', PARTITION_HELP, parsePartition)
    .requiredOption(
      '--path <path>',
      'the file, as an absolute path in the image (NTFS: `path:stream` for a named stream)',
      parseImagePath,
    )
    .option('--out <path>', 'download the restored file here (implies --wait)')
    .option('--force', 'overwrite an existing --out file')
    .addHelpText(
      'after',
      '\nExample:\n  $ rbp restore file --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --path /etc/hosts --out ./hosts',
    )
    .action((options: RestoreOptions & { path: string }) =>
      start(options, { kind: 'file', path: options.path }),
    );

  restoreCommand(restore, 'dir', 'restore a directory tree to a download (an archive)')
    .option('--partition <n>', PARTITION_HELP, parsePartition)
    .requiredOption('--path <path>', 'the directory, as an absolute path in the image', parseImagePath)
    .option('--out <path>', 'download the archive here (implies --wait)')
    .option('--force', 'overwrite an existing --out file')
    .addHelpText(
      'after',
      '\nExample:\n  $ rbp restore dir --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --path /home/ann --out ./ann.tar',
    )
    .action((options: RestoreOptions & { path: string }) =>
      start(options, { kind: 'directory', path: options.path }),
    );

  restoreCommand(restore, 'app', "restore an application's files to a download (an archive)")
    .option('--partition <n>', PARTITION_HELP, parsePartition)
    .requiredOption('--name <application>', 'the application, as `rbp apps ls` names it')
    .option('--out <path>', 'download the archive here (implies --wait)')
    .option('--force', 'overwrite an existing --out file')
    .addHelpText(
      'after',
      '\nExample:\n  $ rbp restore app --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --name pg-main --out ./pg-main.tar',
    )
    .action((options: RestoreOptions & { name: string }) =>
      start(options, { kind: 'application', application: options.name }),
    );

  restoreCommand(restore, 'volume', 'restore the whole volume to a new EBS snapshot')
    .option('--kms-key <arn>', "encrypt the new snapshot with this KMS key ARN (default: the stack's key)")
    .option(
      '--parent-restore <restoreId>',
      'delta restore: start from the snapshot of this earlier restore of the same volume and write only the blocks that differ',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp restore volume --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --wait --json | jq -r .snapshotId\n  $ rbp restore volume --image img-bk-20261121t120000000z-0a1b2c3d4e5f6071 --parent-restore rs-20261120t130000000z-0a1b2c3d4e5f6071 --wait',
    )
    .action((options: RestoreOptions & { kmsKey?: string; parentRestore?: string }) =>
      start(options, {
        kind: 'volume',
        ...(options.kmsKey === undefined ? {} : { kmsKeyArn: options.kmsKey }),
        ...(options.parentRestore === undefined ? {} : { parentRestoreId: options.parentRestore }),
      }),
    );

  registerServerRestore(restore);

  withHistoryLimit(
    withApiOptions(restore.command('ls'))
      .description(
        'list restores, running and past, newest first: kind, outcome, times, duration, size, error',
      )
      .addOption(
        anyCaseChoices(new Option('--status <status>', 'only restores in this state'), RESTORE_STATUSES),
      ),
  )
    .addHelpText('after', '\nExamples:\n  $ rbp restore ls\n  $ rbp restore ls --status FAILED --json')
    .action((options: HistoryOptions & { status?: string }) =>
      printHistory(RESTORE_HISTORY, options, { status: options.status }),
    );

  registerCancelCommand<Restore>(restore, {
    noun: 'restore',
    description:
      'cancel a restore: it ends CANCELLED; a volume restore is stopped and its unfinished snapshot deleted (exit 3: no such restore; exit 5: it finished)',
    example: 'rbp restore cancel rs-20261120t120000000z-0a1b2c3d4e5f6071',
    describe: (cancelled, restoreId) => `restore ${restoreId}: ${cancelled.status}`,
  });

  jobCommand(restore, 'status', 'restore')
    .description('show a restore; with --out, download its result once it succeeded')
    .argument('<restoreId>', 'the restore')
    .option('--out <path>', 'download the result here (implies --wait)')
    .option('--force', 'overwrite an existing --out file')
    .addHelpText('after', '\nExample:\n  $ rbp restore status rs-20261120t120000000z-0a1b2c3d4e5f6071 --wait')
    .action(async (restoreId: string, options: JobCommandOptions & { out?: string; force?: boolean }) => {
      if (options.out !== undefined) await checkOut(options.out, options.force === true);
      const { client, print, progress } = await apiContext(options);
      if (options.out !== undefined) {
        // A volume restore has nothing to download: say so now rather than after waiting for it.
        const current = await client.get<Restore>(jobPath(RESTORE_JOB, restoreId));
        if (current.kind === 'volume') throw nothingToDownload(restoreId, current);
      }
      await finish(client, print, progress, restoreId, options);
    });
}
