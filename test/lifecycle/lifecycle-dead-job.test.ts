/**
 * A lifecycle job whose invocation died (Lambda timeout, out of memory) ends FAILED with the
 * reason: the function is its own on-failure destination, and the record Lambda sends there fails
 * the job named by the failed event (its run id, or for a scheduled run the invocation's request
 * id) and counts a restore test or scrub in its alarm metric. A job that finished, and a
 * collection that a later handover carried on, are left as they are. The stack wires it.
 */
import '../support/quiet-powertools.ts';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { JOB_RECORD_VERSION, jobExpiry, type JobRecord } from '../../lambdas/core/jobs/job-store.ts';
import { scheduledRunId, type LifecycleRunDeps } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { createLifecycleJobHandler } from '../../lambdas/handlers/lifecycle-job.ts';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { newWorld } from './lifecycle-fixture.ts';

const TIMED_OUT = '2026-12-03T03:14:59.000Z 5f1c2d3e Task timed out after 900.00 seconds';

function setUp() {
  const world = newWorld();
  const jobs = new MemoryJobStore('run');
  const counted = {
    findings: [] as number[],
    restoreTestFailures: [] as number[],
    failedJobs: [] as string[],
  };
  const { bucket: objects, records, coordination, clock } = world;
  const run: LifecycleRunDeps = {
    jobs,
    clock,
    newRunId: (kind) => `${kind}-new`,
    gc: { objects, records, coordination, clock },
    scrub: { objects, records },
    events: { publish: () => Promise.resolve() },
    recordFindings: (count) => counted.findings.push(count),
    recordRestoreTestFailures: (count) => counted.restoreTestFailures.push(count),
  };
  const handler = createLifecycleJobHandler({
    run,
    relaunch: () => undefined,
    recordFailedJob: (kind) => counted.failedJobs.push(kind),
  });
  const running = async (kind: string, jobId: string, params: Record<string, unknown> = {}) => {
    const at = world.clock.now().toISOString();
    const record: JobRecord = {
      version: JOB_RECORD_VERSION,
      kind,
      jobId,
      status: 'RUNNING',
      params,
      createdAt: at,
      updatedAt: at,
      expiresAtEpochSeconds: jobExpiry(at),
    };
    await jobs.create(record);
  };
  return { handler, jobs, counted, running };
}

/** The record Lambda sends to an on-failure destination (its documented shape). */
function deadRecord(
  requestPayload: Record<string, unknown>,
  requestId = 'c0ffee00-0000-4000-8000-000000000001',
) {
  return {
    version: '1.0',
    timestamp: '2026-12-03T03:20:00.000Z',
    requestContext: {
      requestId,
      functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:rbp-LifecycleJob:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorMessage: TIMED_OUT },
  };
}

describe('a lifecycle job whose invocation died', () => {
  it('ends FAILED with the reason: a collection that timed out, a scheduled restore test (counted)', async () => {
    const { handler, jobs, counted, running } = setUp();
    await running('gc', 'gc-7', { dryRun: false, handovers: 2 });
    const requestId = '9b2f0c1a-1111-4222-8333-444455556666';
    await running('restore-test', scheduledRunId('restore-test', requestId), {
      files: 16,
      wholeVolume: false,
    });

    expect(await handler(deadRecord({ kind: 'gc', runId: 'gc-7', handover: 2 }))).toEqual({
      runId: 'gc-7',
      status: 'FAILED',
      failed: true,
    });
    await handler(deadRecord({ kind: 'restore-test', files: 16, wholeVolume: false }, requestId));

    const gc = await jobs.get('gc-7');
    expect(gc.status).toBe('FAILED');
    expect(gc.failure).toEqual({
      reason: `the gc job stopped without finishing the job (RetriesExhausted after 3 attempts): ${TIMED_OUT}`,
      errorName: 'LifecycleJobDied',
    });
    const test = await jobs.get(`restore-test-${requestId}`);
    expect(test.status).toBe('FAILED');
    expect(test.failure?.reason).toBe(
      `the restore-test job stopped without finishing the job (RetriesExhausted after 3 attempts): ${TIMED_OUT}`,
    );
    // The collection counts as a failed job (LifecycleJobsFailed); the restore test only as a failure.
    expect(counted).toEqual({ findings: [], restoreTestFailures: [1], failedJobs: ['gc'] });
  });

  it('fails a collection handed over to an invocation that never started (its launch refused)', async () => {
    const { handler, jobs, running } = setUp();
    await running('gc', 'gc-9', { dryRun: false, handovers: 3, startedHandover: 2 });
    expect(await handler(deadRecord({ kind: 'gc', runId: 'gc-9', handover: 2 }))).toEqual({
      runId: 'gc-9',
      status: 'FAILED',
      failed: true,
    });
    expect((await jobs.get('gc-9')).status).toBe('FAILED');
  });

  it('counts a dead scrub as a finding', async () => {
    const { handler, jobs, counted, running } = setUp();
    await running('scrub', 'scrub-3', { all: false, runNumber: 3 });
    await handler(deadRecord({ kind: 'scrub', runId: 'scrub-3' }));
    expect((await jobs.get('scrub-3')).status).toBe('FAILED');
    expect(counted).toEqual({ findings: [1], restoreTestFailures: [], failedJobs: [] });
  });

  it('leaves a job that finished, and a collection a later invocation carried on, as they are', async () => {
    const { handler, jobs, counted, running } = setUp();
    await running('restore-test', 'restore-test-1');
    const done = await jobs.get('restore-test-1');
    await jobs.update({ ...done, status: 'SUCCEEDED', result: { status: 'passed', servers: [] } }, [
      'RUNNING',
    ]);
    await running('gc', 'gc-8', { dryRun: false, handovers: 1, startedHandover: 1 });
    const before = [await jobs.get('restore-test-1'), await jobs.get('gc-8')];

    expect(await handler(deadRecord({ kind: 'restore-test', runId: 'restore-test-1' }))).toEqual({
      runId: 'restore-test-1',
      status: 'SUCCEEDED',
      failed: false,
    });
    // The first invocation of gc-8 (no handover yet) died late, after the next one had started.
    expect(await handler(deadRecord({ kind: 'gc', runId: 'gc-8' }))).toEqual({
      runId: 'gc-8',
      status: 'RUNNING',
      failed: false,
    });
    // The record of a destination invocation that itself failed carries a record, not a run.
    expect(await handler(deadRecord(deadRecord({ kind: 'gc', runId: 'gc-8' })))).toEqual({ failed: false });
    expect([await jobs.get('restore-test-1'), await jobs.get('gc-8')]).toEqual(before);
    expect(counted).toEqual({ findings: [], restoreTestFailures: [], failedJobs: [] });
  });

  it("names a scheduled run by its invocation: Lambda's retries of the event resume that run", async () => {
    const { handler, jobs } = setUp();
    const context = { awsRequestId: 'req-1', getRemainingTimeInMillis: () => 900_000 } as never;
    await handler({ kind: 'scrub' }, context);
    await handler({ kind: 'scrub' }, context);
    expect([...jobs.jobs.keys()]).toEqual(['scrub-req-1']);
    expect((await jobs.get('scrub-req-1')).status).toBe('SUCCEEDED');
  });

  it('is wired in the stack: the lifecycle function is its own on-failure destination, granted by its self-invoke policy only', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new ReplicaBackupStack(app, 'DeadLifecycleJobTest', {
      config: parseConfig({ servers: [] }),
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const resources = (
      Template.fromStack(stack).toJSON() as {
        Resources: Record<
          string,
          { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] }
        >;
      }
    ).Resources;
    const functionId = Object.keys(resources).find(
      (id) => resources[id]!.Type === 'AWS::Lambda::Function' && /LifecycleJobFunction/.test(id),
    )!;
    const configs = Object.values(resources).filter(
      (r) =>
        r.Type === 'AWS::Lambda::EventInvokeConfig' &&
        JSON.stringify(r.Properties['FunctionName']) === JSON.stringify({ Ref: functionId }),
    );
    expect(configs).toHaveLength(1);
    const config = configs[0]!;
    expect(config.Properties['MaximumRetryAttempts']).toBe(2);
    expect(config.Properties['DestinationConfig']).toEqual({
      OnFailure: { Destination: { 'Fn::GetAtt': [functionId, 'Arn'] } },
    });
    const selfInvoke = Object.keys(resources).find((id) => id.includes('LifecycleJobSelfInvoke'))!;
    expect(config.DependsOn).toContain(selfInvoke);
    expect(resources[selfInvoke]!.Properties['PolicyDocument']).toEqual({
      Version: '2012-10-17',
      Statement: [
        { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [functionId, 'Arn'] } },
      ],
    });
  });
});
