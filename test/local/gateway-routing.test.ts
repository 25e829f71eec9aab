/**
 * The local gateway routes every kind of request to the right backend, through the real SDKs:
 * EBS → emulator (and its StartSnapshot snapshots show up in EC2), EC2/S3/DynamoDB → moto,
 * Lambda Invoke → in-process handlers, /_api → the API handler, /_local → admin; and its request
 * statistics count exactly what was sent.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  GetSnapshotBlockCommand,
  ListSnapshotBlocksCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { CreateVolumeCommand, DescribeSnapshotsCommand, DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { InvokeCommand, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';
import { putBlockAndComplete } from './ebs-test-support.ts';

const local = useLocalStack();

const aws = useLocalClients(local);

function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('EBS direct API through the gateway', () => {
  it('is served by the emulator, and a StartSnapshot snapshot is visible to EC2 DescribeSnapshots', async () => {
    const started = await aws.ebs.send(
      new StartSnapshotCommand({
        VolumeSize: 1,
        Description: 'restore test',
        Tags: [{ Key: 'purpose', Value: 'routing-test' }],
        ClientToken: 'routing-test-1',
      }),
    );
    const snapshotId = started.SnapshotId!;
    expect(started.BlockSize).toBe(EBS_BLOCK_SIZE_BYTES);

    const whileWriting = await aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
    expect(whileWriting.Snapshots).toHaveLength(1);
    expect(whileWriting.Snapshots![0]).toMatchObject({
      SnapshotId: snapshotId,
      State: 'pending',
      VolumeId: 'vol-ffffffff',
      VolumeSize: 1,
      Description: 'restore test',
      Tags: [{ Key: 'purpose', Value: 'routing-test' }],
    });

    const block = randomBytes(EBS_BLOCK_SIZE_BYTES);
    await putBlockAndComplete(aws.ebs, snapshotId, 3, block);

    const completed = await until(
      () => aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] })),
      (answer) => answer.Snapshots?.[0]?.State === 'completed',
    );
    expect(completed.Snapshots![0]).toMatchObject({ State: 'completed', Progress: '100%' });
    const byStatus = await aws.ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:purpose', Values: ['routing-test'] }] }),
    );
    expect(byStatus.Snapshots!.map((snapshot) => snapshot.SnapshotId)).toEqual([snapshotId]);
  });
});

describe('moto behind the gateway', () => {
  it('answers EC2, S3 and DynamoDB, and the statistics count exactly the requests sent', async () => {
    local.stack.gateway.resetStats();

    const volume = await aws.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: 'us-east-1a',
        Size: 2,
        TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'role', Value: 'plain' }] }],
      }),
    );
    const described = await aws.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'tag:role', Values: ['plain'] }] }),
    );
    expect(described.Volumes!.map((v) => [v.VolumeId, v.Size])).toEqual([[volume.VolumeId, 2]]);

    const body = randomBytes(1024 * 1024);
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'routing-bucket' }));
    await aws.s3.send(new PutObjectCommand({ Bucket: 'routing-bucket', Key: 'chunks/a', Body: body }));
    const head = await aws.s3.send(new HeadObjectCommand({ Bucket: 'routing-bucket', Key: 'chunks/a' }));
    expect(head.ContentLength).toBe(body.length);
    const got = await aws.s3.send(new GetObjectCommand({ Bucket: 'routing-bucket', Key: 'chunks/a' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);

    await aws.dynamodb.send(
      new CreateTableCommand({
        TableName: 'routing-table',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    await aws.dynamodb.send(
      new PutItemCommand({ TableName: 'routing-table', Item: { pk: { S: 'a' }, n: { N: '7' } } }),
    );
    const item = await aws.dynamodb.send(
      new GetItemCommand({ TableName: 'routing-table', Key: { pk: { S: 'a' } } }),
    );
    expect(item.Item).toEqual({ pk: { S: 'a' }, n: { N: '7' } });

    expect(local.stack.gateway.stats()).toEqual({
      requests: {
        'dynamodb:CreateTable': 1,
        'dynamodb:GetItem': 1,
        'dynamodb:PutItem': 1,
        'ec2:CreateVolume': 1,
        'ec2:DescribeVolumes': 1,
        's3:CreateBucket': 1,
        's3:GetObject': 1,
        's3:HeadObject': 1,
        's3:PutObject': 1,
      },
      faults: {},
    });
    const fromAdmin = await (await fetch(`${local.stack.endpoint}/_local/stats`)).json();
    expect(fromAdmin).toEqual(local.stack.gateway.stats());
  });
});

describe('unsigned and presigned requests', () => {
  it('sends an unsigned request to moto as it is', async () => {
    const response = await fetch(`${local.stack.endpoint}/moto-api/config`);
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ lambda: { use_docker: false } });
  });

  it('routes a presigned S3 URL by its X-Amz-Credential scope', async () => {
    await aws.s3.send(new CreateBucketCommand({ Bucket: 'presigned-bucket' }));
    await aws.s3.send(
      new PutObjectCommand({ Bucket: 'presigned-bucket', Key: 'restore/file.txt', Body: 'restored' }),
    );
    const url = await getSignedUrl(
      aws.s3,
      new GetObjectCommand({ Bucket: 'presigned-bucket', Key: 'restore/file.txt' }),
      {
        expiresIn: 900,
      },
    );
    expect(url.startsWith(`${local.stack.endpoint}/presigned-bucket/restore/file.txt?`)).toBe(true);
    local.stack.gateway.resetStats();
    const response = await fetch(url);
    expect(await response.text()).toBe('restored');
    expect(local.stack.gateway.stats().requests).toEqual({ 's3:GetObject': 1 });
  });
});

describe('Lambda Invoke', () => {
  it('runs the registered in-process handler, addressed by name or ARN', async () => {
    local.stack.gateway.registerFunction('rbp-echo', (event, context) =>
      Promise.resolve({ event, functionName: context.functionName, arn: context.invokedFunctionArn }),
    );
    for (const functionName of ['rbp-echo', 'arn:aws:lambda:us-east-1:123456789012:function:rbp-echo']) {
      const answer = await aws.lambda.send(
        new InvokeCommand({
          FunctionName: functionName,
          Payload: JSON.stringify({ volumeId: 'vol-1', n: 2 }),
        }),
      );
      expect(answer.StatusCode).toBe(200);
      expect(answer.FunctionError).toBeUndefined();
      expect(answer.ExecutedVersion).toBe('$LATEST');
      expect(JSON.parse(Buffer.from(answer.Payload!).toString('utf8'))).toEqual({
        event: { volumeId: 'vol-1', n: 2 },
        functionName: 'rbp-echo',
        arn: 'arn:aws:lambda:us-east-1:123456789012:function:rbp-echo',
      });
    }
  });

  it('answers a thrown error as an Unhandled function error named after the error class', async () => {
    local.stack.gateway.registerFunction('rbp-fails', () =>
      Promise.reject(new ValidationError('volumeId is missing', { context: { field: 'volumeId' } })),
    );
    const answer = await aws.lambda.send(new InvokeCommand({ FunctionName: 'rbp-fails', Payload: '{}' }));
    expect(answer.StatusCode).toBe(200);
    expect(answer.FunctionError).toBe('Unhandled');
    const payload = JSON.parse(Buffer.from(answer.Payload!).toString('utf8')) as {
      errorType: string;
      errorMessage: string;
      trace: string[];
    };
    expect(payload.errorType).toBe('ValidationError');
    expect(payload.errorMessage).toBe('volumeId is missing');
    expect(payload.trace[0]).toBe('ValidationError: volumeId is missing');
  });

  it('answers an unknown function with ResourceNotFoundException', async () => {
    const failure = await aws.lambda
      .send(new InvokeCommand({ FunctionName: 'nobody-home' }))
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ResourceNotFoundException);
    expect((failure as Error).message).toBe(
      'Function not found: arn:aws:lambda:us-east-1:123456789012:function:nobody-home',
    );
  });
});

describe('the /_api adapter', () => {
  it('answers 404 {code, message} while no API handler is registered', async () => {
    local.stack.gateway.setApiHandler(undefined);
    const response = await fetch(`${local.stack.endpoint}/_api/volumes`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      code: 'NotFound',
      message: 'No API is registered with the local gateway yet',
    });
  });

  it('turns a request into an API Gateway proxy event and the proxy result into the response', async () => {
    const events: APIGatewayProxyEvent[] = [];
    local.stack.gateway.setApiHandler((event) => {
      events.push(event);
      return Promise.resolve({
        statusCode: 201,
        headers: { 'content-type': 'application/json', 'x-rbp': 'yes' },
        multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'] },
        body: JSON.stringify({ created: true }),
      });
    });
    const response = await fetch(
      `${local.stack.endpoint}/_api/images/img-1/files?path=%2Fetc&path=%2Fvar&cursor=x`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-trace': 'abc' },
        body: JSON.stringify({ kind: 'file' }),
      },
    );
    expect(response.status).toBe(201);
    expect(response.headers.get('x-rbp')).toBe('yes');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await response.json()).toEqual({ created: true });

    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event).toMatchObject({
      resource: '/images/img-1/files',
      path: '/images/img-1/files',
      httpMethod: 'POST',
      queryStringParameters: { path: '/var', cursor: 'x' },
      multiValueQueryStringParameters: { path: ['/etc', '/var'], cursor: ['x'] },
      pathParameters: null,
      stageVariables: null,
      body: '{"kind":"file"}',
      isBase64Encoded: false,
    });
    expect(event.headers['x-trace']).toBe('abc');
    expect(event.multiValueHeaders['x-trace']).toEqual(['abc']);
    expect(event.requestContext).toMatchObject({
      accountId: '123456789012',
      stage: 'local',
      httpMethod: 'POST',
      path: '/local/images/img-1/files',
      resourcePath: '/images/img-1/files',
    });
    expect(event.requestContext.identity.sourceIp).toBe('127.0.0.1');
  });

  it('passes a binary body base64-encoded, a GET without query with nulls, and a failing handler as 502', async () => {
    const events: APIGatewayProxyEvent[] = [];
    local.stack.gateway.setApiHandler((event) => {
      events.push(event);
      if (event.httpMethod === 'DELETE') return Promise.reject(new Error('boom'));
      return Promise.resolve({
        statusCode: 200,
        body: Buffer.from([0, 1, 2]).toString('base64'),
        isBase64Encoded: true,
      });
    });
    const binary = Buffer.from([0xff, 0x00, 0x10]);
    const put = await fetch(`${local.stack.endpoint}/_api/blob`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: binary,
    });
    expect(Buffer.from(await put.arrayBuffer())).toEqual(Buffer.from([0, 1, 2]));
    const get = await fetch(`${local.stack.endpoint}/_api`);
    expect(get.status).toBe(200);
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const failed = await fetch(`${local.stack.endpoint}/_api/x`, { method: 'DELETE' });
    expect(logged).toHaveBeenCalledWith('[local api] handler failed', new Error('boom'));
    logged.mockRestore();
    expect(failed.status).toBe(502);
    expect(await failed.json()).toEqual({ message: 'Internal server error' });

    expect(
      events.map((e) => [e.httpMethod, e.path, e.body, e.isBase64Encoded, e.queryStringParameters]),
    ).toEqual([
      ['PUT', '/blob', binary.toString('base64'), true, null],
      ['GET', '/', null, false, null],
      ['DELETE', '/x', null, false, null],
    ]);
  });
});

describe('the /_local admin API', () => {
  it('reports health with the moto PID, rejects unknown routes and bad fault configurations', async () => {
    const health = (await (await fetch(`${local.stack.endpoint}/_local/health`)).json()) as Record<
      string,
      unknown
    >;
    expect(health).toMatchObject({
      status: 'ok',
      endpoint: local.stack.endpoint,
      motoEndpoint: local.stack.moto.endpoint,
      motoPid: local.stack.moto.pid,
    });

    const unknown = await fetch(`${local.stack.endpoint}/_local/nothing`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ code: 'NotFound', message: 'no admin route /_local/nothing' });

    const bad = await fetch(`${local.stack.endpoint}/_local/faults`, {
      method: 'PUT',
      body: JSON.stringify({ throttleRate: { s3: 2 } }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string }).code).toBe('ValidationError');
    expect(local.stack.gateway.faults()).toEqual({});
  });

  it('rejects a replica registration of a missing image and a checkpoint of an unknown volume', async () => {
    const missing = await fetch(`${local.stack.endpoint}/_local/replicas`, {
      method: 'POST',
      body: JSON.stringify({ imagePath: '/nonexistent/disk.img' }),
    });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toEqual({
      code: 'ValidationError',
      message: 'cannot read the image /nonexistent/disk.img',
    });
    const noSuchVolume = await fetch(`${local.stack.endpoint}/_local/replicas/vol-0000/checkpoint`, {
      method: 'POST',
      body: JSON.stringify({ checkpointId: 'cp-1' }),
    });
    expect(noSuchVolume.status).toBe(404);
  });
});

describe('block reads through the gateway', () => {
  it('returns the bytes of a StartSnapshot block with its checksum', async () => {
    const started = await aws.ebs.send(
      new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'routing-test-2' }),
    );
    const block = randomBytes(EBS_BLOCK_SIZE_BYTES);
    await putBlockAndComplete(aws.ebs, started.SnapshotId!, 0, block);
    await until(
      () => aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [started.SnapshotId!] })),
      (answer) => answer.Snapshots?.[0]?.State === 'completed',
    );
    const listed = await aws.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: started.SnapshotId! }));
    expect(listed.Blocks!.map((b) => b.BlockIndex)).toEqual([0]);
    const read = await aws.ebs.send(
      new GetSnapshotBlockCommand({
        SnapshotId: started.SnapshotId!,
        BlockIndex: 0,
        BlockToken: listed.Blocks![0]!.BlockToken!,
      }),
    );
    const data = Buffer.from(await read.BlockData!.transformToByteArray());
    expect(data.equals(block)).toBe(true);
    expect(read.Checksum).toBe(sha256Base64(block));
  });
});
