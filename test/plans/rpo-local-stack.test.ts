/**
 * The RPO of plans on the local stack: a plan with rpoMinutes over a real ext4 replica, its runs
 * backing up through the real state machines, and the RPO check invoked as its schedule invokes
 * it (Lambda Invoke of the plan-run function with `{action: "checkRpo"}`, here through the
 * gateway). The check's clock is the system clock plus an offset the test moves, so the target
 * passes without sleeping through it.
 *
 * - the second run's task records rpoAchievedSeconds: exactly the gap between the two points;
 * - the check finds DB1 within its target, then (6 minutes on) in breach: one `RPO Breached`
 *   event on EventBridge and one SNS message; a repeated check announces nothing; after a new
 *   backup it publishes `RPO Recovered`;
 * - deployed as `rbp local serve` deploys it, the check's schedule `<prefix>-rpo-check` is in moto
 *   (rate(5 minutes), the function, `{action: "checkRpo"}`) and the local scheduler fires it.
 */
import '../support/quiet-powertools.ts';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlanRunView } from '../../lambdas/core/plans/plan-api.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import { PLAN_RUN_FUNCTION_PLACEHOLDER, stateMachineFunctionName } from '../../lib/function-manifest.ts';
import { deployProduct, type DeployedProduct } from '../../local/deploy.ts';
import { makeExtImage } from '../support/fs-images.ts';
import { scheduleSummary } from '../support/schedules.ts';
import { callApi, type ApiAnswer } from '../support/local-product.ts';
import { useLocalStack } from '../support/local-stack.ts';
import {
  outcomeMessages,
  recordPlanEvents,
  restoreEnv,
  type RecordedPlanEvent,
} from './local-plan-events.ts';

/** The stack's clock (EBS emulator, local scheduler): the system clock moved by `stackOffsetMs`. */
let stackOffsetMs = 0;
const local = useLocalStack({
  snapshotCompletionDelayMs: 200,
  clock: { now: () => new Date(Date.now() + stackOffsetMs) },
});
const savedEnv = { ...process.env };
let product: DeployedProduct;
let workDir: string;
let lambda: LambdaClient;
/** The plan-run function's clock: the system clock moved forward by `offsetMs`. */
let offsetMs = 0;
const runClock: Clock = { now: () => new Date(Date.now() + offsetMs) };
const rpoEvents: RecordedPlanEvent[] = [];

function api<T>(method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  return callApi<T>(product.apiUrl, method, path, body);
}

async function runPlan(plan: string): Promise<PlanRunView> {
  const started = await api<{ runId: string }>('POST', `/plans/${plan}/runs`, {});
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  const deadline = Date.now() + 300_000;
  for (;;) {
    const run = (await api<PlanRunView>('GET', `/plan-runs/${started.body.runId}`)).body;
    if (run.status !== 'Running') return run;
    if (Date.now() > deadline) throw new Error(`run did not finish: ${JSON.stringify(run)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function checkRpo(): Promise<unknown> {
  const answer = await lambda.send(
    new InvokeCommand({
      FunctionName: stateMachineFunctionName(PLAN_RUN_FUNCTION_PLACEHOLDER),
      Payload: Buffer.from(JSON.stringify({ action: 'checkRpo' })),
    }),
  );
  const text = Buffer.from(answer.Payload ?? new Uint8Array()).toString('utf8');
  expect(answer.FunctionError, text).toBeUndefined();
  return JSON.parse(text) as unknown;
}

async function snsSubjects(): Promise<string[]> {
  return (await outcomeMessages(local.stack.moto.endpoint, product.topicArn)).map((m) => m.subject);
}

beforeAll(async () => {
  product = await deployProduct(local.stack, {
    handlerEnv: { RANGE_WORKERS: '2' },
    planRuns: { clock: runClock, maxWaitSeconds: 1, rpoCheckSchedule: true },
  });
  // The scheduler is ticked by hand (last test), so no firing of the RPO check's schedule races the
  // checks this file invokes itself.
  await local.stack.gateway.scheduler!.stop();
  lambda = new LambdaClient(local.clientConfig({ maxAttempts: 3 }));
  workDir = await mkdtemp(join(tmpdir(), 'rbp-rpo-'));
  recordPlanEvents(local.stack.agent, rpoEvents, (detailType) => detailType.startsWith('RPO '));
  const source = join(workDir, 'files');
  await mkdir(source, { recursive: true });
  await writeFile(join(source, 'hello.txt'), 'hello from DB1\n');
  const image = join(workDir, 'db1.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 8 * 1024 * 1024, sourceDir: source });
  await local.stack.replicas.create({ imagePath: image, serverId: 'DB1' });
  const created = await api('POST', '/plans', {
    name: 'hourly',
    rpoMinutes: 5,
    activities: [{ servers: 'DB1' }],
  });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
}, 180_000);

afterAll(async () => {
  lambda?.destroy();
  restoreEnv(savedEnv);
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('the RPO of a plan on the local stack', () => {
  it('records the gap a task closed, announces a breach once and its recovery', async () => {
    const first = await runPlan('hourly');
    expect(first.status).toBe('Succeeded');
    expect(first.tasks[0]!.rpoAchievedSeconds).toBeUndefined();
    const second = await runPlan('hourly');
    expect(second.status).toBe('Succeeded');
    const points = await api<{ items: { recoveryPointId: string; createdAt: string }[] }>(
      'GET',
      '/servers/DB1/recovery-points',
    );
    const [newest, before] = points.body.items;
    expect(newest!.recoveryPointId).toBe(`rp-${second.tasks[0]!.backupId}`);
    expect(second.tasks[0]!.rpoAchievedSeconds).toBe(
      Math.round((Date.parse(newest!.createdAt) - Date.parse(before!.createdAt)) / 1000),
    );

    expect(await checkRpo()).toEqual({ watched: 1, breached: 0, events: 0 });
    expect(rpoEvents).toEqual([]);

    offsetMs = 6 * 60_000;
    expect(await checkRpo()).toEqual({ watched: 1, breached: 1, events: 1 });
    expect(rpoEvents).toEqual([
      {
        detailType: 'RPO Breached',
        detail: {
          server: 'DB1',
          plan: 'hourly',
          targetMinutes: 5,
          achievedSeconds: expect.any(Number) as unknown,
          lastRecoveryPointId: newest!.recoveryPointId,
        },
      },
    ]);
    expect(rpoEvents[0]!.detail['achievedSeconds']).toBeGreaterThan(300);
    expect(await checkRpo()).toEqual({ watched: 1, breached: 1, events: 0 });
    expect((await snsSubjects()).filter((s) => s.startsWith('rbp RPO'))).toEqual([
      'rbp RPO breached: DB1 (target 5 min, plan hourly)',
    ]);

    offsetMs = 0;
    const third = await runPlan('hourly');
    expect(third.status).toBe('Succeeded');
    expect(await checkRpo()).toEqual({ watched: 1, breached: 0, events: 1 });
    expect(rpoEvents.map((e) => [e.detailType, e.detail['why'], e.detail['lastRecoveryPointId']])).toEqual([
      ['RPO Breached', undefined, newest!.recoveryPointId],
      ['RPO Recovered', 'met', `rp-${third.tasks[0]!.backupId}`],
    ]);
    expect((await snsSubjects()).filter((s) => s.startsWith('rbp RPO'))).toEqual([
      'rbp RPO breached: DB1 (target 5 min, plan hourly)',
      'rbp RPO recovered: DB1 (target 5 min, plan hourly)',
    ]);
  }, 600_000);

  it("has the check's schedule, which the local scheduler fires every 5 minutes", async () => {
    const scheduler = local.stack.gateway.scheduler!;
    const functionName = stateMachineFunctionName(PLAN_RUN_FUNCTION_PLACEHOLDER);
    const name = `${product.names.planRunStateMachine}-rpo-check`;
    const client = new SchedulerClient(local.clientConfig());
    try {
      const schedule = await client.send(new GetScheduleCommand({ Name: name, GroupName: 'default' }));
      expect(scheduleSummary(schedule)).toEqual({
        expression: 'rate(5 minutes)',
        timeZone: 'UTC', // Scheduler's default
        state: 'ENABLED',
        target: expect.stringMatching(new RegExp(`:function:${functionName}$`)) as unknown,
        input: { action: 'checkRpo' },
      });
    } finally {
      client.destroy();
    }
    stackOffsetMs = 6 * 60_000;
    const fired = (await scheduler.tick()).filter((f) => f.schedule === `default/${name}`);
    expect(fired.map((f) => [f.outcome, f.targetArn.endsWith(`:function:${functionName}`)])).toEqual([
      ['started', true],
    ]);
  }, 120_000);
});
