/**
 * A protected server as plans see it: the replica volumes that share one source-server id
 * (tag `rbp:source-server`, docs/replica-tags.md), what the replication side reports about it,
 * the applications its agent reports, and whether it has a primary volume to fall back to.
 */
import { PRIMARY_VOLUME_TAG } from '../backup/primary-source.ts';
import { SOURCE_SERVER_TAG } from '../orchestration/backup-request.ts';
import { REPLICA_TAG, SYNC_STATE_TAG } from '../orchestration/replica-probe.ts';

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
  /**
   * `REPLICA GONE` on a server known only from the protected-volume registry: EC2 has none of its
   * replica volumes any more (replication `disconnected`); its backups remain. Absent otherwise.
   */
  readonly state?: 'REPLICA GONE';
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

/**
 * Tags of the replication-agent contract that plans read besides docs/replica-tags.md's:
 * - `rbp:replication-state`: `in-sync`, `lagging`, `stalled` or `disconnected` (what the agent
 *   reports; without it the state follows `rbp:sync-state`: IN_SYNC is in-sync, BACKLOG lagging);
 * - `rbp:lag-seconds`: how far the replica is behind the source (decimal seconds);
 * - `rbp:applications`: the application names the agent reports for the server, comma-separated;
 * - `rbp:primary-volume`: the EBS volume id of the source server's own disk this replica copies
 *   (EC2 sources only; a server has a primary when every one of its volumes names one).
 */
export const REPLICATION_STATE_TAG = 'rbp:replication-state';
export const LAG_SECONDS_TAG = 'rbp:lag-seconds';
export const APPLICATIONS_TAG = 'rbp:applications';
export { PRIMARY_VOLUME_TAG };

/** Worse states first: a server is as healthy as its least healthy volume. */
const STATE_RANK: Readonly<Record<ReplicationState, number>> = {
  disconnected: 3,
  stalled: 2,
  lagging: 1,
  'in-sync': 0,
};

function volumeState(tags: Readonly<Record<string, string>>): ReplicationState {
  const reported = tags[REPLICATION_STATE_TAG];
  if (reported !== undefined && (REPLICATION_STATES as readonly string[]).includes(reported)) {
    return reported as ReplicationState;
  }
  if (reported !== undefined) return 'stalled'; // an unknown report is never taken as healthy
  return tags[SYNC_STATE_TAG] === 'IN_SYNC' ? 'in-sync' : 'lagging';
}

function volumeLag(tags: Readonly<Record<string, string>>, state: ReplicationState): number | undefined {
  const text = tags[LAG_SECONDS_TAG];
  if (text !== undefined && /^\d+(\.\d+)?$/.test(text)) return Number(text);
  return state === 'in-sync' ? 0 : undefined;
}

/**
 * Groups replica volumes (`rbp:replica=true`) into servers by `rbp:source-server` (a volume
 * without it is a server of its own, named by its volume id), ordered by name.
 */
export function serversFromVolumes(volumes: readonly ServerVolume[]): ServerView[] {
  const groups = new Map<string, ServerVolume[]>();
  for (const volume of volumes) {
    if (volume.tags[REPLICA_TAG] !== 'true') continue;
    const name = volume.tags[SOURCE_SERVER_TAG] ?? volume.volumeId;
    groups.set(name, [...(groups.get(name) ?? []), volume]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, members]) => {
      const sorted = [...members].sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1));
      let replication: ReplicationState = 'in-sync';
      let lagSeconds: number | undefined = 0;
      const applications: string[] = [];
      for (const volume of sorted) {
        const state = volumeState(volume.tags);
        if (STATE_RANK[state] > STATE_RANK[replication]) replication = state;
        const lag = volumeLag(volume.tags, state);
        lagSeconds = lag === undefined || lagSeconds === undefined ? undefined : Math.max(lagSeconds, lag);
        for (const app of (volume.tags[APPLICATIONS_TAG] ?? '').split(',')) {
          const trimmed = app.trim();
          if (trimmed !== '' && !applications.includes(trimmed)) applications.push(trimmed);
        }
      }
      return {
        name,
        replication,
        ...(lagSeconds === undefined ? {} : { lagSeconds }),
        volumes: sorted,
        applications,
        hasPrimary: sorted.every((v) => /^vol-[0-9a-f]+$/.test(v.tags[PRIMARY_VOLUME_TAG] ?? '')),
      };
    });
}
