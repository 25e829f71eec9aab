/**
 * Volumes made from restored snapshots (`rbp restore server --availability-zone`): the EC2 port,
 * the checks a request passes before any job starts, and the Create Volume step of the
 * volume-restore state machine.
 *
 * When: CreateVolume is called only after Check Snapshot saw the restored snapshot `completed`. A
 * snapshot written through the EBS direct APIs is sealed by CompleteSnapshot, which "changes the
 * status to completed" (https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html);
 * volumes are created from snapshots (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-volume.html),
 * and a pending one may still be refused, so the step waits rather than depend on it.
 *
 * Once: a retried or redriven step never makes a second volume. It first looks the volume up by
 * its tags (rbp:restore-id = the server restore, rbp:device), then calls CreateVolume with a
 * ClientToken derived from the same two (EC2's idempotency,
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html); the lookup also
 * covers endpoints that ignore ClientToken (moto).
 *
 * Done: the restore succeeds when the volume is `available` (it can be attached; data loads lazily
 * from the snapshot as it is read, or at the request's `volumeInitializationRate`). `creating` is waited for; `error` (or a CreateVolume EC2
 * refuses) fails the restore with EC2's reason, and the restored snapshot is kept.
 */
import { createHash } from 'node:crypto';
import { ConflictError, PermanentError, ValidationError, isRetryable } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from '../util/retry.ts';
import type {
  RestoredVolumeTarget,
  RestoredVolumeType,
  VolumeRestoreJob,
  VolumeRestoreJobStore,
} from './volume-restore-jobs.ts';
import { RESTORE_ID_TAG } from './volume-restore.ts';

/** Volume type when the request names none: gp3, EBS's general-purpose SSD default. */
export const RESTORED_VOLUME_DEFAULT_TYPE: RestoredVolumeType = 'gp3';
/**
 * Provisioned IOPS of an io1/io2 volume: 3,000, gp3's baseline, so a provisioned volume is never
 * slower than the default type; capped by the type's IOPS per GiB and raised to its minimum.
 */
export const RESTORED_VOLUME_PROVISIONED_IOPS = 3_000;
/** io1/io2 limits: IOPS per GiB at most and IOPS at least (https://docs.aws.amazon.com/ebs/latest/userguide/provisioned-iops.html). */
const PROVISIONED_IOPS_PER_GIB: Readonly<Record<'io1' | 'io2', number>> = { io1: 50, io2: 500 };
const PROVISIONED_IOPS_MIN = 100;
/**
 * Smallest volume of each type in GiB (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-volume-types.html):
 * a smaller source cannot be restored as that type, which POST /server-restores says before any job.
 */
export const RESTORED_VOLUME_MIN_GIB: Readonly<Record<RestoredVolumeType, number>> = {
  gp3: 1,
  gp2: 1,
  io1: 4,
  io2: 4,
  st1: 125,
  sc1: 125,
};
/**
 * EBS Provisioned Rate for Volume Initialization (CreateVolume `VolumeInitializationRate`, MiB/s):
 * a volume made from a snapshot is lazily loaded (its blocks come from S3 as they are first read)
 * unless it is initialised; with a rate EBS loads every block at that steady rate, so the first
 * reads of a restored server are not slow. EC2 accepts 100 to 300 MiB/s, only on volumes created
 * from a snapshot; it is priced on https://aws.amazon.com/ebs/pricing/
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html,
 * https://docs.aws.amazon.com/ebs/latest/userguide/initalize-volume.html).
 */
export const VOLUME_INITIALIZATION_RATE_MIN_MIBPS = 100;
export const VOLUME_INITIALIZATION_RATE_MAX_MIBPS = 300;

/** Longest wait for a created volume to leave `creating`: EBS makes one from a snapshot in seconds to minutes. */
export const RESTORED_VOLUME_CREATE_TIMEOUT_MS = 30 * 60_000;

/** Tag of a restored volume: its device on the source server. */
export const DEVICE_TAG = 'rbp:device';

export type RestoredVolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';

export interface RestoredVolume {
  readonly volumeId: string;
  readonly state: RestoredVolumeState;
}

export interface CreateRestoredVolumeRequest {
  readonly snapshotId: string;
  readonly availabilityZone: string;
  readonly volumeType: RestoredVolumeType;
  readonly sizeGib: number;
  /** io1/io2 only. */
  readonly iops?: number;
  /** EBS Provisioned Rate for Volume Initialization in MiB/s; absent: EBS's default (lazy) loading. */
  readonly volumeInitializationRate?: number;
  /** Encrypt with this key (the restored snapshot's); absent: EBS's choice for the snapshot, still encrypted. */
  readonly kmsKeyArn?: string;
  readonly clientToken: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The EC2 side of restored volumes (lambdas/aws/ec2-restored-volumes.ts). */
export interface RestoredVolumes {
  /** The volume tagged with this server restore and device, if one was made (DescribeVolumes). */
  findRestoredVolume(serverRestoreId: string, device: string): Promise<RestoredVolume | undefined>;
  /** CreateVolume, encrypted, with the tags applied at creation. */
  createVolume(request: CreateRestoredVolumeRequest): Promise<RestoredVolume>;
}

/** The Availability Zones of the region (DescribeAvailabilityZones): names EC2 knows. */
export interface AvailabilityZones {
  zoneNames(): Promise<readonly string[]>;
}

/** ClientToken of CreateVolume: one per server restore and device (EC2 allows 64 ASCII characters). */
export function restoredVolumeClientToken(serverRestoreId: string, device: string): string {
  return createHash('sha256').update(`rbp-restored-volume:${serverRestoreId}:${device}`).digest('hex');
}

/** The tags of a restored volume: what it restores and, as Name, a line an operator recognises. */
export function restoredVolumeTags(
  target: RestoredVolumeTarget,
  sourceVolumeId: string,
): Readonly<Record<string, string>> {
  return {
    [RESTORE_ID_TAG]: target.serverRestoreId,
    'rbp:source-server': target.serverId,
    'rbp:source-volume': sourceVolumeId,
    [DEVICE_TAG]: target.device,
    Name: `${target.serverId} ${target.device} (rbp restore ${target.serverRestoreId})`,
  };
}

/** IOPS to provision for the type and size (io1/io2), else undefined. */
export function provisionedIops(volumeType: RestoredVolumeType, sizeGib: number): number | undefined {
  if (volumeType !== 'io1' && volumeType !== 'io2') return undefined;
  const cap = PROVISIONED_IOPS_PER_GIB[volumeType] * sizeGib;
  return Math.max(PROVISIONED_IOPS_MIN, Math.min(RESTORED_VOLUME_PROVISIONED_IOPS, cap));
}

/**
 * The checks of a volume request before any job starts: the zone is one EC2 knows here, and every
 * volume is at least the type's smallest size. ValidationError (HTTP 400) otherwise.
 */
export async function checkRestoredVolumeRequest(
  zones: AvailabilityZones,
  request: {
    readonly availabilityZone: string;
    readonly volumeType: RestoredVolumeType;
    readonly volumes: readonly { readonly device: string; readonly sizeGib: number }[];
  },
): Promise<void> {
  const known = await zones.zoneNames();
  if (!known.includes(request.availabilityZone)) {
    throw new ValidationError(
      `availabilityZone ${request.availabilityZone} is not an Availability Zone of this region (EC2 knows ${[...known].sort().join(', ')})`,
      { context: { availabilityZone: request.availabilityZone } },
    );
  }
  const min = RESTORED_VOLUME_MIN_GIB[request.volumeType];
  const small = request.volumes.find((v) => v.sizeGib < min);
  if (small !== undefined) {
    throw new ValidationError(
      `volumeType ${request.volumeType} needs at least ${min} GiB: ${small.device} is ${small.sizeGib} GiB`,
      { context: { volumeType: request.volumeType, device: small.device } },
    );
  }
}

export interface CreateVolumeStepDeps {
  readonly jobs: VolumeRestoreJobStore;
  readonly clock: Clock;
  /** Absent in a deployment without restored volumes: a job that asks for one fails. */
  readonly volumes?: RestoredVolumes;
  readonly retry?: RetryPolicy;
}

/**
 * Create Volume: finds or creates the job's volume from its completed snapshot and answers its
 * state for the Choice (`available` finishes the restore, `creating` waits and comes back here).
 */
export async function createRestoredVolumeStep(
  deps: CreateVolumeStepDeps,
  restoreId: string,
): Promise<RestoredVolume> {
  const job = await deps.jobs.get(restoreId);
  if (job.status !== 'running') {
    throw new ConflictError(`volume restore ${restoreId} is ${job.status}, not running`, {
      context: { restoreId, status: job.status },
    });
  }
  const target = job.volume;
  const snapshotId = job.snapshotId;
  if (target === undefined || snapshotId === undefined || deps.volumes === undefined) {
    throw new PermanentError(
      `volume restore ${restoreId} cannot make a volume: ${target === undefined ? 'the job asks for none' : snapshotId === undefined ? 'it has no snapshot' : 'this deployment has no restored-volume adapter'}`,
      { context: { restoreId } },
    );
  }
  const volumes = deps.volumes;
  const retry = deps.retry ?? DEFAULT_RETRY_POLICY;
  const kept = `the restored snapshot ${snapshotId} is kept`;
  const where = `${target.device} from snapshot ${snapshotId} in ${target.availabilityZone}`;
  let volume = await withRetry(retry, () =>
    volumes.findRestoredVolume(target.serverRestoreId, target.device),
  );
  if (volume === undefined) {
    const volumeType = target.volumeType ?? RESTORED_VOLUME_DEFAULT_TYPE;
    const iops = provisionedIops(volumeType, target.sizeGib);
    try {
      volume = await withRetry(retry, () =>
        volumes.createVolume({
          snapshotId,
          availabilityZone: target.availabilityZone,
          volumeType,
          sizeGib: target.sizeGib,
          ...(iops === undefined ? {} : { iops }),
          ...(target.volumeInitializationRate === undefined
            ? {}
            : { volumeInitializationRate: target.volumeInitializationRate }),
          ...(job.kmsKeyArn === undefined ? {} : { kmsKeyArn: job.kmsKeyArn }),
          clientToken: restoredVolumeClientToken(target.serverRestoreId, target.device),
          tags: restoredVolumeTags(target, job.volumeId),
        }),
      );
    } catch (error) {
      if (isRetryable(error)) throw error;
      throw new PermanentError(
        `CreateVolume of ${where} failed: ${error instanceof Error ? error.message : String(error)}; ${kept}`,
        { cause: error, context: { restoreId, snapshotId } },
      );
    }
  }
  const now = deps.clock.now();
  const recorded: VolumeRestoreJob = {
    ...job,
    restoredVolumeId: volume.volumeId,
    volumeRequestedAt: job.volumeRequestedAt ?? now.toISOString(),
    updatedAt: now.toISOString(),
  };
  if (job.restoredVolumeId !== volume.volumeId) await deps.jobs.update(recorded, ['running']);
  if (volume.state === 'error' || volume.state === 'deleting' || volume.state === 'deleted') {
    throw new PermanentError(`volume ${volume.volumeId} (${where}) is ${volume.state}; ${kept}`, {
      context: { restoreId, volumeId: volume.volumeId, snapshotId },
    });
  }
  if (
    volume.state === 'creating' &&
    now.getTime() - Date.parse(recorded.volumeRequestedAt!) > RESTORED_VOLUME_CREATE_TIMEOUT_MS
  ) {
    throw new PermanentError(
      `volume ${volume.volumeId} (${where}) is still creating after ${RESTORED_VOLUME_CREATE_TIMEOUT_MS / 60_000} minutes; ${kept}`,
      { context: { restoreId, volumeId: volume.volumeId, snapshotId } },
    );
  }
  return { volumeId: volume.volumeId, state: volume.state };
}
