/**
 * EC2 adapter of what workflows created (core/workflows/workflow-service.ts, delete with
 * `remove`): the snapshots and volumes tagged rbp:workflow=<name>, found with tag filters
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeSnapshots.html: `tag:<key>`,
 * OwnerIds `self`), detached and deleted. DetachVolume returns while the volume is `detaching`;
 * DeleteVolume needs it `available`, so a detach waits for that
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html).
 */
import {
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  waitUntilVolumeAvailable,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { RetryableError } from '../core/errors.ts';
import {
  CREATED_BY_WORKFLOW_TAG,
  type CreatedResources,
  type CreatedVolume,
  type WorkflowCreated,
} from '../core/workflows/workflow-service.ts';
import { callSdk, sdkErrorName, translateSdkError } from './sdk-errors.ts';

/**
 * How long a detach may take before the delete gives up (retryable: a repeated delete goes on).
 * The API function has 29 s in all; a detach of an idle volume takes a few seconds.
 */
export const DETACH_WAIT_SECONDS = 20;
/** EC2's error code for a volume id that does not exist (any more). */
const VOLUME_NOT_FOUND = 'InvalidVolume.NotFound';
/** Attachment states that still hold the volume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VolumeAttachment.html). */
const HOLDING_STATES = new Set(['attaching', 'attached', 'busy']);

export class Ec2WorkflowResources implements CreatedResources {
  constructor(private readonly ec2: EC2Client) {}

  find(workflow: string): Promise<WorkflowCreated> {
    return this.findTagged(CREATED_BY_WORKFLOW_TAG, workflow);
  }

  /** Snapshots (owned by this account) and volumes carrying the tag `key=value`, ordered by id. */
  async findTagged(key: string, value: string): Promise<WorkflowCreated> {
    const workflow = `${key}=${value}`;
    const filters = [{ Name: `tag:${key}`, Values: [value] }];
    const snapshotIds: string[] = [];
    let token: string | undefined;
    do {
      const page = await callSdk('DescribeSnapshots', { workflow }, () =>
        this.ec2.send(
          new DescribeSnapshotsCommand({
            OwnerIds: ['self'],
            Filters: filters,
            ...(token === undefined ? {} : { NextToken: token }),
          }),
        ),
      );
      for (const snapshot of page.Snapshots ?? [])
        if (snapshot.SnapshotId) snapshotIds.push(snapshot.SnapshotId);
      token = page.NextToken;
    } while (token !== undefined);
    const volumes: CreatedVolume[] = [];
    token = undefined;
    do {
      const page = await callSdk('DescribeVolumes', { workflow }, () =>
        this.ec2.send(
          new DescribeVolumesCommand({
            Filters: filters,
            ...(token === undefined ? {} : { NextToken: token }),
          }),
        ),
      );
      for (const volume of page.Volumes ?? []) {
        if (!volume.VolumeId || volume.State === 'deleting' || volume.State === 'deleted') continue;
        volumes.push({
          volumeId: volume.VolumeId,
          attachments: (volume.Attachments ?? [])
            .filter((a) => a.InstanceId !== undefined && HOLDING_STATES.has(a.State ?? ''))
            .map((a) => ({ instanceId: a.InstanceId!, device: a.Device ?? '' })),
        });
      }
      token = page.NextToken;
    } while (token !== undefined);
    return {
      snapshotIds: snapshotIds.sort(),
      volumes: volumes.sort((a, b) => (a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0)),
    };
  }

  /**
   * Detaches the volume and waits until it is `available`. A volume that no longer exists
   * (InvalidVolume.NotFound, from DetachVolume or while waiting) is detached: nothing holds it.
   */
  async detach(volumeId: string, instanceId: string): Promise<void> {
    try {
      await this.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId }));
    } catch (error) {
      const name = sdkErrorName(error);
      if (name === VOLUME_NOT_FOUND) return;
      // Detached meanwhile: nothing holds it any more, but it may still be `detaching`.
      if (name !== 'IncorrectState' && name !== 'InvalidAttachment.NotFound') {
        throw translateSdkError(error, 'DetachVolume', { volumeId, instanceId });
      }
    }
    try {
      await waitUntilVolumeAvailable(
        { client: this.ec2, maxWaitTime: DETACH_WAIT_SECONDS, minDelay: 1, maxDelay: 3 },
        { VolumeIds: [volumeId] },
      );
    } catch (error) {
      // The waiter retries on DescribeVolumes errors and fails on `deleted`: a volume deleted
      // meanwhile ends here too, and is as detached as one that became available.
      if (await this.isGone(volumeId)) return;
      throw new RetryableError(
        `volume ${volumeId} was not detached from ${instanceId} within ${DETACH_WAIT_SECONDS} s`,
        {
          context: { volumeId, instanceId },
          cause: error,
        },
      );
    }
  }

  /** True when the volume no longer exists or is being deleted. */
  private async isGone(volumeId: string): Promise<boolean> {
    try {
      const answer = await this.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
      const state = answer.Volumes?.[0]?.State;
      return state === undefined || state === 'deleting' || state === 'deleted';
    } catch (error) {
      if (sdkErrorName(error) === VOLUME_NOT_FOUND) return true;
      throw translateSdkError(error, 'DescribeVolumes', { volumeId });
    }
  }

  async deleteVolume(volumeId: string): Promise<void> {
    try {
      await this.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
    } catch (error) {
      if (sdkErrorName(error) === VOLUME_NOT_FOUND) return;
      throw translateSdkError(error, 'DeleteVolume', { volumeId });
    }
  }

  async deleteSnapshot(snapshotId: string): Promise<void> {
    try {
      await this.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    } catch (error) {
      if (sdkErrorName(error) === 'InvalidSnapshot.NotFound') return;
      throw translateSdkError(error, 'DeleteSnapshot', { snapshotId });
    }
  }
}
