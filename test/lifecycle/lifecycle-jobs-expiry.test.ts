/**
 * The expiry that follows a plan run, as an operator reads it: the run (lifecycle-jobs.ts
 * runLifecycleJob on the in-memory job store, bucket and image records), then
 * `GET /retention/runs/{runId}` through the real API handler, and `rbp retention run-status`
 * (text and --json, by the expiry's id or the plan run's) against that handler on a local port.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { LifecycleService } from '../../lambdas/core/api/lifecycle-api.ts';
import {
  expiryRunIdOf,
  runLifecycleJob,
  type LifecycleJobEvent,
} from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent } from '../api/api-events.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { useHandlerStandIn } from '../support/handler-stand-in.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { newWorld, writeImage } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';
import { fileImagePoint } from './plan-points.ts';

const HOUR_MS = 3_600_000;
const PLAN_RUN = '20261101t060000000z-0a1b2c3d';
const EXPIRY = expiryRunIdOf(PLAN_RUN);
let handler: ReturnType<typeof createApiHandler>;

const api = useHandlerStandIn(() => handler);
const get = async (path: string) => answerOf(await handler(proxyEvent({ method: 'GET', path })));

beforeAll(async () => {
  const world = newWorld();
  // The plan's own backups: a plan's expiry deletes only points its tasks made.
  const recoveryPoints = new MemoryRecoveryPointStore();
  for (const imageId of ['img-1', 'img-2', 'img-3']) {
    const image = await writeImage(world, 'vol-1', imageId, new Map([[0, Number(imageId.slice(4))]]), {
      serverId: 'web-01',
    });
    fileImagePoint(recoveryPoints, image, 'plan:nightly');
    world.clock.advance(HOUR_MS);
  }
  const jobs = new MemoryJobStore('run');
  const run = lifecycleRunDeps(world, jobs, {
    retention: {
      objects: world.bucket,
      records: world.records,
      clock: world.clock,
      recoveryPoints,
      plans: () => Promise.resolve({ servers: ['web-01'], rules: { keepLast: 1 } }),
    },
  });
  const expire: LifecycleJobEvent = {
    kind: 'expire',
    plan: 'nightly',
    planRunId: PLAN_RUN,
    servers: ['web-01'],
  };
  await runLifecycleJob(run, expire, world.clock.now().getTime() + 60_000);
  // A plan that no longer exists: the expiry ends failed with the reason.
  const failing = {
    ...run,
    retention: { ...run.retention!, plans: () => Promise.reject(new Error('plan gone')) },
  };
  await runLifecycleJob(
    failing,
    { kind: 'expire', plan: 'gone', planRunId: 'pr-2' },
    world.clock.now().getTime(),
  );
  const ports = memoryApi();
  const lifecycle = new LifecycleService({
    objects: world.bucket,
    records: world.records,
    clock: world.clock,
    runs: {
      jobs,
      clock: world.clock,
      newRunId: run.newRunId,
      coordination: world.coordination,
      launcher: { launch: () => Promise.resolve() },
    },
  });
  handler = createApiHandler({ ...ports.deps, lifecycle }, () => undefined);
});

const COMPLETE = {
  runId: EXPIRY,
  status: 'complete',
  plan: 'nightly',
  planRunId: PLAN_RUN,
  servers: ['web-01'],
  result: {
    plan: 'nightly',
    planRunId: PLAN_RUN,
    servers: [{ serverId: 'web-01', rules: 'plan', kept: 1, deleted: 2, notDeleted: [] }],
    deleted: ['vol-1/img-2', 'vol-1/img-1'],
  },
  createdAt: '2026-11-01T03:00:00.000Z',
  updatedAt: '2026-11-01T03:00:00.000Z',
};

describe('GET /retention/runs/{runId}', () => {
  it('answers the expiry of a plan run with what it kept and deleted per server', async () => {
    const answer = await get(`/retention/runs/${EXPIRY}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(COMPLETE);
  });

  it('answers a failed expiry with its reason, and 404 for another kind of run or none', async () => {
    const failed = await get('/retention/runs/expire-pr-2');
    expect(failed.body).toMatchObject({
      runId: 'expire-pr-2',
      status: 'failed',
      plan: 'gone',
      planRunId: 'pr-2',
    });
    expect((failed.body as { failure: string }).failure).toContain('plan gone');
    const missing = await get('/retention/runs/expire-nothing');
    expect(missing.status).toBe(404);
    const invalid = await get('/retention/runs/a%20b');
    expect(invalid.status).toBe(400);
  });
});

describe('rbp retention run-status', () => {
  it('prints the expiry by its id or its plan run, as a table or as the JSON answer', async () => {
    const text = await api.rbp(['retention', 'run-status', PLAN_RUN]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(
      [
        `expiry ${EXPIRY} of plan nightly run ${PLAN_RUN}: complete`,
        'SERVER  RULES  KEPT  DELETED  NOT DELETED',
        'web-01  plan   1     2        -',
        '',
      ].join('\n'),
    );
    const json = await api.rbp(['retention', 'run-status', EXPIRY, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(COMPLETE);
  }, 60_000);

  it('exits non-zero for a failed expiry and for one that does not exist', async () => {
    const failed = await api.rbp(['retention', 'run-status', 'expire-pr-2']);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout.split('\n')[0]).toBe('expiry expire-pr-2 of plan gone run pr-2: failed');
    const missing = await api.rbp(['retention', 'run-status', 'expire-nothing']);
    expect(missing.code).not.toBe(0);
  }, 60_000);
});
