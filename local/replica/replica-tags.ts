/**
 * Tags on a replica EBS volume: the contract between the replication agent (which sets them) and
 * the backup's replica probe (which reads them). Documented in docs/replica-tags.md.
 * The keys the probe reads are the core's constants (lambdas/core/orchestration/replica-probe.ts).
 */
import {
  BACKLOG_BYTES_TAG,
  CHECKPOINT_ID_TAG,
  CHECKPOINT_TIME_TAG,
  REPLICA_TAG as REPLICA_MARKER_TAG,
  SYNC_STATE_BACKLOG,
  SYNC_STATE_IN_SYNC,
  SYNC_STATE_TAG,
} from '../../lambdas/core/orchestration/replica-probe.ts';

export const REPLICA_TAG = {
  /** `true` on every replica volume the product may back up. */
  replica: REPLICA_MARKER_TAG,
  /** The protected (source) server the volume replicates, e.g. a DRS source server id. */
  sourceServer: 'rbp:source-server',
  /** The source server's device name of this disk, e.g. /dev/xvda. */
  sourceDevice: 'rbp:source-device',
  /** The last consistency checkpoint the replica holds completely. */
  checkpointId: CHECKPOINT_ID_TAG,
  /** When that checkpoint was taken on the source, ISO 8601 UTC. */
  checkpointTime: CHECKPOINT_TIME_TAG,
  /** IN_SYNC when the replica has applied everything up to the source's present; BACKLOG otherwise. */
  syncState: SYNC_STATE_TAG,
  /** Bytes written on the source and not yet applied to the replica (decimal integer). */
  backlogBytes: BACKLOG_BYTES_TAG,
} as const;

export const SYNC_STATES = [SYNC_STATE_IN_SYNC, SYNC_STATE_BACKLOG] as const;
export type SyncState = (typeof SYNC_STATES)[number];

/** On a primary volume (`rbp local primary create`): the server whose own disk it is. */
export const PRIMARY_OF_TAG = 'rbp:primary-of';
