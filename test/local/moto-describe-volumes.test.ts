/**
 * moto 5.2.1 answered DescribeVolumes whole, whatever MaxResults and NextToken said; the local
 * stack's moto (local/moto/moto_patch.py, patch 12) pages it as EC2 documents
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 */
import {
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  EC2Client,
  type DescribeVolumesCommandInput,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useLocalStack } from '../support/local-stack.ts';

const REPLICA_FILTER = [{ Name: 'tag:rbp:replica', Values: ['true'] }];

describe('DescribeVolumes pages on the local stack', () => {
  const local = useLocalStack();
  let ec2: EC2Client;
  const replicas: string[] = [];
  const others: string[] = [];

  const create = async (tags: { Key: string; Value: string }[]) => {
    const volume = await ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: 'us-east-1a',
        Size: 1,
        TagSpecifications: [{ ResourceType: 'volume', Tags: tags }],
      }),
    );
    return volume.VolumeId!;
  };

  /** Every page of a listing from the first: the volume ids of each page. */
  const pages = async (input: DescribeVolumesCommandInput): Promise<string[][]> => {
    const found: string[][] = [];
    let token: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeVolumesCommand({ ...input, ...(token === undefined ? {} : { NextToken: token }) }),
      );
      found.push((page.Volumes ?? []).map((v) => v.VolumeId!));
      token = page.NextToken;
    } while (token !== undefined);
    return found;
  };

  beforeAll(async () => {
    ec2 = new EC2Client(local.clientConfig());
    for (let n = 0; n < 12; n += 1) replicas.push(await create([{ Key: 'rbp:replica', Value: 'true' }]));
    for (let n = 0; n < 3; n += 1) others.push(await create([{ Key: 'other', Value: 'x' }]));
  });
  afterAll(() => ec2.destroy());

  it('answers MaxResults 5 over 12 replica volumes in pages of 5, 5 and 2, by volume id, each once', async () => {
    const found = await pages({ Filters: REPLICA_FILTER, MaxResults: 5 });
    expect(found.map((page) => page.length)).toEqual([5, 5, 2]);
    expect(found.flat()).toEqual([...replicas].sort());
  });

  it('returns no NextToken when the page ends exactly at the last volume', async () => {
    const page = await ec2.send(new DescribeVolumesCommand({ Filters: REPLICA_FILTER, MaxResults: 12 }));
    expect(page.Volumes).toHaveLength(12);
    expect(page.NextToken).toBeUndefined();
  });

  it('pages every volume without filters, and keeps answering whole without MaxResults', async () => {
    const all = [...replicas, ...others].sort();
    expect((await pages({ MaxResults: 6 })).map((page) => page.length)).toEqual([6, 6, 3]);
    expect((await pages({ MaxResults: 6 })).flat()).toEqual(all);
    const whole = await ec2.send(new DescribeVolumesCommand({}));
    expect(whole.Volumes?.map((v) => v.VolumeId).sort()).toEqual(all);
    expect(whole.NextToken).toBeUndefined();
  });

  it('goes on after a volume deleted between pages', async () => {
    const first = await ec2.send(new DescribeVolumesCommand({ MaxResults: 5 }));
    const gone = first.Volumes!.at(-1)!.VolumeId!;
    await ec2.send(new DeleteVolumeCommand({ VolumeId: gone }));
    const rest = await pages({ MaxResults: 5, NextToken: first.NextToken! });
    const all = [...replicas, ...others].sort();
    expect(rest.flat()).toEqual(all.slice(5));
    replicas.splice(replicas.indexOf(gone), 1);
  });

  it('refuses MaxResults below 5, MaxResults with VolumeIds, and a token it did not write', async () => {
    await expect(ec2.send(new DescribeVolumesCommand({ MaxResults: 4 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      message: 'Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5.',
    });
    await expect(
      ec2.send(new DescribeVolumesCommand({ VolumeIds: [replicas[0]!], MaxResults: 5 })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterCombination',
      message: 'The parameter volumeSet cannot be used with the parameter maxResults',
    });
    await expect(
      ec2.send(new DescribeVolumesCommand({ MaxResults: 5, NextToken: 'not-a-token' })),
    ).rejects.toMatchObject({ name: 'InvalidNextToken', message: "The token 'not-a-token' is invalid" });
  });
});
