/**
 * A plan task's backup runs with the trigger `plan:<plan>` and, like a scheduled run, is skipped
 * (not failed) when the previous backup of its server still holds the volumes: the real backup
 * state machine (aws-local-stepfunctions, real lock and publish handlers) ends at "Backup
 * Skipped" with a `Backup Skipped` event naming the plan's trigger and no SNS message, the plan
 * task's adapter reads that execution's output as skipped with the lock's reason, and the plan run
 * reports the task Skipped (no `Plan Task Failed`). A manual run meeting the same lock still fails.
 */
import { describe, expect, it } from 'vitest';
import { skipReasonOfOutput } from '../../lambdas/aws/plan-run-adapters.ts';
import { planTrigger } from '../../lambdas/core/orchestration/backup-request.ts';
import { skipsWhenLocked } from '../../lambdas/core/orchestration/backup-lock.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { advancePlanRun, newPlanRun, type PlanEvent } from '../../lambdas/core/plans/run-engine.ts';
import type { PlanRun } from '../../lambdas/core/plans/plan-run.ts';
import {
  FakeWorld,
  happyEngine,
  runBackup,
  SKIPPED_RUN_STATES,
  SteppingClock,
} from '../statemachines/asl-harness.ts';
import { FakePlanWorld, server } from './fake-plan-ports.ts';

const START = Date.parse('2026-01-01T00:00:00.000Z');
const VOLUME = 'vol-0a1b2c3d4e5f60718';
const HOLDER = 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-0200';
const LOCK_REASON = `volume ${VOLUME} is being backed up by bk-0200 (lock held until 2099-01-01T00:00:00.000Z); backup pr-1-t0 was not started`;

async function lockedWorld(): Promise<FakeWorld> {
  const w = new FakeWorld(
    new SteppingClock(START),
    { syncAfterProbes: 0 },
    { completeAfterChecks: 1, failingCreations: [], limitExceededCalls: 0 },
  );
  w.addReplica(VOLUME);
  await w.locks.acquire([
    {
      volumeId: VOLUME,
      ownerId: HOLDER,
      backupId: 'bk-0200',
      acquiredAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2099-01-01T00:00:00.000Z',
    },
  ]);
  return w;
}

/** The input SfnPlanBackups.start gives a replica task of plan `nightly` on server srv-1. */
const planTaskInput = {
  serverId: 'srv-1',
  volumeIds: [VOLUME],
  trigger: planTrigger('nightly'),
};

describe('a plan task meeting a held lock', () => {
  it('is skipped like a scheduled run: execution succeeds at Backup Skipped, the event names plan:nightly, no SNS', async () => {
    const w = await lockedWorld();
    const outcome = await runBackup(w, happyEngine([]), planTaskInput, 'pr-1-t0');
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.statesEntered).toEqual(SKIPPED_RUN_STATES);
    expect(w.locks.locks.get(VOLUME)?.ownerId).toBe(HOLDER);
    expect(w.events).toEqual([
      {
        detailType: 'Backup Skipped',
        detail: {
          version: 1,
          status: 'SKIPPED',
          backupId: 'pr-1-t0',
          serverId: 'srv-1',
          volumeIds: [VOLUME],
          trigger: 'plan:nightly',
          // The execution's own start time (the harness's, not the world's clock).
          startedAt: w.events[0]?.detail['startedAt'],
          finishedAt: '2026-01-01T00:01:00.000Z',
          imageIds: [],
          cause: LOCK_REASON,
        },
      },
    ]);
    expect(w.notifications).toEqual([]);
    // What the plan task's adapter reads from that execution (DescribeExecution's output).
    expect(skipReasonOfOutput(JSON.stringify(outcome.output))).toBe(LOCK_REASON);
  });

  it('a manual run meeting the same lock still fails as BackupAlreadyRunning; only schedule: and plan: triggers skip', async () => {
    const w = await lockedWorld();
    const outcome = await runBackup(w, happyEngine([]), { ...planTaskInput, trigger: 'manual' }, 'pr-1-t0');
    expect(outcome.status).toBe('FAILED');
    expect(w.events.map((e) => e.detailType)).toEqual(['Backup Failed']);
    expect(
      ['plan:nightly', 'schedule:srv-1/hourly', 'manual', 'api:arn:aws:iam::1:user/x', 'planned'].map(
        skipsWhenLocked,
      ),
    ).toEqual([true, true, false, false, false]);
  });

  it('a succeeded execution that did not skip has no skip reason', () => {
    expect(skipReasonOfOutput(JSON.stringify({ recoveryPoint: { result: { imageIds: ['i-1'] } } }))).toBe(
      undefined,
    );
    expect(skipReasonOfOutput(undefined)).toBe(undefined);
    expect(skipReasonOfOutput('not json')).toBe(undefined);
  });

  it('the plan run reports the task Skipped with the reason, releases, and sends no Plan Task Failed', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    world.servers = [server('srv-1')];
    world.backupScript = (start) => ({
      polls: 1,
      outcome: { state: 'skipped', reason: `backup ${start.backupId} skipped: ${LOCK_REASON}` },
    });
    let run: PlanRun = newPlanRun({
      runId: 'pr-1',
      plan: parsePlanDocument({ name: 'nightly', activities: [{ servers: 'srv-1' }] }),
      trigger: 'schedule:nightly',
      startedAt: world.clock.now(),
    });
    const events: PlanEvent[] = [];
    for (let advances = 0; advances < 100; advances += 1) {
      const result = await advancePlanRun(run, world.ports());
      run = result.run;
      events.push(...result.events);
      if (result.waitSeconds === undefined) break;
      world.clock.advance(result.waitSeconds);
    }
    expect(run.tasks).toHaveLength(1);
    expect(run.tasks[0]).toMatchObject({
      server: 'srv-1',
      status: 'Skipped',
      reason: `the previous backup of srv-1 is still running (it overran into this run); this task is skipped, not failed: backup pr-1-t0 skipped: ${LOCK_REASON}`,
    });
    expect(run.tasks[0]).not.toHaveProperty('imageIds');
    expect(run.status).toBe('Stopped');
    expect(events.map((e) => e.detailType)).toEqual(['Plan Run Finished']);
  });
});
