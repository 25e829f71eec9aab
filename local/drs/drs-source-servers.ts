/**
 * The local AWS Elastic Disaster Recovery's source servers, derived from the replica volumes'
 * tags (docs/replica-tags.md) that the local replication agent writes: the volumes tagged
 * `rbp:replica=true` with the same `rbp:source-server` are one source server, each volume one
 * of its replicated disks. Pure: the volumes come in, the DescribeSourceServers items go out
 * (https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeSourceServers.html,
 * https://docs.aws.amazon.com/drs/latest/APIReference/API_SourceServer.html). The mapping and
 * why each field comes from its tag is in docs/local-stack.md, "Elastic Disaster Recovery".
 */
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../gateway/local-account.ts';
import { REPLICA_TAG } from '../replica/replica-tags.ts';

/** A DRS source server id (the pattern of SourceServer.sourceServerID in the DRS API reference). */
export const SOURCE_SERVER_ID_PATTERN = /^s-[0-9a-zA-Z]{17}$/;

/** The agent's report of a server's replication (docs/replica-tags.md, "Tags that protection plans read"). */
export const REPLICATION_STATE_TAG = 'rbp:replication-state';
/** How far the replica is behind the source, whole seconds. */
export const LAG_SECONDS_TAG = 'rbp:lag-seconds';

/** Bytes in a GiB: EC2 reports a volume's size in GiB, DRS a disk's in bytes. */
const BYTES_PER_GIB = 1024 ** 3;

/** One EC2 volume as DescribeVolumes reports it: what the model reads. */
export interface ReplicaVolumeRecord {
  readonly volumeId: string;
  readonly sizeGib: number;
  readonly tags: Readonly<Record<string, string>>;
}

/** DataReplicationInfoReplicatedDisk, the fields the local DRS reports. */
export interface DrsReplicatedDisk {
  readonly deviceName?: string;
  readonly totalStorageBytes: number;
  readonly replicatedStorageBytes: number;
  readonly backloggedStorageBytes?: number;
}

/** SourceServer, the fields the local DRS reports. */
export interface DrsSourceServer {
  readonly sourceServerID: string;
  readonly arn: string;
  readonly dataReplicationInfo: {
    readonly dataReplicationState: string;
    readonly lagDuration?: string;
    readonly replicatedDisks: readonly DrsReplicatedDisk[];
  };
  readonly lifeCycle: { readonly lastSeenByServiceDateTime?: string };
}

/**
 * DRS dataReplicationState values by health, best first: a server is as healthy as its least
 * healthy disk. INITIAL_SYNC is a volume the agent has not reported a sync state for yet.
 */
const STATES_BY_HEALTH = ['CONTINUOUS', 'BACKLOG', 'INITIAL_SYNC', 'STALLED', 'DISCONNECTED'] as const;
type DrsState = (typeof STATES_BY_HEALTH)[number];

/** rbp:replication-state → DRS state; an unknown value counts as stalled, as plans read it. */
const REPLICATION_STATE_TO_DRS: Readonly<Record<string, DrsState>> = {
  'in-sync': 'CONTINUOUS',
  lagging: 'BACKLOG',
  stalled: 'STALLED',
  disconnected: 'DISCONNECTED',
};

/** rbp:sync-state → DRS state, when the agent reports no rbp:replication-state. */
const SYNC_STATE_TO_DRS: Readonly<Record<string, DrsState>> = {
  IN_SYNC: 'CONTINUOUS',
  BACKLOG: 'BACKLOG',
};

function volumeState(tags: Readonly<Record<string, string>>): DrsState {
  const reported = tags[REPLICATION_STATE_TAG];
  if (reported !== undefined) return REPLICATION_STATE_TO_DRS[reported] ?? 'STALLED';
  const sync = tags[REPLICA_TAG.syncState];
  if (sync === undefined) return 'INITIAL_SYNC';
  return SYNC_STATE_TO_DRS[sync] ?? 'STALLED';
}

/** A decimal integer tag (≥ 0), undefined when absent or not one. */
function wholeNumber(text: string | undefined): number | undefined {
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}

export function sourceServerArn(sourceServerId: string): string {
  return `arn:aws:drs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:source-server/${sourceServerId}`;
}

function toSourceServer(sourceServerID: string, volumes: readonly ReplicaVolumeRecord[]): DrsSourceServer {
  const disks = [...volumes].sort((a, b) => {
    const left = a.tags[REPLICA_TAG.sourceDevice] ?? a.volumeId;
    const right = b.tags[REPLICA_TAG.sourceDevice] ?? b.volumeId;
    return left < right ? -1 : left > right ? 1 : 0;
  });
  const state = disks
    .map((v) => volumeState(v.tags))
    .reduce<DrsState>(
      (worst, s) => (STATES_BY_HEALTH.indexOf(s) > STATES_BY_HEALTH.indexOf(worst) ? s : worst),
      'CONTINUOUS',
    );
  const lags = disks.flatMap((v) => wholeNumber(v.tags[LAG_SECONDS_TAG]) ?? []);
  const seen = disks.flatMap((v) => v.tags[REPLICA_TAG.checkpointTime] ?? []).sort();
  const lastSeen = seen.at(-1);
  return {
    sourceServerID,
    arn: sourceServerArn(sourceServerID),
    dataReplicationInfo: {
      dataReplicationState: state,
      ...(lags.length === 0 ? {} : { lagDuration: `PT${Math.max(...lags)}S` }),
      replicatedDisks: disks.map((v) => {
        const device = v.tags[REPLICA_TAG.sourceDevice];
        const backlog = wholeNumber(v.tags[REPLICA_TAG.backlogBytes]);
        const total = v.sizeGib * BYTES_PER_GIB;
        return {
          ...(device === undefined ? {} : { deviceName: device }),
          totalStorageBytes: total,
          replicatedStorageBytes: total,
          ...(backlog === undefined ? {} : { backloggedStorageBytes: backlog }),
        };
      }),
    },
    lifeCycle: lastSeen === undefined ? {} : { lastSeenByServiceDateTime: lastSeen },
  };
}

/**
 * The source servers of these volumes, by id: only volumes tagged `rbp:replica=true` whose
 * `rbp:source-server` is a DRS source server id (a server replicated by another agent is not
 * DRS's to report).
 */
export function sourceServersOf(volumes: readonly ReplicaVolumeRecord[]): DrsSourceServer[] {
  const byServer = new Map<string, ReplicaVolumeRecord[]>();
  for (const volume of volumes) {
    if (volume.tags[REPLICA_TAG.replica] !== 'true') continue;
    const server = volume.tags[REPLICA_TAG.sourceServer];
    if (server === undefined || !SOURCE_SERVER_ID_PATTERN.test(server)) continue;
    byServer.set(server, [...(byServer.get(server) ?? []), volume]);
  }
  return [...byServer]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, serverVolumes]) => toSourceServer(id, serverVolumes));
}
