/**
 * A backup that was running when `rbp local serve` stopped comes back ABORTED (moto_patch.py: its
 * interpreter thread did not survive), but the lock it held on its volumes is still in the table,
 * and a new backup of those volumes would be refused until the lock expires (two days); the
 * snapshots it took stay too. After a restart, the locks of such executions are deleted, each only
 * if that backup still holds it, and their snapshots that no image uses are deleted.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DescribeExecutionCommand, ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DynamoDbBackupLockStore } from '../lambdas/aws/dynamodb-backup-lock.ts';
import { systemClock } from '../lambdas/core/ports.ts';
import { Ec2ReplicaSnapshots } from '../lambdas/aws/ec2-replica-snapshots.ts';
import { deleteSnapshotsOfRun } from '../lambdas/core/api/backup-cancel.ts';

/** The cause moto_patch.py gives an execution that a stop interrupted (it must stay the same). */
export const INTERRUPTED_CAUSE = 'the local stack stopped while this execution ran';

interface ClientConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

function volumeIdsOf(input: string | undefined): string[] {
  try {
    const parsed = JSON.parse(input ?? '{}') as { volumeIds?: unknown };
    return Array.isArray(parsed.volumeIds)
      ? parsed.volumeIds.filter((v): v is string => typeof v === 'string')
      : [];
  } catch {
    return [];
  }
}

/**
 * Deletes the locks held by interrupted backups and their snapshots; returns the `backupId
 * volumeId` pairs released and the `backupId snapshotId` pairs deleted.
 */
export async function releaseInterruptedBackups(
  config: ClientConfig,
  stateMachineArn: string,
  tableName: string,
): Promise<{ readonly released: string[]; readonly snapshotsDeleted: string[] }> {
  const sfn = new SFNClient(config);
  const ddb = new DynamoDBClient(config);
  const ec2 = new EC2Client(config);
  const snapshots = new Ec2ReplicaSnapshots(ec2);
  const locks = new DynamoDbBackupLockStore(DynamoDBDocumentClient.from(ddb), tableName, systemClock);
  const released: string[] = [];
  const snapshotsDeleted: string[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await sfn.send(
        new ListExecutionsCommand({
          stateMachineArn,
          statusFilter: 'ABORTED',
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
      );
      for (const execution of page.executions ?? []) {
        const detail = await sfn.send(new DescribeExecutionCommand({ executionArn: execution.executionArn }));
        if (detail.cause !== INTERRUPTED_CAUSE || detail.name === undefined) continue;
        for (const snapshotId of await deleteSnapshotsOfRun(snapshots, detail.name))
          snapshotsDeleted.push(`${detail.name} ${snapshotId}`);
        for (const volumeId of volumeIdsOf(detail.input)) {
          // Only a lock this execution still holds goes (absent, or taken by another backup since: kept).
          const { released: count } = await locks.release([volumeId], execution.executionArn!);
          if (count === 1) released.push(`${detail.name} ${volumeId}`);
        }
      }
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
  } finally {
    sfn.destroy();
    ddb.destroy();
    ec2.destroy();
  }
  return { released, snapshotsDeleted };
}
