/**
 * Heartbeats of the lifecycle jobs: the lifecycle job function writes GcCompleted, ScrubCompleted
 * or RestoreTestCompleted once when a run of that kind ends (whatever its outcome), never for an
 * invocation that hands the run over, a GC dry run or an expiry; their alarms breach when none
 * arrives (test/infra/lifecycle-heartbeats.test.ts).
 */
import '../support/quiet-powertools.ts';
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  GC_COMPLETED_METRIC,
  RESTORE_TEST_COMPLETED_METRIC,
  SCRUB_COMPLETED_METRIC,
} from '../../lambdas/core/metrics.ts';
import { COMPLETED_METRICS, createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { newWorld } from './lifecycle-fixture.ts';
import { lifecycleRunDeps } from './lifecycle-jobs-fixture.ts';

function setUp() {
  const world = newWorld();
  const jobs = new MemoryJobStore('run');
  const heartbeats: string[] = [];
  const relaunched: unknown[] = [];
  const handler = createLifecycleJobHandler({
    run: lifecycleRunDeps(world, jobs),
    relaunch: () => ({
      launch: (event) => {
        relaunched.push(event);
        return Promise.resolve();
      },
    }),
    recordCompleted: (metricName) => heartbeats.push(metricName),
  });
  return { handler, heartbeats, relaunched };
}

/** A Lambda context with `remainingMs` left. */
function contextWith(remainingMs: number): Context {
  return {
    functionName: 'rbp-LifecycleJob',
    awsRequestId: 'c0ffee00-0000-4000-8000-000000000002',
    getRemainingTimeInMillis: () => remainingMs,
  } as unknown as Context;
}

describe('lifecycle job heartbeats', () => {
  it('names the three metrics the alarms watch, one per scheduled kind', () => {
    expect(COMPLETED_METRICS).toEqual({
      gc: 'GcCompleted',
      scrub: 'ScrubCompleted',
      'restore-test': 'RestoreTestCompleted',
    });
  });

  it('writes one heartbeat when a scheduled collection, scrub and restore test each end', async () => {
    const { handler, heartbeats } = setUp();
    const gc = (await handler({ kind: 'gc' })) as { status: string; continue: boolean };
    expect(gc).toMatchObject({ status: 'complete', continue: false });
    const scrub = (await handler({ kind: 'scrub' })) as { status: string; continue: boolean };
    expect(scrub.continue).toBe(false);
    const test = (await handler({ kind: 'restore-test' })) as { status: string; continue: boolean };
    expect(test.continue).toBe(false);
    expect(heartbeats).toEqual([GC_COMPLETED_METRIC, SCRUB_COMPLETED_METRIC, RESTORE_TEST_COMPLETED_METRIC]);
  });

  it('writes none for a GC dry run, nor for an expiry', async () => {
    const { handler, heartbeats } = setUp();
    expect(await handler({ kind: 'gc', dryRun: true })).toMatchObject({ status: 'dry-run', continue: false });
    await handler({ kind: 'expire', plan: 'nightly', servers: [] }).catch(() => undefined);
    expect(heartbeats).toEqual([]);
  });

  it('writes none for an invocation that hands its run over, and one when the run then ends', async () => {
    const { handler, heartbeats, relaunched } = setUp();
    const first = (await handler({ kind: 'gc' }, contextWith(0))) as { runId: string; continue: boolean };
    expect(first.continue).toBe(true);
    expect(heartbeats).toEqual([]);
    expect(relaunched).toHaveLength(1);
    await handler(relaunched[0], contextWith(15 * 60 * 1000));
    expect(heartbeats).toEqual([GC_COMPLETED_METRIC]);
  });
});
