/**
 * moto's Step Functions interpreter runs a state machine whose tasks call back into the gateway
 * (MOTO_PORT = the gateway's port): a Lambda task runs an in-process handler, a Catch matches the
 * handler's error class name, and an `aws-sdk:ec2:createSnapshot` task of a replica volume freezes
 * its image in the EBS emulator. Three executions in one moto process prove the deepcopy fix.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStateMachineCommand,
  SFNClient,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
} from '@aws-sdk/client-sfn';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
/** The machines here run a few short tasks: half a minute is ample on a loaded machine. */
const RUN_WAIT: ExecutionWait = { timeoutMs: 30_000, pollMs: 100 };

const DEFINITION = {
  StartAt: 'Double',
  States: {
    Double: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: {
        FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:rbp-double',
        'Payload.$': '$',
      },
      ResultSelector: { 'value.$': '$.Payload.value' },
      ResultPath: '$.doubled',
      Catch: [{ ErrorEquals: ['ValidationError'], ResultPath: '$.error', Next: 'Rejected' }],
      Next: 'Snapshot',
    },
    Snapshot: {
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:ec2:createSnapshot',
      Parameters: { 'VolumeId.$': '$.volumeId' },
      ResultSelector: { 'snapshotId.$': '$.SnapshotId' },
      ResultPath: '$.snapshot',
      End: true,
    },
    Rejected: { Type: 'Pass', End: true },
  },
};

let sfn: SFNClient;
let s3: S3Client;
let workDir: string;
let volumeId: string;
let stateMachineArn: string;

beforeAll(async () => {
  sfn = new SFNClient(local.clientConfig());
  s3 = new S3Client(local.clientConfig());
  workDir = await mkdtemp(join(tmpdir(), 'rbp-sfn-test-'));
  const image = Buffer.alloc(2 * EBS_BLOCK_SIZE_BYTES);
  image.write('replica data', EBS_BLOCK_SIZE_BYTES);
  await writeFile(join(workDir, 'disk.img'), image);
  volumeId = (await local.stack.replicas.create({ imagePath: join(workDir, 'disk.img') })).volumeId;
  local.stack.gateway.registerFunction('rbp-double', (event) => {
    const value = (event as { value?: unknown }).value;
    if (typeof value !== 'number') return Promise.reject(new ValidationError('value must be a number'));
    return Promise.resolve({ value: value * 2 });
  });
  const created = await sfn.send(
    new CreateStateMachineCommand({
      name: 'gateway-loop',
      definition: JSON.stringify(DEFINITION),
      roleArn: 'arn:aws:iam::123456789012:role/local',
    }),
  );
  stateMachineArn = created.stateMachineArn!;
});

afterAll(async () => {
  sfn.destroy();
  s3.destroy();
  await rm(workDir, { recursive: true, force: true });
});

async function run(
  name: string,
  input: object,
  machineArn = stateMachineArn,
): Promise<DescribeExecutionCommandOutput> {
  const { executionArn } = await sfn.send(
    new StartExecutionCommand({ stateMachineArn: machineArn, name, input: JSON.stringify(input) }),
  );
  return executionEnded(sfn, executionArn!, RUN_WAIT);
}

describe('Step Functions in moto, through the gateway', () => {
  it('runs Lambda tasks in process, catches their errors by class name, and freezes replica snapshots', async () => {
    local.stack.gateway.resetStats();

    const first = await run('first', { value: 21, volumeId });
    expect(first.status).toBe('SUCCEEDED');
    const firstOutput = JSON.parse(first.output!) as { doubled: unknown; snapshot: { snapshotId: string } };
    expect(firstOutput.doubled).toEqual({ value: 42 });
    expect(firstOutput.snapshot.snapshotId).toMatch(/^snap-[0-9a-f]+$/);
    expect(local.stack.emulator.snapshotStatus(firstOutput.snapshot.snapshotId)).toBeDefined();

    const rejected = await run('second', { value: 'twenty-one', volumeId });
    expect(rejected.status).toBe('SUCCEEDED');
    const rejectedOutput = JSON.parse(rejected.output!) as { error: { Error: string; Cause: string } };
    expect(rejectedOutput.error.Error).toBe('ValidationError');
    expect(JSON.parse(rejectedOutput.error.Cause)).toMatchObject({
      errorType: 'ValidationError',
      errorMessage: 'value must be a number',
    });

    const third = await run('third', { value: 5, volumeId });
    expect(third.status).toBe('SUCCEEDED');
    const thirdOutput = JSON.parse(third.output!) as { doubled: unknown; snapshot: { snapshotId: string } };
    expect(thirdOutput.doubled).toEqual({ value: 10 });
    expect(thirdOutput.snapshot.snapshotId).not.toBe(firstOutput.snapshot.snapshotId);

    const { requests } = local.stack.gateway.stats();
    expect(requests['lambda:Invoke']).toBe(3);
    expect(requests['ec2:CreateSnapshot']).toBe(2);
    expect(requests['states:StartExecution']).toBe(3);
  });

  it('runs aws-sdk S3 tasks through the gateway, getObject included (its body comes back as a string)', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'sfn-work-items' }));
    const definition = {
      StartAt: 'Put',
      States: {
        Put: {
          Type: 'Task',
          Resource: 'arn:aws:states:::aws-sdk:s3:putObject',
          Parameters: {
            Bucket: 'sfn-work-items',
            Key: 'plan/items.json',
            'Body.$': 'States.JsonToString($.items)',
          },
          ResultPath: null,
          Next: 'Get',
        },
        Get: {
          Type: 'Task',
          Resource: 'arn:aws:states:::aws-sdk:s3:getObject',
          Parameters: { Bucket: 'sfn-work-items', Key: 'plan/items.json' },
          ResultSelector: { 'items.$': 'States.StringToJson($.Body)' },
          End: true,
        },
      },
    };
    const created = await sfn.send(
      new CreateStateMachineCommand({
        name: 's3-loop',
        definition: JSON.stringify(definition),
        roleArn: 'arn:aws:iam::123456789012:role/local',
      }),
    );
    local.stack.gateway.resetStats();
    const execution = await run('s3-first', { items: [{ first: 0, last: 2047 }] }, created.stateMachineArn);
    expect(execution.status).toBe('SUCCEEDED');
    expect(JSON.parse(execution.output!)).toEqual({ items: [{ first: 0, last: 2047 }] });
    const stored = await s3.send(new GetObjectCommand({ Bucket: 'sfn-work-items', Key: 'plan/items.json' }));
    expect(await stored.Body!.transformToString()).toBe('[{"first":0,"last":2047}]');
    expect(local.stack.gateway.stats().requests).toMatchObject({ 's3:PutObject': 1, 's3:GetObject': 2 });
  });
});
