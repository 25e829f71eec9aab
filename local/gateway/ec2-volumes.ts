/**
 * Volumes made from snapshots on the local stack. EC2 CreateVolume with a SnapshotId that the EBS
 * emulator holds (a replica's frozen snapshot, a restore, a workflow's clone or its masked child):
 * after moto creates the volume, the snapshot's blocks are written into a sparse image file for it
 * and the volume is recorded in the replica registry (role `volume`). From then on:
 *
 * - EC2 CreateSnapshot of the volume freezes that image (as for a replica), so the volume's data
 *   can be read back through the EBS direct APIs;
 * - it can be registered as a replica (`POST /_local/volumes/{id}/replica`) and backed up again;
 * - EC2 DeleteVolume forgets it and removes its image.
 *
 * A snapshot that is not yet `completed` is refused as EC2 refuses it (IncorrectState).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EbsEmulator } from '../ebs/ebs-emulator.ts';
import type { ReplicaVolumes } from '../replica/replica-volumes.ts';
import { ec2Error, type BufferedAnswer } from './ec2-snapshots.ts';

export interface Ec2VolumeBridgeDependencies {
  readonly emulator: EbsEmulator;
  readonly replicas: ReplicaVolumes;
  /** Where the images of volumes made from snapshots are written. */
  readonly imageDir: string;
}

const VOLUME_ID_PATTERN = /<volumeId>(vol-[0-9a-f]+)<\/volumeId>/;
const SIZE_PATTERN = /<size>(\d+)<\/size>/;

export class Ec2VolumeBridge {
  constructor(private readonly deps: Ec2VolumeBridgeDependencies) {}

  /** The image file of a volume made from a snapshot. */
  imagePathOf(volumeId: string): string {
    return join(this.deps.imageDir, `${volumeId}.img`);
  }

  /**
   * Runs moto's CreateVolume (`forward`); when it names a snapshot the emulator holds, writes the
   * snapshot's blocks to the new volume's image and records the volume. A failure to write them
   * deletes nothing in moto but answers 500, so the caller sees the volume is unusable.
   */
  async createVolume(
    params: URLSearchParams,
    forward: () => Promise<BufferedAnswer>,
  ): Promise<BufferedAnswer> {
    const snapshotId = params.get('SnapshotId');
    const status = snapshotId === null ? undefined : this.deps.emulator.snapshotStatus(snapshotId);
    if (snapshotId === null || status === undefined) return forward();
    if (status !== 'completed') {
      // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html (IncorrectState)
      return ec2Error(
        400,
        'IncorrectState',
        `Snapshot '${snapshotId}' is not 'completed' (it is '${status}').`,
      );
    }
    const answer = await forward();
    if (answer.status !== 200) return answer;
    const xml = answer.body.toString('utf8');
    const volumeId = VOLUME_ID_PATTERN.exec(xml)?.[1];
    const volumeSizeGib = Number(SIZE_PATTERN.exec(xml)?.[1] ?? Number.NaN);
    if (volumeId === undefined || !Number.isSafeInteger(volumeSizeGib)) return answer;
    const imagePath = this.imagePathOf(volumeId);
    try {
      await mkdir(this.deps.imageDir, { recursive: true });
      await this.deps.emulator.writeSnapshotImage({ snapshotId, volumeId, imagePath, volumeSizeGib });
      await this.deps.replicas.addVolumeFromSnapshot({
        volumeId,
        snapshotId,
        imagePath,
        volumeSizeGib,
        tags: tagsOf(params),
      });
    } catch (error) {
      await rm(imagePath, { force: true });
      return ec2Error(
        500,
        'InternalError',
        `the local gateway could not write ${snapshotId} to ${volumeId}: ${String(error)}`,
      );
    }
    return answer;
  }

  /** After moto deleted a volume: forget a volume made from a snapshot and remove its image. */
  async afterDeleteVolume(volumeId: string): Promise<void> {
    const record = this.deps.replicas.get(volumeId);
    if (record?.role !== 'volume') return;
    await this.deps.replicas.forget(volumeId);
    await rm(record.imagePath, { force: true });
  }
}

/** The volume tags of CreateVolume's TagSpecification.N (ResourceType volume). */
function tagsOf(params: URLSearchParams): Record<string, string> {
  const tags: Record<string, string> = {};
  for (let spec = 1; params.has(`TagSpecification.${spec}.ResourceType`); spec += 1) {
    if (params.get(`TagSpecification.${spec}.ResourceType`) !== 'volume') continue;
    for (let tag = 1; params.has(`TagSpecification.${spec}.Tag.${tag}.Key`); tag += 1) {
      tags[params.get(`TagSpecification.${spec}.Tag.${tag}.Key`) ?? ''] =
        params.get(`TagSpecification.${spec}.Tag.${tag}.Value`) ?? '';
    }
  }
  return tags;
}
