/**
 * A restore whose worker died (Lambda timeout, out of memory) ends FAILED with the reason: the
 * record Lambda sends to the restore worker's on-failure destination (the volume-restore step
 * function) fails the file or volume restore job with the error it died of; a job that finished
 * meanwhile is left as it is. The stack wires the destination: the restore worker's
 * EventInvokeConfig names the step function as OnFailure.
 */
import '../support/quiet-powertools.ts';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { createRestoreJob, fileRestoreJobs } from '../../lambdas/core/file-restore/restore-jobs.ts';
import { ImageStore } from '../../lambdas/core/image/image-store.ts';
import { createVolumeRestoreJob, volumeRestoreJobs } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { createVolumeRestoreStepHandler } from '../../lambdas/handlers/volume-restore-step.ts';
import { parseConfig } from '../../lib/config.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';
import { FixedClock } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryObjectStore } from '../fakes/memory-object-store.ts';

function setUp() {
  const store = new MemoryJobStore();
  const clock = new FixedClock();
  const fileJobs = fileRestoreJobs(store);
  const jobs = volumeRestoreJobs(store);
  const unused = () => Promise.reject(new Error('not used by a dead-worker record'));
  const handler = createVolumeRestoreStepHandler({
    jobs,
    fileJobs,
    clock,
    images: new ImageStore(new MemoryObjectStore()),
    writer: { startSnapshot: unused, putSnapshotBlock: unused, completeSnapshot: unused },
    snapshots: { describeSnapshot: unused },
    work: new MemoryObjectStore(),
    workBucket: 'work',
    openManifest: unused,
  });
  return { handler, fileJobs, jobs, clock };
}

/** The record Lambda sends to an on-failure destination (its documented shape). */
function deadRecord(restoreId: string, kind: 'files' | 'volume', responsePayload: Record<string, string>) {
  return {
    version: '1.0',
    timestamp: '2026-12-03T05:30:00.000Z',
    requestContext: {
      requestId: 'e4b46cbf-b738-xmpl-8880-a18cdf61200e',
      functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:rbp-RestoreWorker:$LATEST',
      condition: 'RetriesExhausted',
      approximateInvokeCount: 3,
    },
    requestPayload: { restoreId, kind },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload,
  };
}

describe('a restore whose worker died', () => {
  it('ends FAILED with the reason: a file restore that timed out, a volume restore out of memory', async () => {
    const { handler, fileJobs, jobs, clock } = setUp();
    const file = await createRestoreJob(
      { jobs: fileJobs, clock },
      {
        restoreId: 'rs-timeout',
        volumeId: 'vol-1',
        imageId: 'img-1',
        kind: 'file',
        path: '/big.db',
        keyToken: 't1',
      },
    );
    await fileJobs.update({ ...file, status: 'running' }, ['pending']);
    await createVolumeRestoreJob(
      { jobs, clock },
      { restoreId: 'rs-oom', volumeId: 'vol-1', imageId: 'img-1' },
    );

    await handler(
      deadRecord('rs-timeout', 'files', {
        errorMessage: '2026-12-03T05:29:59.000Z e4b46cbf Task timed out after 900.00 seconds',
      }),
    );
    await handler(
      deadRecord('rs-oom', 'volume', { errorType: 'Runtime.OutOfMemory', errorMessage: 'signal: killed' }),
    );
    expect((await fileJobs.get('rs-timeout')).status).toBe('failed');
    expect((await fileJobs.get('rs-timeout')).failure).toEqual({
      reason:
        'the restore worker stopped without finishing the job (RetriesExhausted after 3 attempts): 2026-12-03T05:29:59.000Z e4b46cbf Task timed out after 900.00 seconds',
      errorName: 'RestoreWorkerDied',
    });
    expect((await jobs.get('rs-oom')).failure).toEqual({
      reason:
        'the restore worker stopped without finishing the job (RetriesExhausted after 3 attempts): Runtime.OutOfMemory: signal: killed',
      errorName: 'Runtime.OutOfMemory',
    });
  });

  it('leaves a job that finished in the meantime as it is', async () => {
    const { handler, fileJobs, clock } = setUp();
    const file = await createRestoreJob(
      { jobs: fileJobs, clock },
      { restoreId: 'rs-done', volumeId: 'vol-1', imageId: 'img-1', kind: 'file', path: '/a', keyToken: 't2' },
    );
    await fileJobs.update({ ...file, status: 'running' }, ['pending']);
    await fileJobs.update({ ...file, status: 'succeeded' }, ['running']);
    expect(await handler(deadRecord('rs-done', 'files', { errorMessage: 'late record' }))).toEqual({
      restoreId: 'rs-done',
      status: 'succeeded',
    });
  });

  it('is wired in the stack: the restore worker names the step function as its on-failure destination', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new ReplicaBackupStack(app, 'DeadWorkerTest', {
      config: parseConfig({ servers: [] }),
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const configs = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::EventInvokeConfig',
    );
    const worker = configs.filter((c) =>
      JSON.stringify(c.Properties['FunctionName']).includes('RestoreWorkerFunction'),
    );
    expect(worker).toHaveLength(1);
    expect(worker[0]!.Properties['MaximumRetryAttempts']).toBe(2);
    expect(JSON.stringify(worker[0]!.Properties['DestinationConfig'])).toContain('VolumeRestoreStepFunction');
  });
});
