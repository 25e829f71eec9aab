/**
 * The servers plans select (core/plans/servers.ts): every EC2 volume tagged `rbp:replica=true`
 * with all its tags, grouped by `rbp:source-server` (docs/replica-tags.md). DescribeVolumes
 * returns each volume's tags (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 */
import { DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { REPLICA_TAG } from '../core/orchestration/replica-probe.ts';
import type { ServerDirectory } from '../core/plans/plan-ports.ts';
import { serversFromVolumes, type ServerView, type ServerVolume } from '../core/plans/servers.ts';
import { callSdk } from './sdk-errors.ts';

/** DescribeVolumes page size: the API's maximum. */
const DESCRIBE_VOLUMES_PAGE = 500;

export class Ec2ServerDirectory implements ServerDirectory {
  constructor(private readonly ec2: EC2Client) {}

  async list(): Promise<readonly ServerView[]> {
    const volumes: ServerVolume[] = [];
    let nextToken: string | undefined;
    do {
      const token = nextToken;
      const page = await callSdk('DescribeVolumes (servers)', {}, () =>
        this.ec2.send(
          new DescribeVolumesCommand({
            Filters: [{ Name: `tag:${REPLICA_TAG}`, Values: ['true'] }],
            MaxResults: DESCRIBE_VOLUMES_PAGE,
            ...(token === undefined ? {} : { NextToken: token }),
          }),
        ),
      );
      for (const volume of page.Volumes ?? []) {
        if (!volume.VolumeId) continue;
        const tags: Record<string, string> = {};
        for (const tag of volume.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
        volumes.push({ volumeId: volume.VolumeId, tags });
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    return serversFromVolumes(volumes);
  }

  async get(name: string): Promise<ServerView | undefined> {
    return (await this.list()).find((server) => server.name === name);
  }
}
