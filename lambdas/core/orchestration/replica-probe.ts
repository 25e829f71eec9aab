/**
 * Decisions of the "wait until the replica is in sync at the checkpoint" loop. Two probes:
 *
 * - the **tag probe** reads tags that the replication agent sets on each replica volume
 *   (contract in docs/replication-agent.md);
 * - the **DRS probe** reads AWS Elastic Disaster Recovery's view of the source server
 *   (DescribeSourceServers: state CONTINUOUS, zero backlog on every disk, lag under a threshold).
 *
 * Both return a verdict; the handler turns TIMED_OUT into ReplicaSyncTimeoutError.
 */
import { parse as parseIsoDuration } from 'tinyduration';
import { NotFoundError } from '../errors.ts';
import type { Clock, StepLog } from '../ports.ts';
import { NotAReplicaError, ReplicaSyncTimeoutError } from './orchestration-errors.ts';
import type { ReplicaStatePort } from './orchestration-ports.ts';
import type { CheckpointWindow, ProbeInput, ProbeVerdict } from './step-state.ts';

export type { CheckpointWindow, ProbeVerdict };

/** Tag keys of the replication-agent contract (docs/replication-agent.md). */
export const REPLICA_TAG = 'rbp:replica';
export const CHECKPOINT_ID_TAG = 'rbp:checkpoint-id';
export const CHECKPOINT_TIME_TAG = 'rbp:checkpoint-time';
export const SYNC_STATE_TAG = 'rbp:sync-state';
export const BACKLOG_BYTES_TAG = 'rbp:backlog-bytes';

export const SYNC_STATE_IN_SYNC = 'IN_SYNC';
export const SYNC_STATE_BACKLOG = 'BACKLOG';

export interface ReplicaVolumeTags {
  readonly volumeId: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** One volume's state by its tags: undefined when in sync at the checkpoint, else why not. */
function tagProbeReason(volume: ReplicaVolumeTags, checkpointId: string): string | undefined {
  const { tags, volumeId } = volume;
  const reported = tags[CHECKPOINT_ID_TAG];
  if (reported !== checkpointId) {
    return `${volumeId}: replica reports checkpoint ${reported ?? '(none)'}, waiting for ${checkpointId}`;
  }
  const syncState = tags[SYNC_STATE_TAG];
  if (syncState !== SYNC_STATE_IN_SYNC) return `${volumeId}: sync state is ${syncState ?? '(none)'}`;
  const backlogText = tags[BACKLOG_BYTES_TAG] ?? '0';
  const backlog = /^\d+$/.test(backlogText) ? Number(backlogText) : Number.NaN;
  if (Number.isNaN(backlog)) return `${volumeId}: backlog-bytes tag is not a number: ${backlogText}`;
  if (backlog > 0) return `${volumeId}: ${backlog} bytes of backlog`;
  return undefined;
}

function afterDeadline(now: Date, window: CheckpointWindow): boolean {
  return now.getTime() >= Date.parse(window.deadline);
}

/**
 * The tag probe over every volume of the group. Throws NotAReplicaError for a volume without
 * `rbp:replica=true` (never snapshot a volume this product was not pointed at).
 */
export function evaluateTagProbe(
  volumes: readonly ReplicaVolumeTags[],
  expectedVolumeIds: readonly string[],
  window: CheckpointWindow,
  now: Date,
): ProbeVerdict {
  const byId = new Map(volumes.map((v) => [v.volumeId, v]));
  const reasons: string[] = [];
  const checkpointTimes: string[] = [];
  for (const volumeId of expectedVolumeIds) {
    const volume = byId.get(volumeId);
    if (volume === undefined)
      throw new NotFoundError(`replica volume ${volumeId} does not exist`, { context: { volumeId } });
    if (volume.tags[REPLICA_TAG] !== 'true') {
      throw new NotAReplicaError(
        `volume ${volumeId} is not tagged ${REPLICA_TAG}=true; refusing to back it up`,
        {
          context: { volumeId },
        },
      );
    }
    const reason = tagProbeReason(volume, window.checkpointId);
    if (reason === undefined) {
      const time = volume.tags[CHECKPOINT_TIME_TAG];
      if (time !== undefined) checkpointTimes.push(time);
    } else {
      reasons.push(reason);
    }
  }
  if (reasons.length === 0) {
    const checkpointTime = checkpointTimes.sort().at(-1);
    return checkpointTime === undefined
      ? { status: 'IN_SYNC', reasons }
      : { status: 'IN_SYNC', checkpointTime, reasons };
  }
  return { status: afterDeadline(now, window) ? 'TIMED_OUT' : 'WAITING', reasons };
}

/** The fields of a DRS SourceServer this probe reads (DescribeSourceServers). */
export interface DrsSourceServerView {
  readonly sourceServerId: string;
  readonly dataReplicationState?: string;
  /** ISO-8601 duration: time since the server was last in continuous data protection. */
  readonly lagDuration?: string;
  readonly replicatedDisks: readonly {
    readonly deviceName?: string;
    readonly backloggedStorageBytes?: number;
  }[];
  /** ISO-8601 UTC: when DRS last heard from the agent. */
  readonly lastSeenByServiceDateTime?: string;
}

const SECONDS_PER_UNIT = {
  years: 365 * 86_400,
  months: 30 * 86_400,
  weeks: 7 * 86_400,
  days: 86_400,
  hours: 3_600,
  minutes: 60,
  seconds: 1,
} as const;

/**
 * Seconds in an ISO-8601 duration (years as 365 days, months as 30: lag is compared with a
 * threshold, and these only ever make it larger). Undefined when the text is not a duration.
 */
export function isoDurationSeconds(text: string): number | undefined {
  let parsed: ReturnType<typeof parseIsoDuration>;
  try {
    parsed = parseIsoDuration(text);
  } catch {
    return undefined;
  }
  let total = 0;
  for (const [unit, factor] of Object.entries(SECONDS_PER_UNIT)) {
    total += (parsed[unit as keyof typeof SECONDS_PER_UNIT] ?? 0) * factor;
  }
  return parsed.negative === true ? -total : total;
}

/**
 * The DRS probe. DRS has no notion of our checkpoint, so "in sync at the checkpoint" means: DRS
 * has heard from the agent after the checkpoint was requested, the server is in CONTINUOUS
 * replication, no disk has backlog, and the lag is at most `maxLagSeconds`. A missing lagDuration
 * counts as no lag (DRS reports lag only when it has some).
 */
export function evaluateDrsProbe(
  server: DrsSourceServerView | undefined,
  sourceServerId: string,
  maxLagSeconds: number,
  window: CheckpointWindow,
  now: Date,
): ProbeVerdict {
  if (server === undefined) {
    throw new NotFoundError(`DRS source server ${sourceServerId} does not exist`, {
      context: { sourceServerId },
    });
  }
  const reasons: string[] = [];
  const state = server.dataReplicationState ?? '(unknown)';
  if (state !== 'CONTINUOUS')
    reasons.push(`${sourceServerId}: replication state is ${state}, not CONTINUOUS`);
  if (server.replicatedDisks.length === 0) reasons.push(`${sourceServerId}: DRS reports no replicated disks`);
  for (const disk of server.replicatedDisks) {
    const name = disk.deviceName ?? '(unnamed disk)';
    if (disk.backloggedStorageBytes === undefined) reasons.push(`${sourceServerId} ${name}: backlog unknown`);
    else if (disk.backloggedStorageBytes > 0) {
      reasons.push(`${sourceServerId} ${name}: ${disk.backloggedStorageBytes} bytes of backlog`);
    }
  }
  if (server.lagDuration !== undefined) {
    const lag = isoDurationSeconds(server.lagDuration);
    if (lag === undefined)
      reasons.push(`${sourceServerId}: lag duration is not ISO 8601: ${server.lagDuration}`);
    else if (lag > maxLagSeconds) reasons.push(`${sourceServerId}: lag ${lag} s exceeds ${maxLagSeconds} s`);
  }
  if (server.lastSeenByServiceDateTime !== undefined) {
    if (Date.parse(server.lastSeenByServiceDateTime) < Date.parse(window.requestedAt)) {
      reasons.push(`${sourceServerId}: DRS has not heard from the agent since the checkpoint was requested`);
    }
  }
  if (reasons.length === 0) return { status: 'IN_SYNC', reasons };
  return { status: afterDeadline(now, window) ? 'TIMED_OUT' : 'WAITING', reasons };
}

/** Throws ReplicaSyncTimeoutError for a TIMED_OUT verdict; returns the others unchanged. */
export function requireNotTimedOut(verdict: ProbeVerdict, window: CheckpointWindow): ProbeVerdict {
  if (verdict.status !== 'TIMED_OUT') return verdict;
  throw new ReplicaSyncTimeoutError(
    `replica not in sync at checkpoint ${window.checkpointId} by ${window.deadline}: ${verdict.reasons.join('; ')}`,
    { context: { checkpointId: window.checkpointId, deadline: window.deadline } },
  );
}

/**
 * Probe Replica: one look at whether the replica volumes hold the checkpoint in sync (tag probe,
 * or DRS probe after checking that every volume is a replica). TIMED_OUT past the deadline becomes
 * ReplicaSyncTimeoutError; WAITING sends the state machine to its Wait state.
 */
export async function runProbeStep(
  deps: ReplicaStatePort & { readonly clock: Clock },
  { backup, checkpoint }: ProbeInput,
  log: StepLog,
): Promise<ProbeVerdict> {
  const now = deps.clock.now();
  // A backup from the primary does not wait for the replica: it does not read it.
  if (backup.source === 'primary') return { status: 'IN_SYNC', reasons: [] };
  const volumes = await deps.volumeTags(backup.volumeIds);
  let verdict: ProbeVerdict;
  if (backup.probe.kind === 'tags') {
    verdict = evaluateTagProbe(volumes, backup.volumeIds, checkpoint, now);
  } else {
    for (const volume of volumes) {
      if (volume.tags[REPLICA_TAG] !== 'true') {
        throw new NotAReplicaError(
          `volume ${volume.volumeId} is not tagged ${REPLICA_TAG}=true; refusing to back it up`,
          { context: { volumeId: volume.volumeId } },
        );
      }
    }
    const server = await deps.drsSourceServer(backup.probe.sourceServerId);
    verdict = evaluateDrsProbe(
      server,
      backup.probe.sourceServerId,
      backup.probe.maxLagSeconds,
      checkpoint,
      now,
    );
  }
  log.info('replica probed', {
    checkpointId: checkpoint.checkpointId,
    status: verdict.status,
    reasons: verdict.reasons,
  });
  return requireNotTimedOut(verdict, checkpoint);
}
