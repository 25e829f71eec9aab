/**
 * A protected server as plans see it: the replica volumes that share one source-server id
 * (tag `rbp:source-server`, docs/replica-tags.md), what the replication side reports about it,
 * the applications its agent reports, and whether it has a primary volume to fall back to.
 */

/**
 * What the replication side reports for the server:
 * - `in-sync`: replicating, no backlog;
 * - `lagging`: replicating with a backlog (`lagSeconds` behind the source);
 * - `stalled`: connected, but replication does not progress;
 * - `disconnected`: the replication agent or service does not reach the server.
 */
export const REPLICATION_STATES = ['in-sync', 'lagging', 'stalled', 'disconnected'] as const;
export type ReplicationState = (typeof REPLICATION_STATES)[number];

export interface ServerVolume {
  readonly volumeId: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface ServerView {
  /** The source-server id (`rbp:source-server`). */
  readonly name: string;
  readonly replication: ReplicationState;
  /** Seconds the replica is behind the source; 0 when in sync, absent when unknown. */
  readonly lagSeconds?: number;
  readonly volumes: readonly ServerVolume[];
  /** Application names the replication agent reports for the server, in its order. */
  readonly applications: readonly string[];
  /** True when the server names a primary volume (or is an EC2 source) that can be snapshotted. */
  readonly hasPrimary: boolean;
}

/** A server is unavailable when it is not replicating at all: its tasks are Skipped. */
export function unavailableReason(server: ServerView | undefined, name: string): string | undefined {
  if (server === undefined) return `server ${name} not found`;
  if (server.replication === 'disconnected') return `server ${name} is unavailable: replication disconnected`;
  return undefined;
}

/** True when one of the server's replica volumes carries every tag of the filter. */
export function matchesTags(server: ServerView, filter: Readonly<Record<string, string>>): boolean {
  const wanted = Object.entries(filter);
  return server.volumes.some((volume) => wanted.every(([key, value]) => volume.tags[key] === value));
}
