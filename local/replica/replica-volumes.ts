/**
 * Replica volumes on the local stack: a raw disk image registered as an EC2 volume in moto, tagged
 * like a replica the replication agent maintains. The image path stays in the registry (state
 * dir). A snapshot of it holds the image's non-zero blocks plus the blocks the replica simulator
 * has written since (even with zeros), as an EBS volume's snapshot holds its written blocks.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CreateTagsCommand, CreateVolumeCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import { GIB_BYTES, MAX_VOLUME_SIZE_GIB } from '../../lambdas/core/geometry.ts';
import type { ReplicaRecord, ReplicaRegistry } from './replica-registry.ts';
import { REPLICA_TAG } from './replica-tags.ts';

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

  list(): ReplicaRecord[] {
    return this.deps.registry.list();
  }

  /** Registers an image as a new replica volume and returns its record (with the volume id). */
  async create(options: CreateReplicaOptions): Promise<ReplicaRecord> {
    const imagePath = resolve(options.imagePath);
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
    const serverId = options.serverId ?? defaultServerId(imagePath);
    const device = options.device ?? DEFAULT_SOURCE_DEVICE;
    const tags: Record<string, string> = {
      [REPLICA_TAG.replica]: 'true',
      [REPLICA_TAG.sourceServer]: serverId,
      [REPLICA_TAG.sourceDevice]: device,
      [REPLICA_TAG.syncState]: 'IN_SYNC',
      [REPLICA_TAG.backlogBytes]: '0',
    };
    const created = await this.deps.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: REPLICA_AVAILABILITY_ZONE,
        Size: volumeSizeGib,
        VolumeType: REPLICA_VOLUME_TYPE,
        TagSpecifications: [
          { ResourceType: 'volume', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    const volumeId = created.VolumeId;
    if (!volumeId) throw new Error('moto answered CreateVolume without a VolumeId');
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

  /** Sets tags on a replica volume (in moto, and in the registry for restarts). */
  async setTags(volumeId: string, tags: Readonly<Record<string, string>>): Promise<ReplicaRecord> {
    const record = this.require(volumeId);
    await this.deps.ec2.send(
      new CreateTagsCommand({
        Resources: [volumeId],
        Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
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

/** `s-` + 17 hex digits derived from the image path: stable, and shaped like a DRS source server id. */
export function defaultServerId(imagePath: string): string {
  return `s-${createHash('sha256').update(resolve(imagePath)).digest('hex').slice(0, 17)}`;
}
