/**
 * The consistency-checkpoint contract between the backup and the replication agent
 * (docs/replication-agent.md). The backup asks for a checkpoint with an EventBridge event; the
 * agent quiesces the application, writes its metadata file, marks the checkpoint in the
 * replication stream, and reports through tags on the replica volumes (replica-probe.ts) once the
 * replica holds exactly the writes up to the checkpoint. It holds the replica there until the
 * backup releases the checkpoint (after the snapshots were taken) or until `holdUntil`.
 */
import type { Clock, StepLog } from '../ports.ts';
import type { EventPublisher } from './orchestration-ports.ts';
import type { CheckpointInput, CheckpointOutput, CheckpointWindow } from './step-state.ts';

/** EventBridge `source` of every event the product emits. */
export const EVENT_SOURCE = 'rbp.backup';
export const CHECKPOINT_REQUESTED = 'Checkpoint Requested';
export const CHECKPOINT_RELEASED = 'Checkpoint Released';
/** Version of the event detail schema; bumped only for incompatible changes. */
export const CHECKPOINT_EVENT_VERSION = 1;
/**
 * How long past the sync deadline the agent may keep holding the replica if no release comes:
 * enough for CreateSnapshot calls and their retries after a late sync, short enough that a dead
 * backup never stalls replication for long.
 */
export const CHECKPOINT_HOLD_MARGIN_SECONDS = 900;

export interface CheckpointRequestDetail {
  readonly version: typeof CHECKPOINT_EVENT_VERSION;
  readonly checkpointId: string;
  readonly backupId: string;
  readonly serverId: string;
  readonly volumeIds: readonly string[];
  readonly requestedAt: string;
  /** The backup gives up waiting for sync at this instant. */
  readonly deadline: string;
  /** The agent stops holding the replica at this instant even without a release. */
  readonly holdUntil: string;
}

export interface CheckpointReleaseDetail {
  readonly version: typeof CHECKPOINT_EVENT_VERSION;
  readonly checkpointId: string;
  readonly backupId: string;
  readonly serverId: string;
  readonly volumeIds: readonly string[];
  /** Snapshots taken at the checkpoint, one per volume (empty when the run gave up). */
  readonly snapshotIds: readonly string[];
}

/**
 * Deterministic checkpoint id: the same run and round always ask for the same checkpoint, so a
 * retried or redriven request is a duplicate the agent can ignore. A new round (after a snapshot
 * failed) asks for a new checkpoint.
 */
export function checkpointIdFor(backupId: string, round: number): string {
  return `${backupId}-r${round}`;
}

export function checkpointWindow(
  checkpointId: string,
  requestedAt: Date,
  timeoutSeconds: number,
): CheckpointWindow {
  return {
    checkpointId,
    requestedAt: requestedAt.toISOString(),
    deadline: new Date(requestedAt.getTime() + timeoutSeconds * 1000).toISOString(),
  };
}

export function checkpointRequestDetail(
  window: CheckpointWindow,
  backup: { readonly backupId: string; readonly serverId: string; readonly volumeIds: readonly string[] },
): CheckpointRequestDetail {
  return {
    version: CHECKPOINT_EVENT_VERSION,
    checkpointId: window.checkpointId,
    backupId: backup.backupId,
    serverId: backup.serverId,
    volumeIds: backup.volumeIds,
    requestedAt: window.requestedAt,
    deadline: window.deadline,
    holdUntil: new Date(Date.parse(window.deadline) + CHECKPOINT_HOLD_MARGIN_SECONDS * 1000).toISOString(),
  };
}

/**
 * Request Checkpoint / Release Checkpoint: asks the replication agent for this round's checkpoint
 * (and returns its window), or tells it the snapshots are taken.
 */
export async function runCheckpointStep(
  deps: { readonly events: EventPublisher; readonly clock: Clock },
  input: CheckpointInput,
  log: StepLog,
): Promise<CheckpointOutput> {
  const { backup } = input;
  if (input.action === 'request') {
    const window = checkpointWindow(
      checkpointIdFor(backup.backupId, input.round),
      deps.clock.now(),
      backup.syncWait.timeoutSeconds,
    );
    // A backup from the primary snapshots the source's own disks: the replication agent has nothing to do.
    if (backup.source === 'primary') {
      log.info('no checkpoint: backup from the primary', { ...window });
      return window;
    }
    await deps.events.publish(CHECKPOINT_REQUESTED, checkpointRequestDetail(window, backup));
    log.info('checkpoint requested', { ...window });
    return window;
  }
  if (backup.source === 'primary') return { released: true };
  const detail: CheckpointReleaseDetail = {
    version: CHECKPOINT_EVENT_VERSION,
    checkpointId: input.checkpoint.checkpointId,
    backupId: backup.backupId,
    serverId: backup.serverId,
    volumeIds: backup.volumeIds,
    snapshotIds: input.snapshots.map((s) => s.snapshotId),
  };
  await deps.events.publish(CHECKPOINT_RELEASED, detail);
  return { released: true };
}
