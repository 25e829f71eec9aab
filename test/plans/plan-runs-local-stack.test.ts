/**
 * Plan runs on the local stack: the plan-run state machine (statemachines/plan-run.asl.json) in
 * moto with its real function, starting the real backup state machine per task over real ext4
 * replicas. The replication agent is the local stack's simulator, for checkpoints and for the
 * quiesce contract (it answers `Quiesce Requested` / `Release Requested` by tagging the server's
 * volumes, or stays silent when told to); the test only records the events. Hooks are local
 * functions made with the real `rbp local function create`. The run's clock is the system clock
 * plus an offset the tests move, so the quiesce deadline passes without sleeping through it.
 *
 * - the plan of docs/plans.md over QA1, QA2, QA3, TEST8 (DOMAIN1, DOMAIN2, OTHER) and a
 *   disconnected TEST9: exactly six tasks, in order, five Succeeded and TEST9/DOMAIN* Skipped,
 *   the outcome on EventBridge and as one SNS message on the outcome topic;
 * - a plan whose servers are all unavailable stops before any backup;
 * - the global switch off stops a run;
 * - a failing pre-plan hook stops a run;
 * - replica-only over a stalled replica fails the task and notifies (`Plan Task Failed`);
 * - a quiesce the agent never confirms cancels the task after timeout + 180 s and sends the release.
 */
import '../support/quiet-powertools.ts';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanRunView } from '../../lambdas/core/plans/plan-api.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { deployProduct, type DeployedProduct } from '../../local/deploy.ts';
import { makeExtImage } from '../support/fs-images.ts';
import { callApi, type ApiAnswer } from '../support/local-product.ts';
import { useLocalStack } from '../support/local-stack.ts';
import {
  outcomeMessages,
  recordPlanEvents,
  restoreEnv,
  type RecordedPlanEvent,
} from './local-plan-events.ts';
import { docsExample, rbpAgainst, type CliResult } from './plan-fixtures.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 200 });
const savedEnv = { ...process.env };
let product: DeployedProduct;
let workDir: string;
let ec2: EC2Client;
let sfn: SFNClient;
/** The run's clock: the system clock moved forward by `offsetMs`. */
let offsetMs = 0;
const runClock: Clock = { now: () => new Date(Date.now() + offsetMs) };
/** Every plan event and quiesce request put on EventBridge, in order. */
const planEvents: RecordedPlanEvent[] = [];
const volumesOf = new Map<string, string>();

function rbp(args: string[]): Promise<CliResult> {
  return rbpAgainst(product.apiUrl, savedEnv, args);
}

function api<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  return callApi<T>(product.apiUrl, method, path, body);
}

async function createPlan(document: unknown): Promise<void> {
  const created = await api('POST', '/plans', document);
  expect(created.status, JSON.stringify(created.body)).toBe(200);
}

async function startRun(plan: string): Promise<string> {
  const started = await api<{ runId: string }>('POST', `/plans/${plan}/runs`, {});
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return started.body.runId;
}

async function waitForRun(runId: string, until: (run: PlanRunView) => boolean, timeoutMs = 300_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = (await api<PlanRunView>('GET', `/plan-runs/${runId}`)).body;
    if (until(run)) return run;
    if (Date.now() > deadline) throw new Error(`run ${runId} did not get there: ${JSON.stringify(run)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function backupExecutions(): Promise<number> {
  const listed = await sfn.send(new ListExecutionsCommand({ stateMachineArn: product.stateMachineArn }));
  return (listed.executions ?? []).length;
}

function snsMessages(): Promise<{ subject: string; message: string }[]> {
  return outcomeMessages(local.stack.moto.endpoint, product.topicArn);
}

/** `rbp local …` against the gateway (the local stack's admin API), as an operator runs it. */
function rbpLocal(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', 'local', ...args, '--endpoint', local.stack.endpoint],
      { env: savedEnv },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  product = await deployProduct(local.stack, {
    handlerEnv: { RANGE_WORKERS: '2' },
    planRuns: { clock: runClock, maxWaitSeconds: 1 },
  });
  const config = local.clientConfig({ maxAttempts: 3 });
  ec2 = new EC2Client(config);
  sfn = new SFNClient(config);
  workDir = await mkdtemp(join(tmpdir(), 'rbp-plan-runs-'));

  recordPlanEvents(local.stack.agent, planEvents);

  for (const server of ['QA1', 'QA2', 'QA3', 'TEST8', 'TEST9']) {
    const source = join(workDir, `${server}-files`);
    const image = join(workDir, `${server}.img`);
    await mkdir(source, { recursive: true });
    await writeFile(join(source, 'hello.txt'), `hello from ${server}\n`);
    await makeExtImage(image, { type: 'ext4', sizeBytes: 8 * 1024 * 1024, sourceDir: source });
    const { volumeId } = await local.stack.replicas.create({ imagePath: image, serverId: server });
    volumesOf.set(server, volumeId);
  }
  await ec2.send(
    new CreateTagsCommand({
      Resources: [volumesOf.get('TEST8')!],
      Tags: [{ Key: 'rbp:applications', Value: 'DOMAIN1,DOMAIN2,OTHER' }],
    }),
  );
  await ec2.send(
    new CreateTagsCommand({
      Resources: [volumesOf.get('TEST9')!],
      Tags: [
        { Key: 'rbp:replication-state', Value: 'disconnected' },
        { Key: 'rbp:applications', Value: 'DOMAIN1' },
      ],
    }),
  );
}, 180_000);

afterAll(async () => {
  ec2?.destroy();
  sfn?.destroy();
  restoreEnv(savedEnv);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('plan runs on the local stack', () => {
  it('runs the docs example: six tasks in order, TEST9 Skipped, the rest backed up from the replica', async () => {
    const file = join(workDir, 'nightly-qa.json');
    await writeFile(file, await docsExample());
    const created = await rbp(['plans', 'create', '--file', file]);
    expect(created.stderr).toBe('');

    const ran = await rbp(['plans', 'run', 'nightly-qa', '--wait', '--json', '--poll-interval', '1']);
    expect(ran.stderr).not.toContain('Error');
    const summary = JSON.parse(ran.stdout) as {
      runId: string;
      plan: string;
      status: string;
      reason?: string;
      tasks: {
        server: string;
        application?: string;
        status: string;
        reason?: string;
        source?: string;
        backupId?: string;
        imageIds?: string[];
      }[];
    };
    const runId = summary.runId;
    expect(Object.keys(summary)).toEqual(['runId', 'plan', 'status', 'reason', 'tasks']);
    expect({ plan: summary.plan, status: summary.status, reason: summary.reason }).toEqual({
      plan: 'nightly-qa',
      status: 'PartiallySucceeded',
      reason: '5 succeeded, 0 failed, 1 skipped of 6 tasks',
    });
    expect(summary.tasks.map((t) => [t.server, t.application, t.status, t.source])).toEqual([
      ['QA1', undefined, 'Succeeded', 'replica'],
      ['QA2', undefined, 'Succeeded', 'replica'],
      ['QA3', undefined, 'Succeeded', 'replica'],
      ['TEST8', 'DOMAIN1', 'Succeeded', 'replica'],
      ['TEST8', 'DOMAIN2', 'Succeeded', 'replica'],
      ['TEST9', 'DOMAIN*', 'Skipped', undefined],
    ]);
    expect(summary.tasks[5]).toEqual({
      server: 'TEST9',
      application: 'DOMAIN*',
      status: 'Skipped',
      reason: 'server TEST9 is unavailable: replication disconnected',
    });
    summary.tasks.slice(0, 5).forEach((task, index) => {
      expect(task.backupId).toBe(`${runId}-t${index}`);
      expect(task.imageIds).toEqual([`img-${runId}-t${index}`]);
    });
    expect(ran.code).toBe(8); // not every task succeeded

    // Each task's backup ran with the plan's trigger, and its recovery point keeps it (the plan's
    // expiry deletes only points with it).
    const points = await rbp(['recovery-points', 'ls', '--server', 'QA1', '--json']);
    expect(
      (JSON.parse(points.stdout) as { backupId: string; trigger?: string }[])
        .filter((p) => p.backupId === `${runId}-t0`)
        .map((p) => p.trigger),
    ).toEqual(['plan:nightly-qa']);

    // TEST8's applications were quiesced and released, each by its own task, in order.
    const quiesce = planEvents
      .filter((e) => e.detailType === 'Quiesce Requested' || e.detailType === 'Release Requested')
      .map((e) => [e.detailType, e.detail.serverId, e.detail.application]);
    expect(quiesce).toEqual([
      ['Quiesce Requested', 'TEST8', 'DOMAIN1'],
      ['Release Requested', 'TEST8', 'DOMAIN1'],
      ['Quiesce Requested', 'TEST8', 'DOMAIN2'],
      ['Release Requested', 'TEST8', 'DOMAIN2'],
    ]);
    const finished = planEvents.filter((e) => e.detailType === 'Plan Run Finished');
    expect(finished.map((e) => [e.detail.runId, e.detail.status])).toEqual([[runId, 'PartiallySucceeded']]);
    // The SNS message of the run, as moto recorded it on the outcome topic: one message (no task
    // failed, so no 'Plan Task Failed'), the run's summary with its six tasks in order.
    const messages = (await snsMessages()).filter((m) => m.subject.startsWith('rbp plan nightly-qa:'));
    expect(messages.map((m) => m.subject)).toEqual(['rbp plan nightly-qa: run PartiallySucceeded']);
    const message = JSON.parse(messages[0]!.message) as Record<string, unknown>;
    expect(message).toEqual({ detailType: 'Plan Run Finished', ...finished[0]!.detail });
    expect(message).toMatchObject({
      runId,
      plan: 'nightly-qa',
      status: 'PartiallySucceeded',
      reason: '5 succeeded, 0 failed, 1 skipped of 6 tasks',
      tasks: summary.tasks,
    });

    const runs = await rbp(['plans', 'runs', 'nightly-qa', '--json']);
    expect((JSON.parse(runs.stdout) as { runId: string }[]).map((r) => r.runId)).toEqual([runId]);
    const status = await rbp(['plans', 'run-status', runId, '--json']);
    expect(JSON.parse(status.stdout)).toEqual(summary);
  }, 600_000);

  it('stops a plan whose servers are all unavailable before any backup', async () => {
    await createPlan({ name: 'only-test9', activities: [{ servers: ['TEST9', 'NOSUCH'] }] });
    const before = await backupExecutions();
    const runId = await startRun('only-test9');
    const run = await waitForRun(runId, (r) => r.status !== 'Running');
    expect({ status: run.status, stoppedBy: run.stoppedBy }).toEqual({
      status: 'Stopped',
      stoppedBy: 'NothingToRun',
    });
    expect(run.tasks.map((t) => [t.server, t.status, t.reason])).toEqual([
      ['TEST9', 'Skipped', 'server TEST9 is unavailable: replication disconnected'],
      ['NOSUCH', 'Skipped', 'server NOSUCH not found'],
    ]);
    expect(await backupExecutions()).toBe(before);
  }, 300_000);

  it('stops a run at once while the global switch is off', async () => {
    await createPlan({ name: 'qa1-only', activities: [{ servers: 'QA1' }] });
    expect((await api('PUT', '/settings', { backupsEnabled: false })).status).toBe(200);
    try {
      const before = await backupExecutions();
      const runId = await startRun('qa1-only');
      const run = await waitForRun(runId, (r) => r.status !== 'Running');
      expect({ status: run.status, stoppedBy: run.stoppedBy, tasks: run.tasks }).toEqual({
        status: 'Stopped',
        stoppedBy: 'BackupsDisabled',
        tasks: [],
      });
      expect(run.reason).toContain('disabled');
      expect(await backupExecutions()).toBe(before);
    } finally {
      await api('PUT', '/settings', { backupsEnabled: true });
    }
  }, 300_000);

  it('stops a run whose pre-plan hook fails, before any backup', async () => {
    const payloadFile = join(workDir, 'check-maintenance.json');
    const registered = await rbpLocal([
      'function',
      'create',
      '--name',
      'check-maintenance',
      '--command',
      `cat > ${payloadFile}; echo 'maintenance mode is on' >&2; exit 3`,
    ]);
    expect(registered.code, registered.stderr).toBe(0);
    await createPlan({
      name: 'hooked',
      prePlanHook: { function: 'check-maintenance', timeoutSeconds: 10 },
      activities: [{ servers: 'QA*' }],
    });
    const before = await backupExecutions();
    const runId = await startRun('hooked');
    const run = await waitForRun(runId, (r) => r.status !== 'Running');
    expect({ status: run.status, stoppedBy: run.stoppedBy }).toEqual({
      status: 'Stopped',
      stoppedBy: 'PrePlanHookFailed',
    });
    expect(run.reason).toContain('pre-plan hook check-maintenance failed: maintenance mode is on');
    expect(run.tasks.map((t) => [t.server, t.status])).toEqual([
      ['QA1', 'Skipped'],
      ['QA2', 'Skipped'],
      ['QA3', 'Skipped'],
    ]);
    expect(JSON.parse(await readFile(payloadFile, 'utf8'))).toEqual({
      version: 1,
      phase: 'pre-plan',
      plan: 'hooked',
      run: runId,
    });
    expect(await backupExecutions()).toBe(before);
  }, 300_000);

  it('cancels a task whose quiesce is never confirmed after timeout + 180 s, and sends the release', async () => {
    await createPlan({
      name: 'silent-agent',
      activities: [{ servers: 'QA2', quiesce: { timeoutSeconds: 30 } }],
    });
    local.stack.agent.setQuiesceAnswers(false);
    const before = await backupExecutions();
    const seen = planEvents.length;
    try {
      const runId = await startRun('silent-agent');
      const waiting = await waitForRun(runId, (r) => r.tasks[0]?.step === 'AwaitQuiesce');
      expect(waiting.status).toBe('Running');
      offsetMs += 200_000; // 30 s + 180 s after the request, less the 10 s margin: still waiting
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect((await api<PlanRunView>('GET', `/plan-runs/${runId}`)).body.tasks[0]!.step).toBe('AwaitQuiesce');
      offsetMs += 15_000;
      const run = await waitForRun(runId, (r) => r.status !== 'Running');
      expect(run.status).toBe('Failed');
      expect(run.tasks.map((t) => [t.server, t.status, t.backupId])).toEqual([['QA2', 'Failed', undefined]]);
      expect(run.tasks[0]!.reason).toContain('quiesce');
      const requests = planEvents
        .slice(seen)
        .filter((e) => e.detailType === 'Quiesce Requested' || e.detailType === 'Release Requested');
      expect(requests.map((e) => [e.detailType, e.detail.serverId])).toEqual([
        ['Quiesce Requested', 'QA2'],
        ['Release Requested', 'QA2'],
      ]);
      expect(requests[1]!.detail.requestId).toBe(requests[0]!.detail.requestId);
      expect(await backupExecutions()).toBe(before);
    } finally {
      local.stack.agent.setQuiesceAnswers(true);
    }
  }, 300_000);

  it('fails a replica-only task over a stalled replica, with the reason, and notifies', async () => {
    const stalled = await rbpLocal(['server', 'state', 'QA3', '--replication', 'stalled']);
    expect(stalled.code, stalled.stderr).toBe(0);
    try {
      await createPlan({ name: 'strict', activities: [{ servers: 'QA3', source: 'replica-only' }] });
      const before = await backupExecutions();
      const seen = planEvents.length;
      const runId = await startRun('strict');
      const run = await waitForRun(runId, (r) => r.status !== 'Running');
      const reason = 'replica of QA3 is stalled; source replica-only does not allow the primary';
      expect({ status: run.status, tasks: run.tasks.map((t) => [t.server, t.status, t.reason]) }).toEqual({
        status: 'Failed',
        tasks: [['QA3', 'Failed', reason]],
      });
      expect(await backupExecutions()).toBe(before);
      // The notification: Plan Task Failed with the task, then Plan Run Finished (EventBridge; the
      // same events go to the SNS topic one message each).
      const events = planEvents.slice(seen);
      expect(events.map((e) => e.detailType)).toEqual(['Plan Task Failed', 'Plan Run Finished']);
      expect(events[0]!.detail).toEqual({
        plan: 'strict',
        runId,
        task: { server: 'QA3', status: 'Failed', reason },
      });
      expect(events[1]!.detail).toMatchObject({ plan: 'strict', runId, status: 'Failed' });
      // The SNS messages as moto recorded them on the outcome topic (its internal model data).
      const messages = (await snsMessages()).filter((m) => m.subject.startsWith('rbp plan strict:'));
      expect(messages.map((m) => m.subject)).toEqual([
        'rbp plan strict: task QA3 failed',
        'rbp plan strict: run Failed',
      ]);
      expect(JSON.parse(messages[0]!.message)).toEqual({
        detailType: 'Plan Task Failed',
        ...events[0]!.detail,
      });
    } finally {
      await rbpLocal(['server', 'state', 'QA3', '--replication', 'in-sync']);
    }
  }, 300_000);
});
