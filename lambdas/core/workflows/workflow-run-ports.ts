/**
 * What a workflow run works over (docs/workflows.md, "Runs"): the run store, the volume restores
 * that write the clones, EC2 snapshots, volumes and attachments, the masking hook and the
 * executions of the run state machine. Adapters live in lambdas/aws/workflow-run-adapters.ts.
 */
import type { Clock } from '../ports.ts';
import type { ImageDirectory } from '../api/api-ports.ts';
import type { ServerDirectory } from '../plans/plan-ports.ts';
import type { VolumeRestoreJobStore, VolumeRestoreLauncher } from '../restore/volume-restore-jobs.ts';
import type { InstanceDirectory, WorkflowStore } from './workflow-service.ts';
import type { WorkflowRunStore } from './workflow-run.ts';
import type { MaskingHookInvoker } from './masking.ts';
import type { RecoveryPointStore } from '../recovery-points/recovery-points.ts';

export type CloneSnapshotState = 'pending' | 'completed' | 'error' | 'absent';
export type CloneVolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';

export interface CloneVolume {
  readonly volumeId: string;
  readonly state: CloneVolumeState;
  readonly availabilityZone: string;
  /** Current attachments (EC2 states attaching, attached, detaching). */
  readonly attachments: readonly {
    readonly instanceId: string;
    readonly device: string;
    readonly state: 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';
  }[];
}

/** The EC2 side of a run: snapshots, volumes and attachments. Absent resources are no error where noted. */
export interface CloneResources {
  snapshotState(snapshotId: string): Promise<CloneSnapshotState>;
  /** CreateTags on snapshots and volumes. */
  tag(resourceIds: readonly string[], tags: Readonly<Record<string, string>>): Promise<void>;
  /** DeleteSnapshot; an absent snapshot is success. */
  deleteSnapshot(snapshotId: string): Promise<void>;
  /** CreateVolume from a snapshot, tagged at creation; the same clientToken returns the same volume. */
  createVolume(request: {
    readonly snapshotId: string;
    readonly availabilityZone: string;
    readonly tags: Readonly<Record<string, string>>;
    readonly clientToken: string;
  }): Promise<string>;
  /** Undefined when the volume does not exist (any more). */
  describeVolume(volumeId: string): Promise<CloneVolume | undefined>;
  attachVolume(volumeId: string, instanceId: string, device: string): Promise<void>;
  detachVolume(volumeId: string, instanceId: string): Promise<void>;
  /** DeleteVolume; an absent volume is success. */
  deleteVolume(volumeId: string): Promise<void>;
  /**
   * Snapshots (owned by this account) and volumes tagged rbp:run-id=<runId>: what a run made,
   * recorded or not (a masking hook tags its snapshots with the event's tags, volumes are tagged
   * at creation), for the cleanup of a failed run.
   */
  taggedWithRun(
    runId: string,
  ): Promise<{ readonly snapshotIds: readonly string[]; readonly volumeIds: readonly string[] }>;
}

/** Starts an execution of the run state machine named by the run id. */
export interface WorkflowRunExecutions {
  start(runId: string): Promise<void>;
}

export interface WorkflowRunPorts {
  readonly workflows: WorkflowStore;
  readonly runs: WorkflowRunStore;
  readonly servers: ServerDirectory;
  readonly images: ImageDirectory;
  /** Recovery points, for a workflow whose image is `rp-…`; absent: such runs are refused. */
  readonly recoveryPoints?: Pick<RecoveryPointStore, 'get'>;
  readonly instances: InstanceDirectory;
  readonly restoreJobs: VolumeRestoreJobStore;
  readonly restoreLauncher: VolumeRestoreLauncher;
  readonly resources: CloneResources;
  /** The masking hook's invoker (the contract: masking.ts). */
  readonly masking: MaskingHookInvoker;
  readonly clock: Clock;
  /** KMS key of the clone snapshots (the stack's key). */
  readonly kmsKeyArn?: string;
}
