/**
 * The servers plans select (core/plans/servers.ts): every EC2 volume tagged `rbp:replica=true`
 * with all its tags, grouped by `rbp:source-server` (docs/replica-tags.md). DescribeVolumes
 * returns each volume's tags (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html).
 *
 * The list is built whole: DescribeVolumes pages in EC2's own order (not by tag), so one server's
 * volumes can be on any page, and a server's view (replication state, lag, applications) needs
 * all of them. It costs one request per 500 replica volumes. One server is read with a filter on
 * its tag, so `get` reads only that server's volumes (docs/scale.md, "/servers").
 */
import type { EC2Client, Filter } from '@aws-sdk/client-ec2';
import type { ServerDirectory } from '../core/plans/plan-ports.ts';
import { serversFromVolumes, type ServerView, type ServerVolume } from '../core/plans/servers.ts';
import { SOURCE_SERVER_TAG, describeReplicaVolumes } from './ec2-replica-volumes.ts';

export class Ec2ServerDirectory implements ServerDirectory {
  constructor(private readonly ec2: EC2Client) {}

  private async volumes(filters: readonly Filter[]): Promise<ServerVolume[]> {
    const volumes: ServerVolume[] = [];
    for (const volume of await describeReplicaVolumes(this.ec2, 'DescribeVolumes (servers)', filters)) {
      if (!volume.VolumeId) continue;
      const tags: Record<string, string> = {};
      for (const tag of volume.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
      volumes.push({ volumeId: volume.VolumeId, tags });
    }
    return volumes;
  }

  async list(): Promise<readonly ServerView[]> {
    return serversFromVolumes(await this.volumes([]));
  }

  async get(name: string): Promise<ServerView | undefined> {
    const volumes = await this.volumes([{ Name: `tag:${SOURCE_SERVER_TAG}`, Values: [name] }]);
    if (volumes.length > 0) return serversFromVolumes(volumes).find((server) => server.name === name);
    // A replica volume without the tag is a server of its own, named by its volume id.
    return (await this.list()).find((server) => server.name === name);
  }
}
