/**
 * Request identification (service from the SigV4 scope, operation from the protocol) and the
 * fault generator, without a running stack.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  credentialScope,
  ebsOperation,
  operationName,
  s3Operation,
} from '../../local/gateway/aws-request.ts';
import { FaultInjector, faultAnswer } from '../../local/gateway/faults.ts';
import { functionNameOf } from '../../local/gateway/lambda-functions.ts';

const url = (path: string): URL => new URL(path, 'http://127.0.0.1:4566');

describe('credentialScope', () => {
  it('reads the scope from the Authorization header and from a presigned URL', () => {
    const headers: IncomingHttpHeaders = {
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/ebs/aws4_request, SignedHeaders=host, Signature=abc',
    };
    expect(credentialScope(headers, url('/snapshots'))).toEqual({
      accessKeyId: 'testing',
      region: 'us-east-1',
      service: 'ebs',
    });
    const presigned = url(
      '/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Feu-west-1%2Fs3%2Faws4_request',
    );
    expect(credentialScope({}, presigned)).toEqual({
      accessKeyId: 'AKID',
      region: 'eu-west-1',
      service: 's3',
    });
    expect(credentialScope({}, url('/moto-api/config'))).toBeUndefined();
  });
});

describe('operation names', () => {
  it('names every EBS direct API route', () => {
    expect(
      [
        ['POST', '/snapshots'],
        ['PUT', '/snapshots/snap-1/blocks/7'],
        ['GET', '/snapshots/snap-1/blocks/7'],
        ['GET', '/snapshots/snap-1/blocks'],
        ['GET', '/snapshots/snap-2/changedblocks'],
        ['POST', '/snapshots/completion/snap-1'],
        ['GET', '/volumes'],
      ].map(([method, path]) => ebsOperation(method!, path!)),
    ).toEqual([
      'StartSnapshot',
      'PutSnapshotBlock',
      'GetSnapshotBlock',
      'ListSnapshotBlocks',
      'ListChangedBlocks',
      'CompleteSnapshot',
      'Unknown',
    ]);
  });

  it('names S3 operations from method, path and sub-resources', () => {
    const cases: [string, string, IncomingHttpHeaders, string][] = [
      ['GET', '/', {}, 'ListBuckets'],
      ['PUT', '/b', {}, 'CreateBucket'],
      ['HEAD', '/b', {}, 'HeadBucket'],
      ['GET', '/b?list-type=2&prefix=x', {}, 'ListObjectsV2'],
      ['PUT', '/b?object-lock', {}, 'PutObjectLockConfiguration'],
      ['POST', '/b?delete', {}, 'DeleteObjects'],
      ['PUT', '/b/k', {}, 'PutObject'],
      ['PUT', '/b/k', { 'x-amz-copy-source': '/b/j' }, 'CopyObject'],
      ['GET', '/b/k', {}, 'GetObject'],
      ['HEAD', '/b/k', {}, 'HeadObject'],
      ['DELETE', '/b/k', {}, 'DeleteObject'],
      ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
      ['PUT', '/b/k?partNumber=1&uploadId=u', {}, 'UploadPart'],
      ['POST', '/b/k?uploadId=u', {}, 'CompleteMultipartUpload'],
      ['DELETE', '/b/k?uploadId=u', {}, 'AbortMultipartUpload'],
      ['GET', '/b/k?retention', {}, 'GetObjectRetention'],
    ];
    expect(cases.map(([method, path, headers]) => s3Operation(method, url(path), headers))).toEqual(
      cases.map(([, , , name]) => name),
    );
  });

  it('names JSON, query and Lambda operations', () => {
    expect(
      operationName('dynamodb', 'POST', url('/'), { 'x-amz-target': 'DynamoDB_20120810.TransactWriteItems' }),
    ).toBe('TransactWriteItems');
    expect(
      operationName('states', 'POST', url('/'), { 'x-amz-target': 'AWSStepFunctions.StartExecution' }),
    ).toBe('StartExecution');
    const form = Buffer.from('Action=CreateSnapshot&Version=2016-11-15&VolumeId=vol-1');
    expect(
      operationName(
        'ec2',
        'POST',
        url('/'),
        { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        form,
      ),
    ).toBe('CreateSnapshot');
    expect(operationName('lambda', 'POST', url('/2015-03-31/functions/f/invocations'), {})).toBe('Invoke');
    expect(operationName('scheduler', 'GET', url('/schedules?x=1'), {})).toBe('GET /schedules');
  });

  it('reduces every Lambda function identifier to the function name', () => {
    expect(
      [
        'copy-range',
        'copy-range:live',
        '123456789012:function:copy-range',
        'arn:aws:lambda:us-east-1:123456789012:function:copy-range',
        'arn:aws:lambda:us-east-1:123456789012:function:copy-range:$LATEST',
      ].map(functionNameOf),
    ).toEqual(['copy-range', 'copy-range', 'copy-range', 'copy-range', 'copy-range']);
  });
});

describe('FaultInjector', () => {
  it('uses the most specific rate and draws per operation, independent of other traffic', () => {
    const config = { seed: 5, throttleRate: { '*': 0, ebs: 0.5, 'ebs:ListSnapshotBlocks': 1 } };
    const alone = new FaultInjector(config);
    const mixed = new FaultInjector(config);
    const aloneDecisions: (string | undefined)[] = [];
    const mixedDecisions: (string | undefined)[] = [];
    for (let index = 0; index < 50; index += 1) {
      aloneDecisions.push(alone.decide('ebs', 'GetSnapshotBlock'));
      mixed.decide('ebs', 'PutSnapshotBlock');
      mixedDecisions.push(mixed.decide('ebs', 'GetSnapshotBlock'));
      expect(mixed.decide('ebs', 'ListSnapshotBlocks')).toBe('throttle');
      expect(mixed.decide('s3', 'GetObject')).toBeUndefined();
    }
    expect(mixedDecisions).toEqual(aloneDecisions);
    const throttled = aloneDecisions.filter((decision) => decision === 'throttle').length;
    expect(throttled).toBeGreaterThan(10);
    expect(throttled).toBeLessThan(40);
  });

  it('answers in each protocol’s error shape', () => {
    expect(faultAnswer('ebs', 'throttle', 'r-1')).toEqual({
      status: 400,
      headers: {
        'content-type': 'application/json',
        'x-amzn-errortype': 'RequestThrottledException',
        'x-amzn-requestid': 'r-1',
      },
      body: '{"Message":"Rate exceeded (fault injected by the local gateway)","Reason":"ACCOUNT_THROTTLED"}',
    });
    expect(faultAnswer('s3', 'throttle', 'r-2').body).toContain('<Code>SlowDown</Code>');
    expect(faultAnswer('ec2', 'server-error', 'r-3')).toMatchObject({ status: 500 });
    expect(faultAnswer('ec2', 'server-error', 'r-3').body).toContain('<Code>InternalError</Code>');
    expect(JSON.parse(faultAnswer('dynamodb', 'throttle', 'r-4').body)).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException',
      message: 'Rate of requests exceeds the allowed throughput.',
    });
  });
});
