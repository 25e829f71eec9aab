/**
 * Fault injection through the local gateway is observable as the exception a real service would
 * cause, in each SDK; it is deterministic for a seed; it is counted exactly; and the EBS emulator's
 * own faults (corrupted data, a per-snapshot request cap) pass through.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  EBSClient,
  GetSnapshotBlockCommand,
  InternalServerException,
  ListSnapshotBlocksCommand,
  RequestThrottledException,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { ListTablesCommand, ThrottlingException } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, TooManyRequestsException } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import type { FaultConfig } from '../../local/gateway/faults.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';
import { putBlockAndComplete } from './ebs-test-support.ts';

const clock = new ManualClock();
const local = useLocalStack({ clock });
const SOME_SNAPSHOT = 'snap-0123456789abcdef0';

const aws = useLocalClients(local);

afterEach(() => {
  local.stack.gateway.setFaults({});
  local.stack.gateway.resetStats();
});

function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (error: unknown) => error,
  );
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

describe('throttling, in each service’s own shape', () => {
  it('EBS: RequestThrottledException with its Reason', async () => {
    local.stack.gateway.setFaults({ throttleRate: { 'ebs:ListSnapshotBlocks': 1 } });
    const error = await failureOf(aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: SOME_SNAPSHOT })));
    expect(error).toBeInstanceOf(RequestThrottledException);
    expect((error as RequestThrottledException).Reason).toBe('ACCOUNT_THROTTLED');
    expect(statusOf(error)).toBe(400);
  });

  it('S3: SlowDown with HTTP 503, only for the configured operation', async () => {
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'fault-bucket' }));
    local.stack.gateway.setFaults({ throttleRate: { 's3:GetObject': 1 } });
    await aws.s3.send(new PutObjectCommand({ Bucket: 'fault-bucket', Key: 'k', Body: 'data' }));
    const error = await failureOf(aws.s3.send(new GetObjectCommand({ Bucket: 'fault-bucket', Key: 'k' })));
    expect(error).toBeInstanceOf(S3ServiceException);
    expect((error as S3ServiceException).name).toBe('SlowDown');
    expect(statusOf(error)).toBe(503);
  });

  it('DynamoDB: ThrottlingException', async () => {
    local.stack.gateway.setFaults({ throttleRate: { dynamodb: 1 } });
    const error = await failureOf(aws.dynamodb.send(new ListTablesCommand({})));
    expect(error).toBeInstanceOf(ThrottlingException);
    expect((error as Error).message).toBe('Rate of requests exceeds the allowed throughput.');
  });

  it('EC2: RequestLimitExceeded with HTTP 503', async () => {
    local.stack.gateway.setFaults({ throttleRate: { '*': 1 } });
    const error = await failureOf(aws.ec2.send(new DescribeVolumesCommand({})));
    expect((error as Error).name).toBe('RequestLimitExceeded');
    expect(statusOf(error)).toBe(503);
  });

  it('Lambda: TooManyRequestsException with HTTP 429', async () => {
    local.stack.gateway.registerFunction('rbp-noop', () => Promise.resolve(null));
    local.stack.gateway.setFaults({ throttleRate: { 'lambda:Invoke': 1 } });
    const error = await failureOf(aws.lambda.send(new InvokeCommand({ FunctionName: 'rbp-noop' })));
    expect(error).toBeInstanceOf(TooManyRequestsException);
    expect(statusOf(error)).toBe(429);
  });

  it('is retried by the SDK, and every attempt is counted', async () => {
    const retrying = new EBSClient(local.clientConfig({ maxAttempts: 2 }));
    local.stack.gateway.setFaults({ throttleRate: { ebs: 1 } });
    const error = await failureOf(
      retrying.send(new ListSnapshotBlocksCommand({ SnapshotId: SOME_SNAPSHOT })),
    );
    retrying.destroy();
    expect(error).toBeInstanceOf(RequestThrottledException);
    expect((error as RequestThrottledException).$metadata.attempts).toBe(2);
    expect(local.stack.gateway.stats()).toEqual({
      requests: { 'ebs:ListSnapshotBlocks': 2 },
      faults: { 'ebs:ListSnapshotBlocks:throttle': 2 },
    });
  });
});

describe('server errors and latency', () => {
  it('EBS: InternalServerException with HTTP 500; S3: InternalError with HTTP 500', async () => {
    local.stack.gateway.setFaults({ serverErrorRate: { ebs: 1, s3: 1 } });
    const ebsError = await failureOf(
      aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: SOME_SNAPSHOT })),
    );
    expect(ebsError).toBeInstanceOf(InternalServerException);
    expect(statusOf(ebsError)).toBe(500);
    const s3Error = await failureOf(aws.s3.send(new GetObjectCommand({ Bucket: 'fault-bucket', Key: 'k' })));
    expect((s3Error as Error).name).toBe('InternalError');
    expect(statusOf(s3Error)).toBe(500);
  });

  it('delays requests of the configured service by the configured latency', async () => {
    local.stack.gateway.setFaults({ latencyMs: { ec2: 400 } });
    const started = performance.now();
    await aws.ec2.send(new DescribeVolumesCommand({}));
    expect(performance.now() - started).toBeGreaterThanOrEqual(400);
  });
});

describe('determinism and the admin endpoint', () => {
  async function faultPattern(config: FaultConfig, requests: number): Promise<boolean[]> {
    const response = await fetch(`${local.stack.endpoint}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify(config),
    });
    expect(response.status).toBe(200);
    const pattern: boolean[] = [];
    for (let index = 0; index < requests; index += 1) {
      pattern.push(
        await aws.ec2.send(new DescribeVolumesCommand({})).then(
          () => false,
          () => true,
        ),
      );
    }
    return pattern;
  }

  it('gives the same faults for the same seed, other faults for another seed, and counts them', async () => {
    const config: FaultConfig = { seed: 42, throttleRate: { 'ec2:DescribeVolumes': 0.5 } };
    local.stack.gateway.resetStats();
    const first = await faultPattern(config, 24);
    const throttled = first.filter(Boolean).length;
    expect(local.stack.gateway.stats()).toEqual({
      requests: { 'ec2:DescribeVolumes': 24 },
      faults: { 'ec2:DescribeVolumes:throttle': throttled },
    });
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThan(24);
    expect(await faultPattern(config, 24)).toEqual(first);
    expect(await faultPattern({ ...config, seed: 43 }, 24)).not.toEqual(first);

    const cleared = await fetch(`${local.stack.endpoint}/_local/faults`, { method: 'DELETE' });
    expect(await cleared.json()).toEqual({});
    expect(await faultPattern({}, 3)).toEqual([false, false, false]);
  });
});

describe('EBS emulator faults pass through', () => {
  let snapshotId: string;
  const block = randomBytes(EBS_BLOCK_SIZE_BYTES);

  beforeAll(async () => {
    snapshotId = (await aws.ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }))).SnapshotId!;
    await putBlockAndComplete(aws.ebs, snapshotId, 0, block);
    clock.advance(60_000);
    const answer = await aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(answer.Snapshots![0]!.State).toBe('completed');
  });

  async function blockToken(): Promise<string> {
    const listed = await aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId }));
    return listed.Blocks![0]!.BlockToken!;
  }

  it('corruptBlockDataRate: the data no longer matches its checksum header', async () => {
    const token = await blockToken();
    local.stack.gateway.setFaults({ corruptBlockDataRate: 1 });
    const read = await aws.ebs.send(
      new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: 0, BlockToken: token }),
    );
    const data = Buffer.from(await read.BlockData!.transformToByteArray());
    expect(data.length).toBe(EBS_BLOCK_SIZE_BYTES);
    expect(read.Checksum).toBe(createHash('sha256').update(block).digest('base64'));
    expect(createHash('sha256').update(data).digest('base64')).not.toBe(read.Checksum);
  });

  it('perSnapshotRequestsPerSecond: reads beyond the cap in one second get RESOURCE_LEVEL_THROTTLE', async () => {
    const token = await blockToken();
    local.stack.gateway.setFaults({ perSnapshotRequestsPerSecond: 1 });
    const outcomes = await Promise.all(
      Array.from({ length: 6 }, () =>
        aws.ebs
          .send(new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: 0, BlockToken: token }))
          .then(
            () => 'ok',
            (error: unknown) =>
              error instanceof RequestThrottledException
                ? `throttled:${error.Reason}`
                : `other:${String(error)}`,
          ),
      ),
    );
    // The clock stands still: all six reads fall into one clock second, and one fits under the cap.
    expect(outcomes.filter((outcome) => outcome === 'ok')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'throttled:RESOURCE_LEVEL_THROTTLE')).toHaveLength(5);
    clock.advance(1_000);
    const next = await aws.ebs.send(
      new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: 0, BlockToken: token }),
    );
    expect(Buffer.from(await next.BlockData!.transformToByteArray()).equals(block)).toBe(true);
  });
});
