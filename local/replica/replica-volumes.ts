/**
 * Replica volumes on the local stack: a raw disk image registered as an EC2 volume in moto, tagged
 * like a replica the replication agent maintains. The image path stays in the registry (state
 * dir). A snapshot of it holds the image's non-zero blocks plus the blocks the replica simulator
 * has written since (even with zeros), as an EBS volume's snapshot holds its written blocks.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DeleteVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DetachVolumeCommand,
  RunInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { PRIMARY_VOLUME_TAG } from '../../lambdas/core/plans/servers.ts';
import { PRIMARY_OPT_IN_TAG } from '../../lambdas/core/backup/primary-source.ts';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { GIB_BYTES, MAX_VOLUME_SIZE_GIB } from '../../lambdas/core/geometry.ts';
import type { ReplicaRecord, ReplicaRegistry } from './replica-registry.ts';
import { PRIMARY_OF_TAG, REPLICA_TAG } from './replica-tags.ts';
import { tagList } from '../../lambdas/aws/aws-tags.ts';

/** Replica volumes live in one zone of the local region, as a staging area's do. */
export const REPLICA_AVAILABILITY_ZONE = 'us-east-1a';
/** gp3: the staging-area volume type DRS uses for replicas by default. */
const REPLICA_VOLUME_TYPE = 'gp3';
/** Device name recorded when the caller names none (the root disk of a Linux server on EC2). */
export const DEFAULT_SOURCE_DEVICE = '/dev/xvda';

export interface CreateReplicaOptions {
  readonly imagePath: string;
  /** The source server id; default derived from the image path (`s-` + 17 hex digits, like DRS). */
  readonly serverId?: string;
  readonly device?: string;
}

export interface CreatePrimaryOptions {
  readonly imagePath: string;
  /** The server (`rbp:source-server` of its replica volumes) whose own disk this is. */
  readonly serverId: string;
  /** The source device; its replica volume is the one with this `rbp:source-device`. */
  readonly device?: string;
}

/** A small instance type for the source server's stand-in instance (its type plays no part). */
const PRIMARY_INSTANCE_TYPE = 't3.micro';

export interface ReplicaVolumesDependencies {
  readonly registry: ReplicaRegistry;
  /** An EC2 client talking to moto directly (not through the gateway, to keep statistics clean). */
  readonly ec2: EC2Client;
}

export class ReplicaVolumes {
  constructor(private readonly deps: ReplicaVolumesDependencies) {}

  get(volumeId: string): ReplicaRecord | undefined {
    return this.deps.registry.get(volumeId);
  }

  require(volumeId: string): ReplicaRecord {
    const record = this.get(volumeId);
    if (!record)
      throw new NotFoundError(`${volumeId} is not a registered replica volume`, { context: { volumeId } });
    return record;
  }

  /** The replica volumes (not the primaries). */
  list(): ReplicaRecord[] {
    return this.deps.registry.list().filter((record) => (record.role ?? 'replica') === 'replica');
  }

  /** The primary volumes (`rbp local primary create`). */
  primaries(): ReplicaRecord[] {
    return this.deps.registry.list().filter((record) => record.role === 'primary');
  }

  /** Registers an image as a new replica volume and returns its record (with the volume id). */
  async create(options: CreateReplicaOptions): Promise<ReplicaRecord> {
    const { imagePath, volumeSizeGib } = await imageGeometry(options.imagePath);
    const serverId = options.serverId ?? defaultServerId(imagePath);
    const device = options.device ?? DEFAULT_SOURCE_DEVICE;
    const tags: Record<string, string> = {
      [REPLICA_TAG.replica]: 'true',
      [REPLICA_TAG.sourceServer]: serverId,
      [REPLICA_TAG.sourceDevice]: device,
      [REPLICA_TAG.syncState]: 'IN_SYNC',
      [REPLICA_TAG.backlogBytes]: '0',
    };
    const volumeId = await this.createVolume(volumeSizeGib, tags);
    const record: ReplicaRecord = {
      volumeId,
      imagePath,
      volumeSizeGib,
      serverId,
      device,
      createdAt: new Date().toISOString(),
      tags,
    };
    await this.deps.registry.put(record);
    return record;
  }

  /** A volume of the image's size in moto, tagged on creation; its id. */
  private async createVolume(volumeSizeGib: number, tags: Record<string, string>): Promise<string> {
    const created = await this.deps.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: REPLICA_AVAILABILITY_ZONE,
        Size: volumeSizeGib,
        VolumeType: REPLICA_VOLUME_TYPE,
        TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(tags) }],
      }),
    );
    const volumeId = created.VolumeId;
    if (!volumeId) throw new Error('moto answered CreateVolume without a VolumeId');
    return volumeId;
  }

  /**
   * Registers an image as the primary volume of a server: the source server's own EBS disk, for
   * backups from the primary. The volume is attached at `device` to the server's EC2 instance in
   * moto (made on first use, tagged `rbp:source-server` and `rbp:primary=true`, its own root volume removed so that
   * CreateSnapshots of the instance covers exactly the registered primaries), and the server's
   * replica volume of that device gets `rbp:primary-volume` = the new volume id.
   */
  async createPrimary(options: CreatePrimaryOptions): Promise<ReplicaRecord> {
    const device = options.device ?? DEFAULT_SOURCE_DEVICE;
    const replica = this.list().find((r) => r.serverId === options.serverId && r.device === device);
    if (replica === undefined) {
      throw new NotFoundError(
        `server ${options.serverId} has no replica volume of device ${device} (rbp local replica create --server ${options.serverId} --device ${device} first)`,
        { context: { serverId: options.serverId, device } },
      );
    }
    if (this.primaries().some((p) => p.serverId === options.serverId && p.device === device)) {
      throw new ValidationError(
        `server ${options.serverId} already has a primary volume of device ${device}`,
        {
          context: { serverId: options.serverId, device },
        },
      );
    }
    const { imagePath, volumeSizeGib } = await imageGeometry(options.imagePath);
    const instanceId = await this.serverInstance(options.serverId);
    const tags: Record<string, string> = {
      [PRIMARY_OF_TAG]: options.serverId,
      [REPLICA_TAG.sourceDevice]: device,
      // Marked as a primary the product may snapshot, as an operator marks one in AWS.
      [PRIMARY_OPT_IN_TAG]: 'true',
    };
    const volumeId = await this.createVolume(volumeSizeGib, tags);
    await this.deps.ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }),
    );
    const record: ReplicaRecord = {
      volumeId,
      imagePath,
      volumeSizeGib,
      serverId: options.serverId,
      device,
      createdAt: new Date().toISOString(),
      tags,
      role: 'primary',
      instanceId,
    };
    await this.deps.registry.put(record);
    await this.setTags(replica.volumeId, { [PRIMARY_VOLUME_TAG]: volumeId });
    return record;
  }

  /** The server's EC2 instance in moto, made on first use without a volume of its own. */
  private async serverInstance(serverId: string): Promise<string> {
    const known = this.primaries().find((p) => p.serverId === serverId && p.instanceId !== undefined);
    if (known?.instanceId !== undefined) return known.instanceId;
    const images = await this.deps.ec2.send(new DescribeImagesCommand({}));
    const imageId = images.Images?.find((image) => image.ImageId !== undefined)?.ImageId;
    if (imageId === undefined) throw new Error('moto lists no AMI to start the source server instance from');
    const started = await this.deps.ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        InstanceType: PRIMARY_INSTANCE_TYPE,
        MinCount: 1,
        MaxCount: 1,
        Placement: { AvailabilityZone: REPLICA_AVAILABILITY_ZONE },
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: REPLICA_TAG.sourceServer, Value: serverId },
              { Key: 'Name', Value: serverId },
              { Key: PRIMARY_OPT_IN_TAG, Value: 'true' },
            ],
          },
        ],
      }),
    );
    const instanceId = started.Instances?.[0]?.InstanceId;
    if (instanceId === undefined) throw new Error('moto answered RunInstances without an instance id');
    // moto gives every instance a root volume of its own; the stand-in keeps only registered primaries.
    const described = await this.deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    for (const mapping of described.Reservations?.[0]?.Instances?.[0]?.BlockDeviceMappings ?? []) {
      const rootVolumeId = mapping.Ebs?.VolumeId;
      if (rootVolumeId === undefined) continue;
      await this.deps.ec2.send(
        new DetachVolumeCommand({
          VolumeId: rootVolumeId,
          InstanceId: instanceId,
          Device: mapping.DeviceName,
        }),
      );
      await this.deps.ec2.send(new DeleteVolumeCommand({ VolumeId: rootVolumeId }));
    }
    return instanceId;
  }

  /** Volumes EC2 CreateVolume made from a snapshot (not registered as replicas). */
  volumesFromSnapshots(): ReplicaRecord[] {
    return this.deps.registry.list().filter((record) => record.role === 'volume');
  }

  /**
   * Records a volume moto made from a snapshot (the gateway has written the snapshot's blocks to
   * `imagePath`): its snapshots then freeze that image, as a replica's do.
   */
  async addVolumeFromSnapshot(options: {
    readonly volumeId: string;
    readonly snapshotId: string;
    readonly imagePath: string;
    readonly volumeSizeGib: number;
    readonly tags: Readonly<Record<string, string>>;
  }): Promise<ReplicaRecord> {
    const record: ReplicaRecord = {
      volumeId: options.volumeId,
      imagePath: options.imagePath,
      volumeSizeGib: options.volumeSizeGib,
      serverId: '',
      device: '',
      createdAt: new Date().toISOString(),
      tags: { ...options.tags },
      role: 'volume',
      snapshotId: options.snapshotId,
    };
    await this.deps.registry.put(record);
    return record;
  }

  /**
   * Registers a volume made from a snapshot as a replica of `serverId`'s `device` (the tags a
   * replication agent sets: rbp:replica, rbp:source-server, rbp:source-device, IN_SYNC, no backlog),
   * so that it is listed, simulated and backed up like any replica. The volume keeps its id and image.
   */
  async registerVolumeAsReplica(
    volumeId: string,
    options: { readonly serverId: string; readonly device?: string },
  ): Promise<ReplicaRecord> {
    const record = this.require(volumeId);
    if (record.role !== 'volume') {
      throw new ValidationError(`${volumeId} is already a registered ${record.role ?? 'replica'} volume`, {
        context: { volumeId },
      });
    }
    const device = options.device ?? DEFAULT_SOURCE_DEVICE;
    const tags: Record<string, string> = {
      [REPLICA_TAG.replica]: 'true',
      [REPLICA_TAG.sourceServer]: options.serverId,
      [REPLICA_TAG.sourceDevice]: device,
      [REPLICA_TAG.syncState]: 'IN_SYNC',
      [REPLICA_TAG.backlogBytes]: '0',
    };
    await this.deps.ec2.send(
      new CreateTagsCommand({
        Resources: [volumeId],
        Tags: tagList(tags),
      }),
    );
    const { role: _role, snapshotId: _snapshotId, ...rest } = record;
    const updated: ReplicaRecord = {
      ...rest,
      serverId: options.serverId,
      device,
      tags: { ...record.tags, ...tags },
    };
    await this.deps.registry.put(updated);
    return updated;
  }

  /** Removes tags from a replica volume (in moto and in the registry). */
  async removeTags(volumeId: string, keys: readonly string[]): Promise<ReplicaRecord> {
    const record = this.require(volumeId);
    await this.deps.ec2.send(
      new DeleteTagsCommand({ Resources: [volumeId], Tags: keys.map((Key) => ({ Key })) }),
    );
    const tags = Object.fromEntries(Object.entries(record.tags).filter(([key]) => !keys.includes(key)));
    const updated = { ...record, tags };
    await this.deps.registry.put(updated);
    return updated;
  }

  /** Sets tags on a replica volume (in moto, and in the registry for restarts). */
  async setTags(volumeId: string, tags: Readonly<Record<string, string>>): Promise<ReplicaRecord> {
    const record = this.require(volumeId);
    await this.deps.ec2.send(
      new CreateTagsCommand({
        Resources: [volumeId],
        Tags: tagList(tags),
      }),
    );
    const updated = { ...record, tags: { ...record.tags, ...tags } };
    await this.deps.registry.put(updated);
    return updated;
  }

  /** Runs `action` while no other write or snapshot freeze of this volume runs. */
  withVolumeLock<T>(volumeId: string, action: () => Promise<T>): Promise<T> {
    return this.deps.registry.withVolumeLock(volumeId, action);
  }

  async forget(volumeId: string): Promise<boolean> {
    return this.deps.registry.remove(volumeId);
  }
}

/** The absolute path of a raw image and the size in GiB of the volume that holds it. */
async function imageGeometry(path: string): Promise<{ imagePath: string; volumeSizeGib: number }> {
  const imagePath = resolve(path);
  let sizeBytes: number;
  try {
    const info = await stat(imagePath);
    if (!info.isFile())
      throw new ValidationError(`${imagePath} is not a regular file`, { context: { imagePath } });
    sizeBytes = info.size;
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    throw new ValidationError(`cannot read the image ${imagePath}`, {
      cause: error,
      context: { imagePath },
    });
  }
  const volumeSizeGib = Math.max(1, Math.ceil(sizeBytes / GIB_BYTES));
  if (volumeSizeGib > MAX_VOLUME_SIZE_GIB) {
    throw new ValidationError(
      `the image is larger than the largest EBS volume (${MAX_VOLUME_SIZE_GIB} GiB)`,
      {
        context: { imagePath, sizeBytes },
      },
    );
  }
  return { imagePath, volumeSizeGib };
}

/** `s-` + 17 hex digits derived from the image path: stable, and shaped like a DRS source server id. */
export function defaultServerId(imagePath: string): string {
  return `s-${createHash('sha256').update(resolve(imagePath)).digest('hex').slice(0, 17)}`;
}
