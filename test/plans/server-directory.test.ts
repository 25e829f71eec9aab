import { CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, expect, it } from 'vitest';
import { Ec2ServerDirectory } from '../../lambdas/aws/ec2-server-directory.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { serverRows } from './fake-plan-ports.ts';

const local = useLocalStack();
let ec2: EC2Client | undefined;
afterAll(() => ec2?.destroy());

async function volume(tags: Record<string, string>): Promise<string> {
  ec2 ??= new EC2Client(local.clientConfig());
  const answer = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: 'us-east-1a',
      Size: 1,
      TagSpecifications: [
        { ResourceType: 'volume', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      ],
    }),
  );
  return answer.VolumeId!;
}

it('servers from the replica volumes on EC2 (moto): grouped by rbp:source-server, least healthy volume decides', async () => {
  const a = await volume({
    'rbp:replica': 'true',
    'rbp:source-server': 'TEST8',
    'rbp:replication-state': 'in-sync',
    'rbp:applications': 'DOMAIN1, DOMAIN2',
  });
  const b = await volume({
    'rbp:replica': 'true',
    'rbp:source-server': 'TEST8',
    'rbp:replication-state': 'lagging',
    'rbp:lag-seconds': '42',
  });
  await volume({ 'rbp:source-server': 'NOT-A-REPLICA' });
  const directory = new Ec2ServerDirectory(ec2!);
  const servers = await directory.list();
  expect(serverRows(servers, ['name', 'replication', 'lagSeconds', 'applications', 'volumes'])).toEqual([
    ['TEST8', 'lagging', 42, ['DOMAIN1', 'DOMAIN2'], [a, b].sort()],
  ]);
  expect((await directory.get('TEST8'))?.name).toBe('TEST8');
  expect(await directory.get('NOT-A-REPLICA')).toBeUndefined();
});

it('reads one server with a filter on its tag: one DescribeVolumes of that server only; the list is one request per 500 volumes', async () => {
  const sent: { Filters?: { Name?: string; Values?: string[] }[]; MaxResults?: number }[] = [];
  const counted = new EC2Client(local.clientConfig());
  counted.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'DescribeVolumesCommand') sent.push(args.input as (typeof sent)[number]);
      return next(args);
    },
    { step: 'initialize' },
  );
  const [c, d] = [
    await volume({ 'rbp:replica': 'true', 'rbp:source-server': 'DB9' }),
    await volume({ 'rbp:replica': 'true', 'rbp:source-server': 'DB9' }),
  ];
  const untagged = await volume({ 'rbp:replica': 'true' });
  const directory = new Ec2ServerDirectory(counted);
  const server = await directory.get('DB9');
  expect(server?.volumes.map((v) => v.volumeId)).toEqual([c, d].sort());
  expect(sent).toEqual([
    {
      Filters: [
        { Name: 'tag:rbp:replica', Values: ['true'] },
        { Name: 'tag:rbp:source-server', Values: ['DB9'] },
      ],
      MaxResults: 500,
    },
  ]);
  sent.length = 0;
  // A replica volume without the tag is its own server: found through the whole list.
  expect((await directory.get(untagged))?.volumes.map((v) => v.volumeId)).toEqual([untagged]);
  expect(sent).toHaveLength(2);
  sent.length = 0;
  expect((await directory.list()).map((s) => s.name)).toContain('DB9');
  expect(sent).toEqual([{ Filters: [{ Name: 'tag:rbp:replica', Values: ['true'] }], MaxResults: 500 }]);
  counted.destroy();
});
