/**
 * `rbp retention apply (--server S | --volume V | --plan P) [rules] [--dry-run] [--json]` and
 * `rbp images delete IMAGE_ID`, over POST /retention/apply and DELETE /images/{imageId}. The rules
 * are spelled as restic's `forget` spells them.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { DeletedImage, RetentionResult } from '../../lambdas/core/api/lifecycle-api.ts';
import type { RetentionRules } from '../../lambdas/core/lifecycle/retention.ts';
import { apiContext, withApiOptions, type ApiCommandOptions } from '../api/context.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';

type RetentionRow = RetentionResult['images'][number];

const retentionColumns = [
  { header: 'IMAGE', value: (i: RetentionRow) => i.imageId },
  { header: 'VOLUME', value: (i: RetentionRow) => i.volumeId },
  { header: 'CREATED', value: (i: RetentionRow) => i.createdAt },
  {
    header: 'ACTION',
    value: (i: RetentionRow) =>
      i.outcome === 'would-delete'
        ? 'delete (dry run)'
        : i.outcome === 'not-deleted'
          ? 'kept (locked)'
          : i.action === 'keep'
            ? 'keep'
            : 'deleted',
  },
  {
    header: 'REASONS',
    value: (i: RetentionRow) => i.notDeletedReason ?? (i.reasons.length === 0 ? '-' : i.reasons.join(', ')),
  },
];

const deletedColumns = [
  { header: 'IMAGE', value: (d: DeletedImage) => d.imageId },
  { header: 'VOLUME', value: (d: DeletedImage) => d.volumeId },
  { header: 'STATUS', value: (d: DeletedImage) => d.status },
];

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

interface RetentionOptions extends ApiCommandOptions {
  server?: string;
  volume?: string;
  plan?: string;
  keepLast?: number;
  keepWithin?: string;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  dryRun?: boolean;
}

export function rulesOf(options: RetentionOptions): RetentionRules | undefined {
  const rules = {
    ...(options.keepLast === undefined ? {} : { keepLast: options.keepLast }),
    ...(options.keepWithin === undefined ? {} : { keepWithin: options.keepWithin }),
    ...(options.keepHourly === undefined ? {} : { keepHourly: options.keepHourly }),
    ...(options.keepDaily === undefined ? {} : { keepDaily: options.keepDaily }),
    ...(options.keepWeekly === undefined ? {} : { keepWeekly: options.keepWeekly }),
    ...(options.keepMonthly === undefined ? {} : { keepMonthly: options.keepMonthly }),
    ...(options.keepYearly === undefined ? {} : { keepYearly: options.keepYearly }),
  };
  return Object.keys(rules).length === 0 ? undefined : rules;
}

export function registerLifecycleCommands(program: Command): void {
  const retention = program.command('retention').description('which images to keep, and deleting the rest');
  withApiOptions(retention.command('apply'))
    .description('apply retention rules (restic forget semantics) to the images of a server, volume or plan')
    .option('--server <serverId>', 'every image of the server (each source its own group)')
    .option('--volume <volumeId>', 'the images of one volume')
    .option('--plan <planId>', "the images of a plan's servers (its stored rules when none are given)")
    .option('--keep-last <n>', 'keep the newest n images', count)
    .option('--keep-within <duration>', 'keep every image younger than this (e.g. 7d, 1y2m3d4h)')
    .option('--keep-hourly <n>', 'keep the newest image of each of the last n hours', count)
    .option('--keep-daily <n>', 'keep the newest image of each of the last n days', count)
    .option('--keep-weekly <n>', 'keep the newest image of each of the last n ISO weeks', count)
    .option('--keep-monthly <n>', 'keep the newest image of each of the last n months', count)
    .option('--keep-yearly <n>', 'keep the newest image of each of the last n years', count)
    .option('--dry-run', 'show what would be kept and deleted; change nothing')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp retention apply --volume vol-0123456789abcdef0 --keep-last 2 --dry-run\n  $ rbp retention apply --server srv-1 --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --json',
    )
    .action(async (options: RetentionOptions) => {
      const scopes = [
        options.server === undefined ? [] : [{ server: options.server }],
        options.volume === undefined ? [] : [{ volume: options.volume }],
        options.plan === undefined ? [] : [{ plan: options.plan }],
      ].flat();
      if (scopes.length !== 1)
        throw new CliError('give exactly one of --server, --volume or --plan', EXIT.USAGE);
      const rules = rulesOf(options);
      const { client, print } = await apiContext(options);
      const result = await client.post<RetentionResult>('/retention/apply', {
        scope: scopes[0],
        ...(rules === undefined ? {} : { rules }),
        dryRun: options.dryRun === true,
      });
      print.result(result, result.images, retentionColumns);
    });
}

export function registerImageDeleteCommand(images: Command): void {
  withApiOptions(images.command('delete'))
    .description('delete one image (refused, with the reason, under legal hold or Object Lock)')
    .argument('<imageId>', 'the image')
    .addHelpText('after', '\nExample:\n  $ rbp images delete img-bk-20261120t120000000z-0a1b2c3d4e5f6071')
    .action(async (imageId: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const deleted = await client.delete<DeletedImage>(`/images/${encodeURIComponent(imageId)}`);
      print.result(deleted, [deleted], deletedColumns);
    });
}
