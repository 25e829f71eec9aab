/**
 * The servers plans select (core/plans/servers.ts): every EC2 volume tagged `rbp:replica=true`
 * with all its tags, grouped by `rbp:source-server` (docs/replica-tags.md). DescribeVolumes
 * returns each volume's tags (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ServerDirectory } from '../core/plans/plan-ports.ts';
import { serversFromVolumes, type ServerView, type ServerVolume } from '../core/plans/servers.ts';
import { describeReplicaVolumes } from './ec2-replica-volumes.ts';

export class Ec2ServerDirectory implements ServerDirectory {
  constructor(private readonly ec2: EC2Client) {}

  async list(): Promise<readonly ServerView[]> {
    const volumes: ServerVolume[] = [];
    for (const volume of await describeReplicaVolumes(this.ec2, 'DescribeVolumes (servers)')) {
      if (!volume.VolumeId) continue;
      const tags: Record<string, string> = {};
      for (const tag of volume.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
      volumes.push({ volumeId: volume.VolumeId, tags });
    }
    return serversFromVolumes(volumes);
  }

  async get(name: string): Promise<ServerView | undefined> {
    return (await this.list()).find((server) => server.name === name);
  }
}
