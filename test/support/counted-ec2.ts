import {
  CreateVolumeCommand,
  EC2Client,
  type CreateVolumeCommandOutput,
  type EC2ClientConfig,
} from '@aws-sdk/client-ec2';
import { afterAll } from 'vitest';

/** The parts of a DescribeVolumes request the paging tests look at. */
export interface SentDescribeVolumes {
  readonly Filters?: { Name?: string; Values?: string[] }[];
  readonly MaxResults?: number;
  readonly NextToken?: string;
}

/**
 * Two EC2 clients on one endpoint: `ec2` to set the scene, `counted` for the code under test, which
 * records every DescribeVolumes input it sends in `sent` (in order). The caller destroys both.
 */
export function countedEc2Clients(config: EC2ClientConfig): {
  readonly ec2: EC2Client;
  readonly counted: EC2Client;
  readonly sent: SentDescribeVolumes[];
} {
  const sent: SentDescribeVolumes[] = [];
  const ec2 = new EC2Client(config);
  const counted = new EC2Client(config);
  counted.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'DescribeVolumesCommand') sent.push(args.input as SentDescribeVolumes);
      return next(args);
    },
    { step: 'initialize' },
  );
  return { ec2, counted, sent };
}

/**
 * For a describe block on the local stack: a function that makes `countedEc2Clients` on it (call it
 * inside a test, once the stack is up); every pair it made is destroyed after the block's tests.
 */
export function countedEc2OnLocalStack(local: {
  clientConfig(): EC2ClientConfig;
}): () => ReturnType<typeof countedEc2Clients> {
  const clients: EC2Client[] = [];
  afterAll(() => {
    for (const client of clients) client.destroy();
  });
  return () => {
    const made = countedEc2Clients(local.clientConfig());
    clients.push(made.ec2, made.counted);
    return made;
  };
}

/** Creates a 1 GiB replica volume (tag rbp:replica=true) of server `server` (tag rbp:source-server) when given. */
export function createReplicaVolume(ec2: EC2Client, server?: string): Promise<CreateVolumeCommandOutput> {
  return ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: 'us-east-1a',
      Size: 1,
      TagSpecifications: [
        {
          ResourceType: 'volume',
          Tags: [
            { Key: 'rbp:replica', Value: 'true' },
            ...(server === undefined ? [] : [{ Key: 'rbp:source-server', Value: server }]),
          ],
        },
      ],
    }),
  );
}
