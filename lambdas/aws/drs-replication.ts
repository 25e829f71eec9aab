/** AWS Elastic Disaster Recovery adapter: the replication view of one source server. */
import { DescribeSourceServersCommand, type DrsClient } from '@aws-sdk/client-drs';
import type { DrsSourceServerView } from '../core/orchestration/replica-probe.ts';
import { translateSdkError } from './sdk-errors.ts';

export class DrsReplication {
  constructor(private readonly drs: DrsClient) {}

  async sourceServer(sourceServerId: string): Promise<DrsSourceServerView | undefined> {
    let answer;
    try {
      answer = await this.drs.send(
        new DescribeSourceServersCommand({ filters: { sourceServerIDs: [sourceServerId] } }),
      );
    } catch (error) {
      throw translateSdkError(error, 'DescribeSourceServers', { sourceServerId });
    }
    const server = answer.items?.find((s) => s.sourceServerID === sourceServerId);
    if (server === undefined) return undefined;
    const info = server.dataReplicationInfo;
    return {
      sourceServerId,
      ...(info?.dataReplicationState === undefined
        ? {}
        : { dataReplicationState: info.dataReplicationState }),
      ...(info?.lagDuration === undefined ? {} : { lagDuration: info.lagDuration }),
      replicatedDisks: (info?.replicatedDisks ?? []).map((d) => ({
        ...(d.deviceName === undefined ? {} : { deviceName: d.deviceName }),
        ...(d.backloggedStorageBytes === undefined
          ? {}
          : { backloggedStorageBytes: d.backloggedStorageBytes }),
      })),
      ...(server.lifeCycle?.lastSeenByServiceDateTime === undefined
        ? {}
        : { lastSeenByServiceDateTime: server.lifeCycle.lastSeenByServiceDateTime }),
    };
  }
}
