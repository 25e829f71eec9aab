/**
 * `rbp plans …` (create, ls, show, update, enable, disable, delete, run, runs, run-status),
 * `rbp servers ls` and `rbp settings show|set` over the plan routes of the REST API
 * (docs/plans.md).
 */
import { InvalidArgumentError, type Command } from 'commander';
import {
  runJsonOf,
  type PlanRunView,
  type PlanView,
  type ServerListItem,
} from '../../lambdas/core/plans/plan-api.ts';
import type { PlanSettings } from '../../lambdas/core/plans/settings.ts';
import type { PlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { rpoWatchMinutes } from '../../lambdas/core/plans/rpo.ts';
import { apiContext, listAll, withApiOptions, type ApiCommandOptions } from '../api/context.ts';
import { EXIT } from '../api/exit-codes.ts';
import { exitIfFailed, jobCommand, jobStatus, type JobCommandOptions, type JobKind } from '../api/jobs.ts';
import { namedDocumentPath, registerNamedDocumentCommands } from '../api/named-document-commands.ts';
import type { Printer } from '../api/output.ts';

const planPath = (name: string) => namedDocumentPath('plan', name);

function taskLabel(task: PlanRunView['tasks'][number]): string {
  return task.application === undefined ? task.server : `${task.server}/${task.application}`;
}

/** A duration in whole units, largest first, at most two: `45s`, `12m`, `2h 5m`, `3d 4h`. */
export function durationText(seconds: number): string {
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  let rest = Math.max(0, Math.floor(seconds));
  for (const [unit, size] of units) {
    if (rest >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/**
 * A server's RPO as `rbp servers ls` shows it: the RPO achieved, the target in brackets, and
 * BREACHED when it is: `2h 5m (1h) BREACHED`, `12m (1h)`, `never (1h) BREACHED`, `3d 4h`.
 */
/**
 * A plan's RPO target as `rbp plans ls` shows it: its rpoMinutes, or the default it is watched
 * against without one, marked `(default)`; nothing when the plan watches nothing.
 */
export function planRpoText(
  document: Pick<PlanDocument, 'enabled' | 'schedules' | 'rpoMinutes'>,
): string | undefined {
  if (document.rpoMinutes !== undefined) return durationText(document.rpoMinutes * 60);
  const minutes = rpoWatchMinutes(document);
  return minutes === undefined ? undefined : `${durationText(minutes * 60)} (default)`;
}

export function rpoText(rpo: ServerListItem['rpo']): string | undefined {
  if (rpo === undefined) return undefined;
  const achieved = rpo.achievedSeconds === undefined ? 'never' : durationText(rpo.achievedSeconds);
  const target = rpo.targetMinutes === undefined ? '' : ` (${durationText(rpo.targetMinutes * 60)})`;
  return `${achieved}${target}${rpo.breached ? ' BREACHED' : ''}`;
}

/** One progress line for a run: counts, then what each running task is doing. */
export function runProgressLine(run: PlanRunView): string {
  const count = (status: string) => run.tasks.filter((t) => t.status === status).length;
  const done = count('Succeeded') + count('Failed') + count('Skipped');
  const running = run.tasks.filter((t) => t.status === 'Running').map((t) => `${taskLabel(t)}: ${t.step}`);
  const head = `plan run ${run.runId}: ${run.status}`;
  if (run.status !== 'Running') return `${head}${run.reason === undefined ? '' : ` — ${run.reason}`}`;
  if (run.tasks.length === 0) return `${head} — checks`;
  return `${head} — ${done}/${run.tasks.length} tasks done${running.length > 0 ? `; ${running.join('; ')}` : ''}`;
}

/** The text report of a run: its status and one line per task in creation order. */
export function runReport(run: PlanRunView): string {
  const lines = [`plan run ${run.runId} (${run.plan}): ${run.status}`];
  if (run.reason !== undefined) lines.push(`  reason   ${run.reason}`);
  lines.push(
    `  started  ${run.startedAt}${run.finishedAt === undefined ? '' : `, finished ${run.finishedAt}`}`,
  );
  run.tasks.forEach((t, index) => {
    const details = [
      t.source === undefined ? undefined : `from ${t.source}`,
      t.imageIds === undefined ? undefined : `image ${t.imageIds.join(', ')}`,
      t.rpoAchievedSeconds === undefined ? undefined : `RPO achieved ${durationText(t.rpoAchievedSeconds)}`,
      t.reason,
    ].filter((d) => d !== undefined);
    lines.push(
      `  ${String(index + 1).padStart(3)}. ${taskLabel(t)}  ${t.status}${details.length > 0 ? `  ${details.join('; ')}` : ''}`,
    );
  });
  return lines.join('\n');
}

/** Exit code of a finished run: 0 only when every task succeeded. */
export function exitCodeOfRun(run: PlanRunView): number {
  if (run.status === 'Succeeded' || run.status === 'Running') return EXIT.OK;
  return EXIT.JOB_FAILED;
}

const PLAN_RUN: JobKind<PlanRunView> = {
  noun: 'plan run',
  collection: '/plan-runs',
  finished: (run) => run.status !== 'Running',
  failed: (run) => exitCodeOfRun(run) !== EXIT.OK,
  describe: runProgressLine,
};

function printRun(print: Printer, run: PlanRunView): void {
  print.message(runJsonOf(run), runReport(run));
  exitIfFailed(PLAN_RUN, run);
}

function registerPlanCommands(program: Command): void {
  const plans = program
    .command('plans')
    .description('protection plans: what to back up, when, and from which copy (docs/plans.md)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp plans create --file nightly-qa.json\n  $ rbp plans run nightly-qa --wait --json',
    );

  registerNamedDocumentCommands<PlanView>(plans, {
    noun: 'plan',
    example: 'nightly-qa',
    columns: [
      { header: 'PLAN', value: (p) => p.name },
      { header: 'ENABLED', value: (p) => (p.enabled ? 'yes' : 'no') },
      {
        header: 'SCHEDULES',
        value: (p) => p.document.schedules.map((s) => `${s.expression} ${s.timeZone}`).join(', '),
      },
      { header: 'ACTIVITIES', value: (p) => p.document.activities.length, right: true },
      { header: 'RPO', value: (p) => planRpoText(p.document) },
      { header: 'REVISION', value: (p) => p.revision, right: true },
    ],
    updateRule: 'the name must stay the same',
    enableDescription: 'enable a plan and its schedules',
    disableDescription: 'disable a plan and its schedules (a run can still be started by hand)',
  });

  withApiOptions(plans.command('delete'))
    .addHelpText('after', '\nExample:\n  $ rbp plans delete nightly-qa')
    .description('delete a plan and its schedules (its runs stay listed)')
    .argument('<name>', 'the plan')
    .action(async (name: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      await client.delete(planPath(name));
      print.message({ name, deleted: true }, `plan ${name} deleted`);
    });

  jobCommand(plans, 'run', 'plan run')
    .description(
      'run a plan now; with --wait, show each task live and exit non-zero unless every task succeeded',
    )
    .argument('<name>', 'the plan')
    .addHelpText('after', '\nExample:\n  $ rbp plans run nightly-qa --wait --json | jq .tasks')
    .action(async (name: string, options: JobCommandOptions) => {
      const { client, print, progress } = await apiContext(options);
      const accepted = await client.post<{ runId: string }>(`${planPath(name)}/runs`, {});
      const run = await jobStatus(client, PLAN_RUN, accepted.runId, options, progress);
      if (options.wait) printRun(print, run);
      else print.message(runJsonOf(run), `plan run ${run.runId} started (rbp plans run-status ${run.runId})`);
    });

  withApiOptions(plans.command('runs'))
    .addHelpText('after', '\nExample:\n  $ rbp plans runs nightly-qa')
    .description("list a plan's runs, newest first")
    .argument('<name>', 'the plan')
    .action(async (name: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const items = await listAll<PlanRunView>(client, `${planPath(name)}/runs`);
      print.result(items, items, [
        { header: 'RUN', value: (r) => r.runId },
        { header: 'STATUS', value: (r) => r.status },
        { header: 'TASKS', value: (r) => r.tasks.length, right: true },
        { header: 'STARTED', value: (r) => r.startedAt },
        { header: 'FINISHED', value: (r) => r.finishedAt },
        { header: 'REASON', value: (r) => r.reason },
      ]);
    });

  jobCommand(plans, 'run-status', 'plan run')
    .addHelpText('after', '\nExample:\n  $ rbp plans run-status 20261120t010000000z-0a1b2c3d --wait')
    .description('show a plan run and its tasks')
    .argument('<runId>', 'the run')
    .action(async (runId: string, options: JobCommandOptions) => {
      const { client, print, progress } = await apiContext(options);
      printRun(print, await jobStatus(client, PLAN_RUN, runId, options, progress));
    });
}

function registerServerCommands(program: Command): void {
  const servers = program
    .command('servers')
    .description('protected servers (replica volumes grouped by source server)');
  withApiOptions(servers.command('ls'))
    .addHelpText('after', '\nExample:\n  $ rbp servers ls --json')
    .description('list the servers with their replication state, volumes, last recovery point and plans')
    .action(async (options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const items = await listAll<ServerListItem>(client, '/servers');
      // STATE comes last and only when a server has one (REPLICA GONE), so the usual table is unchanged.
      const anyGone = items.some((s) => s.state !== undefined);
      print.result(items, items, [
        { header: 'SERVER', value: (s) => s.name },
        { header: 'REPLICATION', value: (s) => s.replication },
        { header: 'LAG S', value: (s) => s.lagSeconds, right: true },
        { header: 'VOLUMES', value: (s) => s.volumes.map((v) => v.volumeId).join(', ') },
        { header: 'PRIMARY', value: (s) => (s.hasPrimary ? 'yes' : 'no') },
        { header: 'LAST RECOVERY POINT', value: (s) => s.lastRecoveryPoint },
        { header: 'RPO (TARGET)', value: (s) => rpoText(s.rpo) },
        { header: 'PLANS', value: (s) => s.plans.join(', ') },
        ...(anyGone ? [{ header: 'STATE', value: (s: ServerListItem) => s.state }] : []),
      ]);
    });
}

function parseSwitch(value: string): boolean {
  if (value === 'enabled') return true;
  if (value === 'disabled') return false;
  throw new InvalidArgumentError('must be enabled or disabled');
}

function settingsText(settings: PlanSettings): string {
  return [
    `backups  ${settings.backupsEnabled ? 'enabled' : 'disabled'}`,
    `ceiling  ${settings.storedBytesCeiling === undefined ? '(none)' : `${settings.storedBytesCeiling} bytes`}`,
    ...(settings.updatedAt === undefined ? [] : [`updated  ${settings.updatedAt}`]),
  ].join('\n');
}

function registerSettingsCommands(program: Command): void {
  const settings = program.command('settings').description('global settings: the switch for all backups');
  withApiOptions(settings.command('show'))
    .addHelpText('after', '\nExample:\n  $ rbp settings show')
    .description('show the settings')
    .action(async (options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const current = await client.get<PlanSettings>('/settings');
      print.message(current, settingsText(current));
    });
  withApiOptions(settings.command('set'))
    .description('change the settings')
    .requiredOption(
      '--backups <enabled|disabled>',
      'enable or disable every backup (plan runs stop at once when disabled)',
      parseSwitch,
    )
    .addHelpText('after', '\nExample:\n  $ rbp settings set --backups disabled')
    .action(async (options: ApiCommandOptions & { backups: boolean }) => {
      const { client, print } = await apiContext(options);
      const updated = await client.put<PlanSettings>('/settings', { backupsEnabled: options.backups });
      print.message(updated, settingsText(updated));
    });
}

export function registerPlanCommandGroups(program: Command): void {
  registerPlanCommands(program);
  registerServerCommands(program);
  registerSettingsCommands(program);
}
