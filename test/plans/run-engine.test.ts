import { describe, expect, it } from 'vitest';
import { ThrottledError } from '../../lambdas/core/errors.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { summariseRun, type PlanRun } from '../../lambdas/core/plans/plan-run.ts';
import {
  advancePlanRun,
  AGENT_GRACE_SECONDS,
  newPlanRun,
  RUN_POLL_SECONDS,
  type PlanEvent,
} from '../../lambdas/core/plans/run-engine.ts';
import { FakePlanWorld, server } from './fake-plan-ports.ts';
import { NIGHTLY_QA } from './plan-fixtures.ts';

/** Seed 001's world: QA1-3, TEST8 with DOMAIN1, DOMAIN2 and OTHER; TEST9 disconnected. */
function seedWorld(): FakePlanWorld {
  const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
  world.servers = [
    server('QA3'),
    server('QA1'),
    server('TEST8', { applications: ['OTHER', 'DOMAIN2', 'DOMAIN1'] }),
    server('QA2'),
    server('TEST9', { replication: 'disconnected', applications: ['DOMAIN1'] }),
    server('PROD1'),
  ];
  return world;
}

async function runToEnd(
  world: FakePlanWorld,
  plan: unknown,
  runId = 'run1',
): Promise<{ run: PlanRun; events: PlanEvent[]; advances: number }> {
  let run = newPlanRun({
    runId,
    plan: parsePlanDocument(plan),
    trigger: 'manual',
    startedAt: world.clock.now(),
  });
  const events: PlanEvent[] = [];
  for (let advances = 1; advances <= 1_000; advances += 1) {
    const result = await advancePlanRun(run, world.ports());
    run = result.run;
    events.push(...result.events);
    if (result.waitSeconds === undefined) return { run, events, advances };
    world.clock.advance(result.waitSeconds);
  }
  throw new Error('the run did not finish in 1000 advances');
}

/** A task summary of a backup that succeeded from the replica with the one image the fake gives it. */
function succeededTask(server: string, backupId: string) {
  return { server, status: 'Succeeded', source: 'replica', backupId, imageIds: [`img-${backupId}`] };
}

describe('advancePlanRun: the nightly-qa example (docs/plans.md)', () => {
  it('creates exactly six tasks in order, runs five and skips TEST9 with the reason', async () => {
    const world = seedWorld();
    const { run, events } = await runToEnd(world, NIGHTLY_QA);
    expect(summariseRun(run)).toEqual({
      runId: 'run1',
      plan: 'nightly-qa',
      status: 'PartiallySucceeded',
      reason: '5 succeeded, 0 failed, 1 skipped of 6 tasks',
      tasks: [
        succeededTask('QA1', 'run1-t0'),
        succeededTask('QA2', 'run1-t1'),
        succeededTask('QA3', 'run1-t2'),
        {
          server: 'TEST8',
          application: 'DOMAIN1',
          status: 'Succeeded',
          source: 'replica',
          backupId: 'run1-t3',
          imageIds: ['img-run1-t3'],
        },
        {
          server: 'TEST8',
          application: 'DOMAIN2',
          status: 'Succeeded',
          source: 'replica',
          backupId: 'run1-t4',
          imageIds: ['img-run1-t4'],
        },
        {
          server: 'TEST9',
          application: 'DOMAIN*',
          status: 'Skipped',
          reason: 'server TEST9 is unavailable: replication disconnected',
        },
      ],
    });
    // One task at a time (maxConcurrentTasks 1), in creation order; quiesce around the DOMAIN backups.
    expect(world.actions().filter((l) => !/^(settings|destination)/.test(l))).toEqual([
      'servers.list',
      'backup.start run1-t0 QA1/* replica',
      'backup.start run1-t1 QA2/* replica',
      'backup.start run1-t2 QA3/* replica',
      'quiesce.check TEST8',
      'quiesce.request run1-t3-q TEST8/DOMAIN1',
      'backup.start run1-t3 TEST8/DOMAIN1 replica',
      'quiesce.release run1-t3-q',
      'quiesce.check TEST8',
      'quiesce.request run1-t4-q TEST8/DOMAIN2',
      'backup.start run1-t4 TEST8/DOMAIN2 replica',
      'quiesce.release run1-t4-q',
    ]);
    expect(events.map((e) => e.detailType)).toEqual(['Plan Run Finished']);
  });
});

describe('advancePlanRun: the run checks, in order', () => {
  it('1. a disabled global switch stops the run before anything else is looked at', async () => {
    const world = seedWorld();
    world.settings = { ...world.settings, backupsEnabled: false };
    world.probeProblem = 'AccessDenied';
    const { run, events } = await runToEnd(world, NIGHTLY_QA);
    expect(run).toMatchObject({
      status: 'Stopped',
      stoppedBy: 'BackupsDisabled',
      reason: 'backups are disabled by the global switch (settings: backupsEnabled is false)',
      tasks: [],
    });
    expect(world.log).toEqual(['settings.read']);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      detailType: 'Plan Run Finished',
      detail: { status: 'Stopped', stoppedBy: 'BackupsDisabled' },
    });
  });

  it('2. outside the plan window the run stops with the reason, before the destination is probed', async () => {
    const world = seedWorld();
    world.clock.set('2026-03-07T12:00:00.000Z'); // a Saturday
    const { run } = await runToEnd(world, {
      ...NIGHTLY_QA,
      window: { days: ['MON', 'TUE'], start: '22:00', end: '02:00', timeZone: 'Europe/Berlin' },
    });
    expect(run).toMatchObject({
      status: 'Stopped',
      stoppedBy: 'OutsideWindow',
      reason:
        'the plan is outside the window MON,TUE 22:00-02:00 Europe/Berlin (now SAT 13:00 Europe/Berlin)',
    });
    expect(world.log).toEqual(['settings.read']);
  });

  it('3a. an image bucket that cannot be written stops the run', async () => {
    const world = seedWorld();
    world.probeProblem = 'AccessDenied on kms:GenerateDataKey';
    const { run } = await runToEnd(world, NIGHTLY_QA);
    expect(run).toMatchObject({
      status: 'Stopped',
      stoppedBy: 'DestinationUnavailable',
      reason: 'the image bucket is not writable: AccessDenied on kms:GenerateDataKey',
    });
    expect(world.log).toEqual(['settings.read', 'destination.probe']);
  });

  it('3b. stored bytes at the ceiling, or no free snapshot slot, stop the run', async () => {
    const world = seedWorld();
    world.settings = { ...world.settings, storedBytesCeiling: 1000 };
    world.usage = { storedBytes: 1000, freeSnapshotSlots: 5 };
    const { run } = await runToEnd(world, NIGHTLY_QA);
    expect(run).toMatchObject({
      stoppedBy: 'CapacityExceeded',
      reason: 'the image bucket holds 1000 bytes, at or above the configured ceiling of 1000',
    });
    const world2 = seedWorld();
    world2.usage = { storedBytes: 0, freeSnapshotSlots: 0 };
    const { run: run2 } = await runToEnd(world2, NIGHTLY_QA);
    expect(run2).toMatchObject({
      stoppedBy: 'CapacityExceeded',
      reason: 'no concurrent-snapshot slot is free (EC2 limit reached)',
    });
    expect(world2.log).toEqual(['settings.read', 'destination.probe', 'destination.usage']);
  });

  it('5. a plan whose servers are all unavailable stops before any backup or hook', async () => {
    const world = seedWorld();
    world.hooks.set('pre-plan', () => ({}));
    const { run } = await runToEnd(world, {
      name: 'gone',
      prePlanHook: { function: 'pre-plan', timeoutSeconds: 5 },
      activities: [{ servers: ['TEST9', 'NOPE'] }, { servers: 'XYZ*' }],
    });
    expect(summariseRun(run)).toEqual({
      runId: 'run1',
      plan: 'gone',
      status: 'Stopped',
      reason:
        'every task is Skipped: server TEST9 is unavailable: replication disconnected; server NOPE not found; no server matches XYZ*',
      tasks: [
        {
          server: 'TEST9',
          status: 'Skipped',
          reason: 'server TEST9 is unavailable: replication disconnected',
        },
        { server: 'NOPE', status: 'Skipped', reason: 'server NOPE not found' },
        { server: 'XYZ*', status: 'Skipped', reason: 'no server matches XYZ*' },
      ],
    });
    expect(run.stoppedBy).toBe('NothingToRun');
    expect(world.backupsStarted).toEqual([]);
    expect(world.hookPayloads).toEqual([]);
  });

  it('6. a failing pre-plan hook stops the run; its tasks are Skipped, nothing is backed up', async () => {
    const world = seedWorld();
    world.hooks.set('check-maintenance', () => ({ status: 'failed', message: 'change freeze until Monday' }));
    const { run, events } = await runToEnd(world, {
      name: 'frozen',
      prePlanHook: { function: 'check-maintenance', timeoutSeconds: 30 },
      activities: [{ servers: ['QA1', 'TEST9'] }],
    });
    const reason = 'pre-plan hook check-maintenance failed: change freeze until Monday';
    expect(summariseRun(run)).toEqual({
      runId: 'run1',
      plan: 'frozen',
      status: 'Stopped',
      reason,
      tasks: [
        { server: 'QA1', status: 'Skipped', reason: `not run: ${reason}` },
        {
          server: 'TEST9',
          status: 'Skipped',
          reason: 'server TEST9 is unavailable: replication disconnected',
        },
      ],
    });
    expect(world.hookPayloads).toEqual([{ version: 1, phase: 'pre-plan', plan: 'frozen', run: 'run1' }]);
    expect(world.backupsStarted).toEqual([]);
    expect(events.map((e) => e.detailType)).toEqual(['Plan Run Finished']);
  });

  it('6b. a pre-plan hook that throws (or times out) stops the run with the error', async () => {
    const world = seedWorld();
    world.hooks.set('slow', () => {
      throw new Error('Task timed out after 30.00 seconds');
    });
    const { run } = await runToEnd(world, {
      name: 'slow',
      prePlanHook: { function: 'slow', timeoutSeconds: 30 },
      activities: [{ servers: 'QA1' }],
    });
    expect(run.reason).toBe('pre-plan hook slow failed: Task timed out after 30.00 seconds');
    expect(run.stoppedBy).toBe('PrePlanHookFailed');
  });

  it('a retryable error of a port is thrown, so the step is retried with the run unchanged', async () => {
    const world = seedWorld();
    world.hooks.set('throttled', () => {
      throw new ThrottledError('Rate exceeded');
    });
    const run = newPlanRun({
      runId: 'r',
      plan: parsePlanDocument({
        name: 'p',
        prePlanHook: { function: 'throttled' },
        activities: [{ servers: 'QA1' }],
      }),
      trigger: 'manual',
      startedAt: world.clock.now(),
    });
    await expect(advancePlanRun(run, world.ports())).rejects.toThrow(ThrottledError);
  });
});

describe('advancePlanRun: the task checks, in order', () => {
  it('1. a task whose window has closed is Skipped with the reason', async () => {
    const world = seedWorld();
    world.clock.set('2026-03-02T04:59:00.000Z');
    // 04:59Z is 05:59 in Berlin (UTC+1 until 29 March). QA1 starts then; its backup answers on the
    // sixth look (75 s later), so QA2 comes up at 06:00:15 Berlin time, after the window's last minute.
    world.backupScript = (start) => ({
      polls: 6,
      outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] },
    });
    const { run } = await runToEnd(world, {
      name: 'short',
      window: { days: ['MON'], start: '05:00', end: '05:59', timeZone: 'Europe/Berlin' },
      activities: [{ servers: ['QA1', 'QA2'] }],
    });
    expect(summariseRun(run).tasks).toEqual([
      succeededTask('QA1', 'run1-t0'),
      {
        server: 'QA2',
        status: 'Skipped',
        reason: 'not started: outside the window MON 05:00-05:59 Europe/Berlin (now MON 06:00 Europe/Berlin)',
      },
    ]);
    expect(run.status).toBe('PartiallySucceeded');
  });

  it('2. capacity is checked again per task', async () => {
    const world = seedWorld();
    world.settings = { ...world.settings, storedBytesCeiling: 100 };
    world.backupScript = (start) => {
      world.usage = { storedBytes: 100, freeSnapshotSlots: 5 };
      return { polls: 1, outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] } };
    };
    const { run, events } = await runToEnd(world, { name: 'cap', activities: [{ servers: ['QA1', 'QA2'] }] });
    expect(summariseRun(run).tasks[1]).toEqual({
      server: 'QA2',
      status: 'Failed',
      reason: 'the image bucket holds 100 bytes, at or above the configured ceiling of 100',
    });
    expect(events.map((e) => e.detailType)).toEqual(['Plan Task Failed', 'Plan Run Finished']);
  });

  it('3. an application already quiesced by someone else fails its task; a whole-server task checks every application', async () => {
    const world = seedWorld();
    world.quiescedElsewhere.set('TEST8', ['DOMAIN2']);
    const { run } = await runToEnd(world, {
      name: 'q',
      activities: [
        { servers: 'TEST8', applications: 'DOMAIN*', quiesce: { timeoutSeconds: 10 } },
        { servers: 'TEST8', quiesce: { timeoutSeconds: 10 } },
      ],
    });
    expect(summariseRun(run).tasks.map((t) => [t.application, t.status, t.reason])).toEqual([
      ['DOMAIN1', 'Succeeded', undefined],
      ['DOMAIN2', 'Failed', 'application DOMAIN2 on TEST8 is already quiesced; the task leaves it alone'],
      [undefined, 'Failed', 'TEST8 has quiesced applications (DOMAIN2); the task leaves them alone'],
    ]);
  });

  it('4. a failing pre-task hook fails the task before the quiesce; the post-task hook does not run', async () => {
    const world = seedWorld();
    world.hooks.set('pre', (payload) =>
      payload.task?.application === 'DOMAIN1'
        ? { status: 'failed', message: 'db in recovery' }
        : { status: 'ok' },
    );
    world.hooks.set('post', () => null);
    const { run } = await runToEnd(world, {
      name: 'hooks',
      activities: [
        {
          servers: 'TEST8',
          applications: 'DOMAIN*',
          quiesce: { timeoutSeconds: 10 },
          preTaskHook: { function: 'pre', timeoutSeconds: 5 },
          postTaskHook: { function: 'post', timeoutSeconds: 7 },
        },
      ],
    });
    expect(summariseRun(run).tasks.map((t) => [t.application, t.status, t.reason])).toEqual([
      ['DOMAIN1', 'Failed', 'pre-task hook pre failed: db in recovery'],
      ['DOMAIN2', 'Succeeded', undefined],
    ]);
    expect(world.actions().filter((l) => /^(hook|quiesce|backup)/.test(l))).toEqual([
      'quiesce.check TEST8',
      'hook pre-task pre 5s t0',
      'quiesce.check TEST8',
      'hook pre-task pre 5s t1',
      'quiesce.request run1-t1-q TEST8/DOMAIN2',
      'backup.start run1-t1 TEST8/DOMAIN2 replica',
      'quiesce.release run1-t1-q',
      'hook post-task post 7s t1',
    ]);
    expect(world.hookPayloads.at(-1)).toEqual({
      version: 1,
      phase: 'post-task',
      plan: 'hooks',
      run: 'run1',
      server: 'TEST8',
      task: {
        index: 1,
        server: 'TEST8',
        application: 'DOMAIN2',
        status: 'Running',
        source: 'replica',
        backupId: 'run1-t1',
        imageIds: ['img-run1-t1'],
      },
    });
  });

  it('5. a quiesce that never confirms cancels the task after timeout + 3 min grace and sends the release', async () => {
    const world = seedWorld();
    world.confirmQuiesce = () => false;
    world.hooks.set('post', () => ({}));
    const started = world.clock.now().getTime();
    const { run, events } = await runToEnd(world, {
      name: 'stuck',
      activities: [
        {
          servers: 'TEST8',
          applications: 'DOMAIN1',
          quiesce: { timeoutSeconds: 60 },
          postTaskHook: { function: 'post' },
        },
        { servers: 'QA1' },
      ],
    });
    const [cancelled, next] = run.tasks;
    expect(cancelled).toMatchObject({
      status: 'Failed',
      reason:
        'quiesce of DOMAIN1 on TEST8 not confirmed within 60 s + 180 s; task cancelled and release sent',
    });
    // Cancelled exactly at the deadline, not a poll later (the engine shortens its wait to the deadline).
    expect(Date.parse(cancelled!.finishedAt!) - started).toBe((60 + AGENT_GRACE_SECONDS) * 1000);
    expect(world.actions().filter((l) => /^(hook|quiesce|backup)/.test(l))).toEqual([
      'quiesce.check TEST8',
      'quiesce.request run1-t0-q TEST8/DOMAIN1',
      'quiesce.release run1-t0-q',
      'backup.start run1-t1 QA1/* replica',
    ]);
    expect(next).toMatchObject({ status: 'Succeeded' });
    expect(events.map((e) => e.detailType)).toEqual(['Plan Task Failed', 'Plan Run Finished']);
  });

  it('5b. a quiesce confirmed within the grace period goes on', async () => {
    const world = seedWorld();
    const requested = world.clock.now().getTime();
    world.confirmQuiesce = () => world.clock.now().getTime() - requested >= (60 + 170) * 1000;
    const { run } = await runToEnd(world, {
      name: 'late',
      activities: [{ servers: 'TEST8', applications: 'DOMAIN1', quiesce: { timeoutSeconds: 60 } }],
    });
    expect(run.status).toBe('Succeeded');
  });

  it('6. a release that never confirms fails the task after its timeout + grace; the post-task hook still runs', async () => {
    const world = seedWorld();
    world.confirmRelease = () => false;
    world.hooks.set('post', () => ({}));
    const { run } = await runToEnd(world, {
      name: 'sticky',
      activities: [
        {
          servers: 'TEST8',
          applications: 'DOMAIN1',
          quiesce: { timeoutSeconds: 60, releaseTimeoutSeconds: 20 },
          postTaskHook: { function: 'post' },
        },
      ],
    });
    expect(summariseRun(run).tasks).toEqual([
      {
        server: 'TEST8',
        application: 'DOMAIN1',
        status: 'Failed',
        reason: 'release not confirmed within 20 s + 180 s; the agent keeps releasing on its own',
        source: 'replica',
        backupId: 'run1-t0',
        imageIds: ['img-run1-t0'],
      },
    ]);
    expect(world.actions().filter((l) => l.startsWith('hook'))).toEqual(['hook post-task post 60s t0']);
    expect(run.status).toBe('Failed');
  });

  it('a failed backup fails the task with the backup reason; the release is still sent', async () => {
    const world = seedWorld();
    world.backupScript = () => ({
      polls: 2,
      outcome: { state: 'failed', errorName: 'SnapshotFailed', reason: 'snapshot snap-1 ended in error' },
    });
    const { run } = await runToEnd(world, {
      name: 'bad',
      activities: [{ servers: 'TEST8', applications: 'DOMAIN1', quiesce: { timeoutSeconds: 5 } }],
    });
    expect(run.tasks[0]).toMatchObject({
      status: 'Failed',
      reason: 'backup run1-t0 failed: snapshot snap-1 ended in error',
    });
    expect(world.actions()).toContain('quiesce.release run1-t0-q');
  });

  it('a backup that finds the previous one still running (an overrun) skips the task, releases and runs the post-task hook; no Failed event', async () => {
    const world = seedWorld();
    world.hooks.set('post', () => ({}));
    world.backupScript = () => ({
      polls: 1,
      outcome: {
        state: 'failed',
        errorName: 'BackupAlreadyRunning',
        reason: 'backup run1-t0 failed: BackupAlreadyRunning (vol-1 is locked by bk-previous)',
      },
    });
    const { run, events } = await runToEnd(world, {
      name: 'overrun',
      activities: [
        {
          servers: 'TEST8',
          applications: 'DOMAIN1',
          quiesce: { timeoutSeconds: 5 },
          postTaskHook: { function: 'post' },
        },
      ],
    });
    expect(run.tasks).toHaveLength(1);
    expect(run.tasks[0]).toMatchObject({
      status: 'Skipped',
      reason:
        'the previous backup of TEST8 is still running (it overran into this run); this task is skipped, not failed: backup run1-t0 failed: BackupAlreadyRunning (vol-1 is locked by bk-previous)',
    });
    expect(run.status).toBe('Stopped');
    expect(world.actions()).toContain('quiesce.release run1-t0-q');
    expect(world.actions().filter((l) => l.startsWith('hook'))).toEqual(['hook post-task post 60s t0']);
    expect(events.map((e) => e.detailType)).not.toContain('Plan Task Failed');
  });
});

describe('advancePlanRun: concurrency', () => {
  it('runs up to maxConcurrentTasks at once in creation order, never two tasks of one server together', async () => {
    const world = seedWorld();
    world.backupScript = (start) => ({
      polls: 3,
      outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] },
    });
    const run0 = newPlanRun({
      runId: 'c',
      plan: parsePlanDocument({
        name: 'parallel',
        maxConcurrentTasks: 3,
        activities: [{ servers: 'TEST8', applications: 'DOMAIN*' }, { servers: 'QA*' }],
      }),
      trigger: 'manual',
      startedAt: world.clock.now(),
    });
    const first = await advancePlanRun(run0, world.ports());
    // TEST8/DOMAIN1 runs; TEST8/DOMAIN2 waits for its server and, to keep creation order, so does QA1.
    expect(first.run.tasks.map((t) => t.status)).toEqual([
      'Running',
      'Pending',
      'Pending',
      'Pending',
      'Pending',
    ]);
    expect(first.waitSeconds).toBe(RUN_POLL_SECONDS);
    let run = first.run;
    let maxRunning = 0;
    while (run.phase !== 'Finished') {
      world.clock.advance(RUN_POLL_SECONDS);
      run = (await advancePlanRun(run, world.ports())).run;
      const running = run.tasks.filter((t) => t.status === 'Running');
      maxRunning = Math.max(maxRunning, running.length);
      expect(new Set(running.map((t) => t.server)).size).toBe(running.length);
    }
    expect(maxRunning).toBe(3);
    expect(world.backupsStarted.map((b) => b.backupId)).toEqual(['c-t0', 'c-t1', 'c-t2', 'c-t3', 'c-t4']);
    expect(run.status).toBe('Succeeded');
  });

  it('advancing a finished run changes nothing and publishes nothing again', async () => {
    const world = seedWorld();
    const { run } = await runToEnd(world, { name: 'x', activities: [{ servers: 'QA1' }] });
    const again = await advancePlanRun(run, world.ports());
    expect(again).toEqual({ run, events: [] });
  });
});

describe('advancePlanRun: replica or primary', () => {
  const plan = (source: string) => ({ name: 'src', activities: [{ servers: 'DB1', source }] });

  it('a stalled replica with prefer-replica is backed up from the primary', async () => {
    const world = seedWorld();
    world.servers = [server('DB1', { replication: 'stalled', hasPrimary: true })];
    const { run } = await runToEnd(world, plan('prefer-replica'));
    expect(run.tasks[0]).toMatchObject({
      status: 'Succeeded',
      source: 'primary',
      sourceReason: 'replica of DB1 is stalled; prefer-replica falls back to the primary',
    });
    expect(world.backupsStarted.map((b) => b.source)).toEqual(['primary']);
  });

  it('a stalled replica with replica-only fails the task with the reason and a notification', async () => {
    const world = seedWorld();
    world.servers = [server('DB1', { replication: 'stalled', hasPrimary: true })];
    const { run, events } = await runToEnd(world, plan('replica-only'));
    const reason = 'replica of DB1 is stalled; source replica-only does not allow the primary';
    expect(summariseRun(run)).toEqual({
      runId: 'run1',
      plan: 'src',
      status: 'Failed',
      reason: '0 succeeded, 1 failed, 0 skipped of 1 tasks',
      tasks: [{ server: 'DB1', status: 'Failed', reason }],
    });
    expect(events[0]).toEqual({
      detailType: 'Plan Task Failed',
      detail: { plan: 'src', runId: 'run1', task: { server: 'DB1', status: 'Failed', reason } },
    });
    expect(world.backupsStarted).toEqual([]);
  });

  it('a replica lagging beyond the activity limit is not backed up, however it is tagged', async () => {
    const world = seedWorld();
    world.servers = [server('DB1', { replication: 'lagging', lagSeconds: 301 })];
    const { run } = await runToEnd(world, {
      name: 'lag',
      activities: [{ servers: 'DB1', replica: { maxLagSeconds: 300 } }],
    });
    expect(run.tasks[0]).toMatchObject({
      status: 'Failed',
      reason: 'replica of DB1 lags 301 s, more than the allowed 300 s, and DB1 has no primary volume',
    });
    expect(world.backupsStarted).toEqual([]);
  });

  it('a healthy replica: prefer-primary uses the primary, prefer-replica the replica', async () => {
    for (const [source, expected] of [
      ['prefer-primary', 'primary'],
      ['prefer-replica', 'replica'],
    ] as const) {
      const world = seedWorld();
      world.servers = [server('DB1', { hasPrimary: true })];
      const { run } = await runToEnd(world, plan(source));
      expect(run.tasks[0]).toMatchObject({ status: 'Succeeded', source: expected });
      expect(world.backupsStarted.map((b) => b.source)).toEqual([expected]);
    }
  });

  it('a replica backup that misses its checkpoint falls back once to the primary under prefer-replica', async () => {
    const world = seedWorld();
    world.servers = [server('DB1', { hasPrimary: true })];
    world.backupScript = (start) =>
      start.source === 'replica'
        ? {
            polls: 1,
            outcome: { state: 'failed', errorName: 'ReplicaNotInSync', reason: 'not in sync at cp-1' },
          }
        : { polls: 1, outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] } };
    const { run } = await runToEnd(world, plan('prefer-replica'));
    expect(summariseRun(run).tasks).toEqual([
      {
        server: 'DB1',
        status: 'Succeeded',
        source: 'primary',
        backupId: 'run1-t0-a2',
        imageIds: ['img-run1-t0-a2'],
      },
    ]);
    expect(run.tasks[0]?.sourceReason).toBe(
      'replica backup run1-t0 failed (not in sync at cp-1); prefer-replica falls back to the primary',
    );
    const world2 = seedWorld();
    world2.servers = [server('DB1', { hasPrimary: true })];
    world2.backupScript = world.backupScript;
    const { run: strict } = await runToEnd(world2, plan('replica-only'));
    expect(strict.tasks[0]).toMatchObject({
      status: 'Failed',
      reason: 'backup run1-t0 failed: not in sync at cp-1',
    });
  });
});
