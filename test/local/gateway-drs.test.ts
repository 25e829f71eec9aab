/**
 * The local stack's AWS Elastic Disaster Recovery (local/drs): DescribeSourceServers answered
 * from the replica volumes' tags. The pure answer (filters, pages, validation) is tested on
 * volumes given in memory; the gateway's routing, request statistics and faults through the real
 * DRS client on the local stack.
 */
import { randomInt } from 'node:crypto';
import {
  DescribeSourceServersCommand,
  DrsClient,
  GetLaunchConfigurationCommand,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-drs';
import { CreateVolumeCommand } from '@aws-sdk/client-ec2';
import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { drsOperation, describeSourceServers } from '../../local/drs/drs-service.ts';
import { sourceServersOf, type ReplicaVolumeRecord } from '../../local/drs/drs-source-servers.ts';
import { operationName } from '../../local/gateway/aws-request.ts';
import { REPLICA_AVAILABILITY_ZONE } from '../../local/replica/replica-volumes.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';

const GIB = 1024 ** 3;

const server = (n: number): string => `s-${n.toString(16).padStart(17, '0')}`;

const replica = (
  volumeId: string,
  serverId: string,
  device: string,
  extra: Record<string, string> = {},
): ReplicaVolumeRecord => ({
  volumeId,
  sizeGib: 2,
  tags: { 'rbp:replica': 'true', 'rbp:source-server': serverId, 'rbp:source-device': device, ...extra },
});

const answerOf = (
  body: object,
  volumes: readonly ReplicaVolumeRecord[],
): { status: number; json: unknown } => {
  const answer = describeSourceServers(Buffer.from(JSON.stringify(body)), volumes);
  return { status: answer.status, json: JSON.parse(answer.body.toString('utf8')) };
};

describe('the local DRS source servers (pure)', () => {
  it('groups replica volumes by DRS source server id, with arn, disk sizes and sorted disks', () => {
    const servers = sourceServersOf([
      replica('vol-2', server(2), '/dev/xvda', { 'rbp:sync-state': 'IN_SYNC', 'rbp:backlog-bytes': '0' }),
      replica('vol-1b', server(1), '/dev/sdb', { 'rbp:sync-state': 'BACKLOG', 'rbp:backlog-bytes': '512' }),
      replica('vol-1a', server(1), '/dev/xvda', {
        'rbp:sync-state': 'IN_SYNC',
        'rbp:backlog-bytes': '0',
        'rbp:checkpoint-time': '2026-12-03T02:00:00.000Z',
      }),
      // Not a DRS id, not a replica, no server: none is a DRS source server.
      replica('vol-web', 'web01', '/dev/xvda'),
      { volumeId: 'vol-x', sizeGib: 1, tags: { 'rbp:source-server': server(3) } },
      { volumeId: 'vol-y', sizeGib: 1, tags: { 'rbp:replica': 'true' } },
    ]);
    expect(servers).toEqual([
      {
        sourceServerID: server(1),
        arn: `arn:aws:drs:us-east-1:123456789012:source-server/${server(1)}`,
        dataReplicationInfo: {
          dataReplicationState: 'BACKLOG',
          replicatedDisks: [
            {
              deviceName: '/dev/sdb',
              totalStorageBytes: 2 * GIB,
              replicatedStorageBytes: 2 * GIB,
              backloggedStorageBytes: 512,
            },
            {
              deviceName: '/dev/xvda',
              totalStorageBytes: 2 * GIB,
              replicatedStorageBytes: 2 * GIB,
              backloggedStorageBytes: 0,
            },
          ],
        },
        lifeCycle: { lastSeenByServiceDateTime: '2026-12-03T02:00:00.000Z' },
      },
      {
        sourceServerID: server(2),
        arn: `arn:aws:drs:us-east-1:123456789012:source-server/${server(2)}`,
        dataReplicationInfo: {
          dataReplicationState: 'CONTINUOUS',
          replicatedDisks: [
            {
              deviceName: '/dev/xvda',
              totalStorageBytes: 2 * GIB,
              replicatedStorageBytes: 2 * GIB,
              backloggedStorageBytes: 0,
            },
          ],
        },
        lifeCycle: {},
      },
    ]);
  });

  it('filters by sourceServerIDs; an unknown id is no item, not an error', () => {
    const volumes = [replica('vol-1', server(1), '/dev/xvda'), replica('vol-2', server(2), '/dev/xvda')];
    const ids = (json: unknown): string[] =>
      (json as { items: { sourceServerID: string }[] }).items.map((s) => s.sourceServerID);
    expect(ids(answerOf({ filters: { sourceServerIDs: [server(2)] } }, volumes).json)).toEqual([server(2)]);
    expect(answerOf({ filters: { sourceServerIDs: [server(9)] } }, volumes)).toEqual({
      status: 200,
      json: { items: [] },
    });
    expect(ids(answerOf({}, volumes).json)).toEqual([server(1), server(2)]);
    expect(ids(answerOf({ filters: { sourceServerIDs: [] } }, volumes).json)).toEqual([server(1), server(2)]);
    expect(ids(answerOf({ filters: { hardwareId: 'h-1' } }, volumes).json)).toEqual([]);
    expect(ids(answerOf({ filters: { stagingAccountIDs: ['123456789012'] } }, volumes).json)).toEqual([
      server(1),
      server(2),
    ]);
    expect(ids(answerOf({ filters: { stagingAccountIDs: ['210987654321'] } }, volumes).json)).toEqual([]);
  });

  it('refuses a malformed request with ValidationException naming the field', () => {
    expect(answerOf({ filters: { sourceServerIDs: ['web01'] } }, [])).toEqual({
      status: 400,
      json: {
        message: 'Invalid request: filters.sourceServerIDs.0: must be a source server id (s-…)',
        code: 'ValidationException',
        reason: 'fieldValidationFailed',
        fieldList: [{ name: 'filters.sourceServerIDs.0', message: 'must be a source server id (s-…)' }],
      },
    });
    expect(answerOf({ maxResults: 0 }, []).status).toBe(400);
    expect(answerOf({ maxResults: 1001 }, []).status).toBe(400);
    expect(answerOf({ nextToken: 'not-a-token' }, [])).toEqual({
      status: 400,
      json: {
        message: 'Invalid nextToken',
        code: 'ValidationException',
        reason: 'fieldValidationFailed',
        fieldList: [{ name: 'nextToken', message: 'not a token this service gave' }],
      },
    });
  });

  it('pages through every server once, in id order, whatever the page size', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 500 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 8 }),
        (numbers, maxResults) => {
          const volumes = numbers.map((n) => replica(`vol-${n}`, server(n), '/dev/xvda'));
          const seen: string[] = [];
          let nextToken: string | undefined;
          let pages = 0;
          do {
            const { status, json } = answerOf({ maxResults, ...(nextToken ? { nextToken } : {}) }, volumes);
            expect(status).toBe(200);
            const page = json as { items: { sourceServerID: string }[]; nextToken?: string };
            expect(page.items.length).toBeLessThanOrEqual(maxResults);
            seen.push(...page.items.map((s) => s.sourceServerID));
            nextToken = page.nextToken;
            pages += 1;
          } while (nextToken !== undefined);
          expect(seen).toEqual(numbers.map(server).sort());
          expect(pages).toBe(Math.max(1, Math.ceil(numbers.length / maxResults)));
        },
      ),
    );
  });

  it('names DRS operations by their path', () => {
    expect(drsOperation('/DescribeSourceServers')).toBe('DescribeSourceServers');
    const url = new URL('http://127.0.0.1/DescribeSourceServers');
    expect(operationName('drs', 'POST', url, { 'content-type': 'application/json' })).toBe(
      'DescribeSourceServers',
    );
  });
});

const local = useLocalStack();
const aws = useLocalClients(local);
let drsClient: DrsClient | undefined;
const drs = (): DrsClient => (drsClient ??= new DrsClient(local.clientConfig()));
afterAll(() => drsClient?.destroy());

describe('DRS through the gateway', () => {
  beforeEach(() => {
    local.stack.gateway.setFaults({});
    local.stack.gateway.resetStats();
  });

  it("answers DescribeSourceServers from moto's replica volumes, counted as drs:DescribeSourceServers", async () => {
    const id = `s-${randomInt(2 ** 40)
      .toString(16)
      .padStart(17, '0')}`;
    await aws.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: REPLICA_AVAILABILITY_ZONE,
        Size: 3,
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: Object.entries({
              'rbp:replica': 'true',
              'rbp:source-server': id,
              'rbp:source-device': '/dev/xvda',
              'rbp:sync-state': 'IN_SYNC',
              'rbp:backlog-bytes': '0',
            }).map(([Key, Value]) => ({ Key, Value })),
          },
        ],
      }),
    );
    local.stack.gateway.resetStats();
    const answer = await drs().send(new DescribeSourceServersCommand({ filters: { sourceServerIDs: [id] } }));
    expect(answer.items).toEqual([
      {
        sourceServerID: id,
        arn: `arn:aws:drs:us-east-1:123456789012:source-server/${id}`,
        dataReplicationInfo: {
          dataReplicationState: 'CONTINUOUS',
          replicatedDisks: [
            {
              deviceName: '/dev/xvda',
              totalStorageBytes: 3 * GIB,
              replicatedStorageBytes: 3 * GIB,
              backloggedStorageBytes: 0,
            },
          ],
        },
        lifeCycle: {},
      },
    ]);
    expect(answer.nextToken).toBeUndefined();
    // The local DRS reads moto directly: only the DRS request reaches the gateway's statistics.
    expect(local.stack.gateway.stats()).toEqual({ requests: { 'drs:DescribeSourceServers': 1 }, faults: {} });
  });

  it('answers ValidationException and UnknownOperationException as DRS errors', async () => {
    const refused = await drs()
      .send(new DescribeSourceServersCommand({ filters: { sourceServerIDs: ['web01'] } }))
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationException);
    expect((refused as ValidationException).message).toBe(
      'Invalid request: filters.sourceServerIDs.0: must be a source server id (s-…)',
    );
    expect((refused as ValidationException).$metadata.httpStatusCode).toBe(400);
    const unknown = (await drs()
      .send(new GetLaunchConfigurationCommand({ sourceServerID: 's-00000000000000001' }))
      .catch((error: unknown) => error)) as Error;
    expect(unknown.name).toBe('UnknownOperationException');
    expect(unknown.message).toBe(
      "the local stack's Elastic Disaster Recovery answers DescribeSourceServers only, not GetLaunchConfiguration",
    );
  });

  it('injects faults like any service: throttled once, counted, then answered', async () => {
    local.stack.gateway.setFaults({ throttleRate: { 'drs:DescribeSourceServers': 1 } });
    const throttled = await drs()
      .send(new DescribeSourceServersCommand({}))
      .catch((error: unknown) => error);
    expect(throttled).toBeInstanceOf(ThrottlingException);
    local.stack.gateway.setFaults({});
    await drs().send(new DescribeSourceServersCommand({}));
    expect(local.stack.gateway.stats()).toEqual({
      requests: { 'drs:DescribeSourceServers': 2 },
      faults: { 'drs:DescribeSourceServers:throttle': 1 },
    });
  });
});
