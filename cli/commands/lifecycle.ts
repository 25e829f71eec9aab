/**
 * `rbp retention apply (--server S | --volume V | --plan P) [rules] [--dry-run] [--json]`,
 * `rbp retention set|show --server S` (a server's stored default rules, /servers/{serverId}/retention) and
 * `rbp images delete IMAGE_ID`, over POST /retention/apply and DELETE /images/{imageId}. The rules
 * are spelled as restic's `forget` spells them.
 *
 * `rbp gc run [--dry-run] [--wait] [--json]` and `rbp scrub run [--all] [--wait] [--json]`, over
 * POST /gc/runs and POST /scrub/runs (and their GET to wait); with --json they print
 * `{ status, chunksLive, chunksDeleted, segmentsDeleted, bytesFreed }` and
 * `{ status, chunksVerified, corrupt: [{ key, images, imageCount? }], missing: [...], corruptCount,
 * missingCount }` (the lists hold at most 50 findings of 10 images each; the counts are the totals,
 * `imageCount` only where a finding's images are cut).
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { DeletedImage, RetentionResult, StoredRetention } from '../../lambdas/core/api/lifecycle-api.ts';
import type { CostReport } from '../../lambdas/core/lifecycle/cost.ts';
import {
  expiryRunIdOf,
  type ExpiryRun,
  type GcRun,
  type ScrubRun,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { RetentionRules } from '../../lambdas/core/lifecycle/retention.ts';
import { apiContext, withApiOptions, type ApiCommandOptions } from '../api/context.ts';
import { CliError, EXIT } from '../api/exit-codes.ts';
import { jobCommand, jobStatus, waitForJob, type JobCommandOptions, type JobKind } from '../api/jobs.ts';
import { renderTable } from '../api/output.ts';

type RetentionRow = RetentionResult['images'][number];

/** What the retention table's ACTION column says of an image. */
function retentionAction(i: RetentionRow): string {
  if (i.outcome === 'would-delete') return 'delete (dry run)';
  if (i.outcome === 'not-deleted') return 'kept (locked)';
  return i.action === 'keep' ? 'keep' : 'deleted';
}

const retentionColumns = [
  { header: 'IMAGE', value: (i: RetentionRow) => i.imageId },
  { header: 'VOLUME', value: (i: RetentionRow) => i.volumeId },
  { header: 'CREATED', value: (i: RetentionRow) => i.createdAt },
  { header: 'ACTION', value: retentionAction },
  { header: 'REASONS', value: retentionReasons },
];

/** The REASONS column: why kept (or why not deleted), and an image that joined with its recovery point. */
function retentionReasons(i: RetentionRow): string {
  const why = i.notDeletedReason === undefined ? [...i.reasons] : [i.notDeletedReason];
  if (i.withRecoveryPoint !== undefined) why.push(i.withRecoveryPoint);
  return why.length === 0 ? '-' : why.join(', ');
}

type PendingFailure = NonNullable<RetentionResult['pendingFailures']>[number];

const pendingFailureColumns = [
  { header: 'IMAGE', value: (f: PendingFailure) => f.imageId },
  { header: 'VOLUME', value: (f: PendingFailure) => f.volumeId },
  { header: 'REASON', value: (f: PendingFailure) => f.reason },
];

/**
 * `rbp retention apply`'s table output: the images, then (when any) the deletions an earlier run
 * left unfinished that failed again (the next expiry retries them).
 */
export function retentionText(result: RetentionResult): string {
  const images = result.images.length === 0 ? '(none)\n' : renderTable(result.images, retentionColumns);
  const pending = result.pendingFailures ?? [];
  if (pending.length === 0) return images;
  return `${images}\nunfinished deletions that failed again (the next expiry retries them):\n${renderTable(pending, pendingFailureColumns)}`;
}

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
  minimumAge?: string;
  timeZone?: string;
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
    ...(options.minimumAge === undefined ? {} : { minimumAge: options.minimumAge }),
    ...(options.timeZone === undefined ? {} : { timeZone: options.timeZone }),
  };
  return Object.keys(rules).length === 0 ? undefined : rules;
}

export function registerLifecycleCommands(program: Command): void {
  const retention = program.command('retention').description('which images to keep, and deleting the rest');
  withRuleOptions(withApiOptions(retention.command('apply')))
    .description('apply retention rules (restic forget semantics) to the images of a server, volume or plan')
    .option('--server <serverId>', 'every image of the server (each source its own group)')
    .option('--volume <volumeId>', 'the images of one volume')
    .option('--plan <planId>', "the images of a plan's servers (its stored rules when none are given)")
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
      print.message(result, retentionText(result).replace(/\n$/, ''));
    });
  registerStoredRetentionCommands(retention);
  registerExpiryStatusCommand(retention);
  registerLifecycleJobCommands(program);
  registerReportCommands(program);
}

/** The restic-style rule options, on `retention apply` and `retention set`. */
function withRuleOptions(command: Command): Command {
  return command
    .option('--keep-last <n>', 'keep the newest n images', count)
    .option('--keep-within <duration>', 'keep every image younger than this (e.g. 7d, 1y2m3d4h)')
    .option('--keep-hourly <n>', 'keep the newest image of each of the last n hours', count)
    .option('--keep-daily <n>', 'keep the newest image of each of the last n days', count)
    .option('--keep-weekly <n>', 'keep the newest image of each of the last n ISO weeks', count)
    .option('--keep-monthly <n>', 'keep the newest image of each of the last n months', count)
    .option('--keep-yearly <n>', 'keep the newest image of each of the last n years', count)
    .option('--minimum-age <duration>', 'never delete an image younger than this (e.g. 2d)')
    .option(
      '--time-zone <zone>',
      "the server's IANA time zone for the hourly … yearly buckets (e.g. Europe/Berlin; default: the server's stored zone, else UTC)",
    );
}

const storedColumns = [
  { header: 'SERVER', value: (r: StoredRetention) => r.serverId },
  {
    header: 'RULES',
    value: (r: StoredRetention) =>
      Object.entries(r.rules)
        .map(([rule, value]) => `${rule} ${String(value)}`)
        .join(', '),
  },
  { header: 'UPDATED', value: (r: StoredRetention) => r.updatedAt },
];

/** `rbp retention set|show --server S`: a server's stored default rules. */
function registerStoredRetentionCommands(retention: Command): void {
  withRuleOptions(withApiOptions(retention.command('set')))
    .description(
      "store a server's default retention rules (used when `retention apply --server/--volume` gives none, and after plan runs whose plan has none)",
    )
    .requiredOption('--server <serverId>', 'the server')
    .addHelpText('after', '\nExample:\n  $ rbp retention set --server srv-1 --keep-daily 7 --keep-weekly 4')
    .action(async (options: RetentionOptions & { server: string }) => {
      const rules = rulesOf(options);
      if (rules === undefined) {
        throw new CliError(
          'give at least one rule (--keep-last, --keep-within, --keep-hourly … --keep-yearly)',
          EXIT.USAGE,
        );
      }
      const { client, print } = await apiContext(options);
      const stored = await client.put<StoredRetention>(
        `/servers/${encodeURIComponent(options.server)}/retention`,
        { rules },
      );
      print.result(stored, [stored], storedColumns);
    });
  withApiOptions(retention.command('show'))
    .description("show a server's stored default retention rules")
    .requiredOption('--server <serverId>', 'the server')
    .addHelpText('after', '\nExample:\n  $ rbp retention show --server srv-1 --json')
    .action(async (options: ApiCommandOptions & { server: string }) => {
      const { client, print } = await apiContext(options);
      const stored = await client.get<StoredRetention>(
        `/servers/${encodeURIComponent(options.server)}/retention`,
      );
      print.result(stored, [stored], storedColumns);
    });
}

interface RunOptions extends JobCommandOptions {
  dryRun?: boolean;
  all?: boolean;
}

/**
 * What `rbp gc run --json` prints (the issue's interface), plus `locked` when Object Lock kept
 * garbage that a later collection deletes once its retention has passed.
 */
export function gcSummary(run: GcRun) {
  const locked = run.counters.lockedNotDeleted ?? 0;
  return {
    status: run.status,
    chunksLive: run.chunksLive,
    chunksDeleted: run.chunksDeleted,
    segmentsDeleted: run.segmentsDeleted,
    bytesFreed: run.bytesFreed,
    ...(locked === 0 ? {} : { locked: { objects: locked, bytes: run.counters.lockedBytes ?? 0 } }),
  };
}

/**
 * What `rbp scrub run --json` prints (the issue's interface, with the totals); a finding carries
 * `imageCount` when it names only some of the images it breaks.
 */
export function scrubSummary(run: ScrubRun) {
  const finding = (f: ScrubRun['corrupt'][number]) => ({
    key: f.key,
    images: f.images,
    ...(f.imageCount > f.images.length ? { imageCount: f.imageCount } : {}),
  });
  return {
    status: run.status,
    chunksVerified: run.chunksVerified,
    corrupt: run.corrupt.map(finding),
    missing: run.missing.map(finding),
    corruptCount: run.corruptCount,
    missingCount: run.missingCount,
  };
}

const gcColumns = [
  { header: 'RUN', value: (r: GcRun) => r.runId },
  { header: 'STATUS', value: (r: GcRun) => r.status },
  { header: 'PHASE', value: (r: GcRun) => r.phase },
  { header: 'CHUNKS LIVE', value: (r: GcRun) => String(r.chunksLive) },
  { header: 'CHUNKS DELETED', value: (r: GcRun) => String(r.chunksDeleted) },
  { header: 'SEGMENTS DELETED', value: (r: GcRun) => String(r.segmentsDeleted) },
  { header: 'BYTES FREED', value: (r: GcRun) => String(r.bytesFreed) },
];

type FindingRow = {
  readonly kind: string;
  readonly key: string;
  readonly images: readonly string[];
  readonly imageCount: number;
};
const findingColumns = [
  { header: 'FINDING', value: (f: FindingRow) => f.kind },
  { header: 'KEY', value: (f: FindingRow) => f.key },
  {
    header: 'IMAGES',
    // The count first when the finding names only some: a long cell is cut at its end.
    value: (f: FindingRow) =>
      f.imageCount > f.images.length
        ? `${f.imageCount} images: ${f.images.join(', ')}`
        : f.images.join(', ') || '-',
  },
];

function findingRows(run: ScrubRun): FindingRow[] {
  return [
    ...run.corrupt.map((f) => ({ kind: 'corrupt', ...f })),
    ...run.missing.map((f) => ({ kind: 'missing', ...f })),
  ];
}

/**
 * The text of `rbp scrub run`: the totals, the findings the run kept (at most 50 of each kind),
 * and how many more of each it found.
 */
export function scrubText(run: ScrubRun): string {
  const rows = findingRows(run);
  const more = (kind: string, count: number, listed: number) =>
    count > listed ? [`… and ${count - listed} more ${kind}`] : [];
  return [
    `scrub ${run.runId}: ${run.status}, ${run.chunksVerified} chunks verified, ${run.corruptCount} corrupt, ${run.missingCount} missing`,
    ...(rows.length === 0 ? [] : [renderTable(rows, findingColumns).trimEnd()]),
    ...more('corrupt', run.corruptCount, run.corrupt.length),
    ...more('missing', run.missingCount, run.missing.length),
  ].join('\n');
}

const running = (status: string) => status === 'pending' || status === 'running';

const GC_RUN: JobKind<GcRun> = {
  noun: 'collection',
  collection: '/gc/runs',
  finished: (r) => !running(r.status),
  failed: (r) => r.status === 'failed',
  describe: (r, runId) =>
    `collection ${runId}: ${r.status}, ${r.phase}, ${r.counters.keysScanned ?? 0} keys scanned, ${r.chunksDeleted} chunks deleted`,
  unfinished: 'has not finished',
};

const SCRUB_RUN: JobKind<ScrubRun> = {
  noun: 'scrub',
  collection: '/scrub/runs',
  finished: (r) => !running(r.status),
  failed: (r) => r.status === 'failed',
  describe: (r, runId) => `scrub ${runId}: ${r.status}`,
  unfinished: 'has not finished',
};

const EXPIRY_RUN: JobKind<ExpiryRun> = {
  noun: 'expiry',
  collection: '/retention/runs',
  finished: (r) => !running(r.status),
  failed: (r) => r.status === 'failed',
  describe: (r, runId) => `expiry ${runId}: ${r.status}`,
  unfinished: 'has not finished',
};

type ExpiryServer = NonNullable<ExpiryRun['result']>['servers'][number];
const expiryColumns = [
  { header: 'SERVER', value: (s: ExpiryServer) => s.serverId },
  { header: 'RULES', value: (s: ExpiryServer) => s.rules },
  { header: 'KEPT', value: (s: ExpiryServer) => String(s.kept) },
  { header: 'DELETED', value: (s: ExpiryServer) => String(s.deleted) },
  {
    header: 'NOT DELETED',
    value: (s: ExpiryServer) => s.notDeleted.map((n) => `${n.image} (${n.reason})`).join(', ') || '-',
  },
];

/** The text of `rbp retention run-status`: one line for the run, then one row per server. */
function expiryText(run: ExpiryRun): string {
  const head = `expiry ${run.runId} of plan ${run.plan}${run.planRunId === undefined ? '' : ` run ${run.planRunId}`}: ${run.status}`;
  const servers = run.result?.servers ?? [];
  return [
    head,
    ...(run.failure === undefined ? [] : [`  failure  ${run.failure}`]),
    ...(servers.length === 0 ? [] : [renderTable(servers, expiryColumns).trimEnd()]),
  ].join('\n');
}

/** `rbp retention run-status RUN_ID`: the expiry that followed a plan run (GET /retention/runs/{runId}). */
function registerExpiryStatusCommand(retention: Command): void {
  jobCommand(retention, 'run-status', 'expiry')
    .description(
      'show the expiry that followed a plan run: per server the rules used and the images kept, deleted and not deleted',
    )
    .argument('<runId>', 'the expiry run (expire-<planRunId>), or the plan run it followed')
    .addHelpText('after', '\nExample:\n  $ rbp retention run-status 20261120t010000000z-0a1b2c3d --json')
    .action(async (runId: string, options: JobCommandOptions) => {
      // Every expiry run id starts with `expire-`; anything else is the id of the plan run it followed.
      const id = runId.startsWith('expire-') ? runId : expiryRunIdOf(runId);
      const { client, print, progress } = await apiContext(options);
      const run = await jobStatus(client, EXPIRY_RUN, id, options, progress);
      print.message(run, expiryText(run));
      if (EXPIRY_RUN.failed(run)) process.exitCode = EXIT.JOB_FAILED;
    });
}

export function registerLifecycleJobCommands(program: Command): void {
  const gc = program
    .command('gc')
    .description('garbage collection of chunks and segments no live image needs');
  jobCommand(gc, 'run', 'collection')
    .description('start a garbage collection (or resume the one that holds the fence); it also runs daily')
    .option('--dry-run', 'count what would be deleted; delete nothing')
    .addHelpText('after', '\nExamples:\n  $ rbp gc run --dry-run --wait\n  $ rbp gc run --wait --json')
    .action(async (options: RunOptions) => {
      const { client, print, progress } = await apiContext(options);
      const started = await client.post<GcRun>('/gc/runs', { dryRun: options.dryRun === true });
      const run = options.wait ? await waitForJob(client, GC_RUN, started.runId, options, progress) : started;
      print.result(gcSummary(run), [run], gcColumns);
      if (GC_RUN.failed(run))
        throw new CliError(`collection ${run.runId} failed: ${run.failure ?? ''}`, EXIT.JOB_FAILED);
    });

  const scrub = program.command('scrub').description('reading stored data back and checking it');
  jobCommand(scrub, 'run', 'scrub')
    .description(
      "start a scrub: today's rolling share of the chunks (all of them within 30 daily runs), or --all",
    )
    .option('--all', 'check every chunk')
    .addHelpText('after', '\nExamples:\n  $ rbp scrub run --wait\n  $ rbp scrub run --all --wait --json')
    .action(async (options: RunOptions) => {
      const { client, print, progress } = await apiContext(options);
      const started = await client.post<ScrubRun>('/scrub/runs', { all: options.all === true });
      const run = options.wait
        ? await waitForJob(client, SCRUB_RUN, started.runId, options, progress)
        : started;
      print.message(scrubSummary(run), scrubText(run));
      if (SCRUB_RUN.failed(run))
        throw new CliError(`scrub ${run.runId} failed: ${run.failure ?? ''}`, EXIT.JOB_FAILED);
    });
}

type CostRow = CostReport['total'];
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const costColumns = [
  { header: 'SCOPE', value: (l: CostRow) => l.scope },
  { header: 'IMAGES', value: (l: CostRow) => String(l.images) },
  { header: 'LOGICAL', value: (l: CostRow) => gib(l.logicalBytes) },
  { header: 'STORED', value: (l: CostRow) => gib(l.storedBytes) },
  { header: 'DEDUP', value: (l: CostRow) => `${l.dedupRatio}x` },
  { header: 'COMPRESSION', value: (l: CostRow) => `${l.compressionRatio}x` },
  { header: 'USD/MONTH', value: (l: CostRow) => l.monthlyUsd.total.toFixed(2) },
  { header: 'AS EBS SNAPSHOTS', value: (l: CostRow) => l.ebsSnapshotsMonthlyUsd.toFixed(2) },
];

export function registerReportCommands(program: Command): void {
  const report = program.command('report').description('reports over the live images');
  withApiOptions(report.command('cost'))
    .description(
      "per server and in total: logical and stored bytes, dedup and compression, the last backup's requests, USD per month next to EBS snapshots",
    )
    .option('--server <serverId>', 'one server only (and the total)')
    .addHelpText('after', '\nExamples:\n  $ rbp report cost\n  $ rbp report cost --server web-01 --json')
    .action(async (options: ApiCommandOptions & { server?: string }) => {
      const { client, print } = await apiContext(options);
      const query = options.server === undefined ? '' : `?server=${encodeURIComponent(options.server)}`;
      const result = await client.get<CostReport>(`/reports/cost${query}`);
      print.result(result, [...result.servers, result.total], costColumns);
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
