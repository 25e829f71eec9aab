/** EC2 DescribeSnapshots for one snapshot: the SnapshotStateReader port. */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { DescribeSnapshotsCommand } from '@aws-sdk/client-ec2';
import type { SnapshotState, SnapshotStateReader } from '../core/backup/snapshot-ports.ts';
import { NotFoundError } from '../core/errors.ts';
import { sdkErrorName, translateSdkError } from './sdk-errors.ts';

/**
 * EC2 answers a DescribeSnapshots of an unknown id with this code
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
 */
const SNAPSHOT_NOT_FOUND = 'InvalidSnapshot.NotFound';

export class Ec2SnapshotState implements SnapshotStateReader {
  constructor(private readonly ec2: EC2Client) {}

  async describeSnapshot(
    snapshotId: string,
  ): Promise<{ state: SnapshotState; progress?: string; stateMessage?: string }> {
    const notFound = (cause?: unknown) =>
      new NotFoundError(`snapshot ${snapshotId} does not exist`, {
        context: { snapshotId },
        ...(cause === undefined ? {} : { cause }),
      });
    let snapshot;
    try {
      const out = await this.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
      snapshot = out.Snapshots?.[0];
    } catch (error) {
      if (sdkErrorName(error) === SNAPSHOT_NOT_FOUND) throw notFound(error);
      throw translateSdkError(error, 'DescribeSnapshots', { snapshotId });
    }
    if (snapshot === undefined) throw notFound();
    return {
      state: snapshot.State ?? 'pending',
      ...(snapshot.Progress === undefined ? {} : { progress: snapshot.Progress }),
      ...(snapshot.StateMessage === undefined ? {} : { stateMessage: snapshot.StateMessage }),
    };
  }
}
