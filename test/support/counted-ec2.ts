import { EC2Client, type EC2ClientConfig } from '@aws-sdk/client-ec2';

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
