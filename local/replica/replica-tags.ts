/**
 * Tags on a replica EBS volume: the contract between the replication agent (which sets them) and
 * the backup's replica probe (which reads them). Documented in docs/replica-tags.md.
 */
export const REPLICA_TAG = {
  /** `true` on every replica volume the product may back up. */
  replica: 'rbp:replica',
  /** The protected (source) server the volume replicates, e.g. a DRS source server id. */
  sourceServer: 'rbp:source-server',
  /** The source server's device name of this disk, e.g. /dev/xvda. */
  sourceDevice: 'rbp:source-device',
  /** The last consistency checkpoint the replica holds completely. */
  checkpointId: 'rbp:checkpoint-id',
  /** When that checkpoint was taken on the source, ISO 8601 UTC. */
  checkpointTime: 'rbp:checkpoint-time',
  /** IN_SYNC when the replica has applied everything up to the source's present; BACKLOG otherwise. */
  syncState: 'rbp:sync-state',
  /** Bytes written on the source and not yet applied to the replica (decimal integer). */
  backlogBytes: 'rbp:backlog-bytes',
} as const;

export const SYNC_STATES = ['IN_SYNC', 'BACKLOG'] as const;
export type SyncState = (typeof SYNC_STATES)[number];
