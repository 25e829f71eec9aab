/** EC2 DescribeSnapshots for one snapshot: the SnapshotStateReader port. */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import type { SnapshotState, SnapshotStateReader } from '../core/backup/snapshot-ports.ts';
import { NotFoundError } from '../core/errors.ts';
import { callSdk } from './sdk-errors.ts';

export class Ec2SnapshotState implements SnapshotStateReader {
  constructor(private readonly ec2: EC2Client) {}

  describeSnapshot(
    snapshotId: string,
  ): Promise<{ state: SnapshotState; progress?: string; stateMessage?: string }> {
    return callSdk('DescribeSnapshots', { snapshotId }, async () => {
      const out = await this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
      const snapshot = out.Snapshots?.[0];
      if (snapshot === undefined)
        throw new NotFoundError(`snapshot ${snapshotId} does not exist`, { context: { snapshotId } });
      return {
        state: snapshot.State ?? 'pending',
        ...(snapshot.Progress === undefined ? {} : { progress: snapshot.Progress }),
        ...(snapshot.StateMessage === undefined ? {} : { stateMessage: snapshot.StateMessage }),
      };
    });
  }
}
