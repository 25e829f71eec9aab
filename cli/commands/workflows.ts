/**
 * `rbp workflows …` (create, ls, show, update, enable, disable, delete) over the workflow routes
 * of the REST API (docs/workflows.md).
 */
import type { Command } from 'commander';
import type { WorkflowView } from '../../lambdas/core/workflows/workflow-api.ts';
import type { WorkflowRunSummary, WorkflowRunView } from '../../lambdas/core/workflows/workflow-run.ts';
import { apiContext, listAll, withApiOptions, type ApiCommandOptions } from '../api/context.ts';
import { exitIfFailed, jobCommand, jobStatus, type JobCommandOptions, type JobKind } from '../api/jobs.ts';
import { namedDocumentPath, registerNamedDocumentCommands } from '../api/named-document-commands.ts';

const workflowPath = (name: string) => namedDocumentPath('workflow', name);

/** What DELETE /workflows/{name} answers. */
interface WorkflowDeletedAnswer {
  readonly name: string;
  readonly deleted: true;
  readonly created: 'keep' | 'remove';
  readonly snapshotIds: readonly string[];
  readonly volumeIds: readonly string[];
}

/** Exactly the fields the issue names for `rbp workflows run --json`, from a run view. */
function runSummaryOf(run: WorkflowRunView): WorkflowRunSummary {
  return {
    runId: run.runId,
    workflow: run.workflow,
    status: run.status,
    ...(run.reason === undefined ? {} : { reason: run.reason }),
    imageIds: run.imageIds,
    snapshotIds: run.snapshotIds,
    ...(run.volumeIds.length === 0 ? {} : { volumeIds: run.volumeIds }),
  };
}

function runLine(run: WorkflowRunView): string {
  const parts = [`workflow run ${run.runId} of ${run.workflow}: ${run.status} (${run.phase})`];
  if (run.reason !== undefined) parts.push(run.reason);
  if (run.snapshotIds.length > 0) parts.push(`snapshots ${run.snapshotIds.join(', ')}`);
  if (run.volumeIds.length > 0) parts.push(`volumes ${run.volumeIds.join(', ')}`);
  return parts.join('; ');
}

const WORKFLOW_RUN: JobKind<WorkflowRunView> = {
  noun: 'workflow run',
  collection: '/workflow-runs',
  finished: (run) => run.status !== 'Running',
  failed: (run) => run.status === 'Failed',
  describe: runLine,
};

/** What a workflow presents where, in one table cell. */
function targetText(workflow: WorkflowView): string {
  const { target } = workflow.document;
  if (workflow.type === 'DirectMount') {
    return `${target.instanceId ?? ''} ${target.device ?? Object.values(target.devices ?? {}).join(',')} (${target.availabilityZone ?? ''})`;
  }
  return [target.region, target.availabilityZone].filter((p) => p !== undefined).join(' ') || '(this region)';
}

function scheduleText(workflow: WorkflowView): string {
  const { schedule } = workflow.document;
  return schedule.type === 'on-demand' ? 'on-demand' : `${schedule.expression} ${schedule.timeZone}`;
}

export function registerWorkflowCommands(program: Command): void {
  const workflows = program
    .command('workflows')
    .description('workflows: hand backups to test teams as LiveClones or DirectMounts (docs/workflows.md)')
    .addHelpText('after', '\nExamples:\n  $ rbp workflows create --file qaclone.json\n  $ rbp workflows ls');

  registerNamedDocumentCommands<WorkflowView>(workflows, {
    noun: 'workflow',
    example: 'qaclone',
    label: (w) => w.type,
    columns: [
      { header: 'WORKFLOW', value: (w) => w.name },
      { header: 'TYPE', value: (w) => w.type },
      { header: 'ENABLED', value: (w) => (w.enabled ? 'yes' : 'no') },
      { header: 'SOURCE', value: (w) => w.document.server ?? w.document.volumes?.join(',') },
      { header: 'IMAGE', value: (w) => w.document.image },
      { header: 'SCHEDULE', value: scheduleText },
      { header: 'TARGET', value: targetText },
      { header: 'MASKING', value: (w) => w.document.masking?.function ?? '-' },
      { header: 'REVISION', value: (w) => w.revision, right: true },
    ],
    updateRule: 'name, type, target and schedule type cannot change',
    enableDescription: 'enable a workflow',
    disableDescription: 'disable a workflow (its runs are refused until it is enabled again)',
  });

  withApiOptions(workflows.command('delete'))
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp workflows delete qaclone\n  $ rbp workflows delete qaclone --remove-clones',
    )
    .description(
      'delete a workflow and its schedule; its clones and mounts (snapshots and volumes tagged rbp:workflow=NAME) are kept unless --remove-clones',
    )
    .argument('<name>', 'the workflow')
    .option('--remove-clones', 'also detach and delete its volumes and delete its snapshots', false)
    .action(async (name: string, options: ApiCommandOptions & { removeClones: boolean }) => {
      const { client, print } = await apiContext(options);
      const created = options.removeClones ? 'remove' : 'keep';
      const deleted = await client.delete<WorkflowDeletedAnswer>(`${workflowPath(name)}?created=${created}`);
      const ids = [...deleted.volumeIds, ...deleted.snapshotIds];
      const what = `${created === 'remove' ? 'removed' : 'kept'} ${deleted.volumeIds.length} volume(s) and ${deleted.snapshotIds.length} snapshot(s)`;
      print.message(
        deleted,
        `workflow ${name} deleted${ids.length === 0 ? '' : `; ${what}: ${ids.join(' ')}`}`,
      );
    });

  jobCommand(workflows, 'run', 'workflow run')
    .description(
      'run a workflow now (make or refresh its LiveClone or DirectMount); --unmount detaches and deletes a DirectMount; with --wait, exit non-zero unless the run succeeded',
    )
    .argument('<name>', 'the workflow')
    .option('--unmount', 'detach and delete what the DirectMount attached', false)
    .addHelpText(
      'after',
      '\nExamples:\n  $ rbp workflows run qaclone --wait --json\n  $ rbp workflows run qamount --unmount',
    )
    .action(async (name: string, options: JobCommandOptions & { unmount: boolean }) => {
      const { client, print, progress } = await apiContext(options);
      const accepted = await client.post<WorkflowRunSummary>(
        `${workflowPath(name)}/runs`,
        options.unmount ? { action: 'unmount' } : {},
      );
      const run = await jobStatus(client, WORKFLOW_RUN, accepted.runId, options, progress);
      if (options.wait) exitIfFailed(WORKFLOW_RUN, run);
      print.message(
        runSummaryOf(run),
        options.wait ? runLine(run) : `workflow run ${run.runId} started (rbp workflows runs ${name})`,
      );
    });

  withApiOptions(workflows.command('runs'))
    .addHelpText('after', '\nExample:\n  $ rbp workflows runs qaclone')
    .description("list a workflow's runs, newest first")
    .argument('<name>', 'the workflow')
    .action(async (name: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const items = await listAll<WorkflowRunView>(client, `${workflowPath(name)}/runs`);
      print.result(items, items, [
        { header: 'RUN', value: (r) => r.runId },
        { header: 'ACTION', value: (r) => r.action },
        { header: 'STATUS', value: (r) => r.status },
        { header: 'STARTED', value: (r) => r.startedAt },
        { header: 'ENDED', value: (r) => r.endedAt ?? '-' },
        { header: 'SNAPSHOTS', value: (r) => r.snapshotIds.join(',') || '-' },
        { header: 'VOLUMES', value: (r) => r.volumeIds.join(',') || '-' },
        { header: 'NON-SENSITIVE', value: (r) => (r.nonSensitive ? 'yes' : 'no') },
        {
          header: 'REASON',
          value: (r) =>
            r.reason ?? (r.replacedByRunId === undefined ? '' : `replaced by ${r.replacedByRunId}`),
        },
      ]);
    });
}
