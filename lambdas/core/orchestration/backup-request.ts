/**
 * The input of one backup run (what a schedule or `POST /backups` passes to StartExecution) and
 * its normalised form, which the state machine carries from step to step as `$.backup`.
 *
 * The unit of a backup is a protected server: a consistency group of replica volumes that share
 * one checkpoint and become one recovery point (docs/recovery-points.md). A single-volume server is
 * a group of one.
 */
import { z } from 'zod';
import { BACKUP_SOURCES } from '../backup/primary-source.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import { COLLECTION_WAIT_SECONDS } from '../lifecycle/commit-gate.ts';

/**
 * Most volumes in one run: far more disks than a server has, and small enough that the run's state
 * (each volume adds under 1 KiB) stays well inside Step Functions' 256 KiB payload limit
 * (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
 */
export const MAX_SERVER_VOLUMES = 100;

/** The replica volume tag naming the protected server (docs/replica-tags.md). */
export const SOURCE_SERVER_TAG = 'rbp:source-server';

/** Default poll interval while waiting for the replica: a checkpoint usually lands within a minute. */
export const DEFAULT_SYNC_POLL_SECONDS = 30;
/** Default deadline for the replica to reach the checkpoint: a backlog after a burst can take a while. */
export const DEFAULT_SYNC_TIMEOUT_SECONDS = 3_600;
/**
 * Default cap of the snapshot poll interval (`snapshotWait.intervalSeconds`): the wait starts at a
 * few seconds and grows with the time already waited (nextSnapshotPollSeconds in
 * replica-snapshots.ts), never beyond this. A snapshot copies only the blocks changed since the
 * previous one, so completion takes seconds for a small change and hours for a first full copy
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-snapshot.html); a minute between
 * looks is cheap against hours and adds at most a minute.
 */
export const DEFAULT_SNAPSHOT_POLL_CAP_SECONDS = 60;
/**
 * Default deadline for a snapshot to complete: snapshots complete asynchronously and the first
 * (full) snapshot of a large volume can take hours
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-snapshot.html).
 */
export const DEFAULT_SNAPSHOT_TIMEOUT_SECONDS = 86_400;
/** Default lock lifetime: longer than any healthy run, short enough that a crashed run frees the volume by the next day. */
export const DEFAULT_LOCK_TTL_SECONDS = 172_800;
/**
 * Shortest lock lifetime a request may ask for. A run's lock is taken by Acquire Lock and renewed
 * only by Renew Lock, just before each volume's Commit Image; Commit Image may then wait up to
 * COLLECTION_WAIT_SECONDS (2 h) for a garbage collection to release its fence, retry other errors
 * for minutes, and Build Catalog, Commit Recovery Point, Rotate Base Snapshots and Release Lock
 * follow: an hour beyond the wait covers them. A lock that lapses sooner lets another run take
 * the volume; that run's Rotate Base Snapshots deletes this run's snapshot as an orphan once it is
 * older than its own lockTtlSeconds, and this run's commit fails (the lock condition of its
 * transaction) after all its copying, so a lapse never commits wrong data but wastes the backup
 * and the snapshot it was reading.
 */
export const MIN_LOCK_TTL_SECONDS = COLLECTION_WAIT_SECONDS + 3_600;
/** Default DRS lag threshold: DRS checks lag in minutes; a minute is well inside a normal CDP state. */
export const DEFAULT_DRS_MAX_LAG_SECONDS = 60;
/** Snapshot rounds (checkpoint + snapshot) tried when a snapshot ends in `error` before giving up. */
export const DEFAULT_MAX_SNAPSHOT_ROUNDS = 3;

/** Shortest poll interval accepted: Step Functions bills each transition; faster polling buys nothing. */
export const MIN_POLL_SECONDS = 1;
/** Longest deadline accepted: a Standard execution lives at most a year, a week is plenty for a backup. */
export const MAX_WAIT_SECONDS = 604_800;

/**
 * Whether a run's lock outlives its waits: between Acquire Lock and the first Renew Lock come the
 * replica sync wait and the snapshot wait, so the lock must last longer than both deadlines.
 */
export function lockOutlivesWaits(
  lockTtlSeconds: number,
  syncTimeoutSeconds: number,
  snapshotTimeoutSeconds: number,
): boolean {
  return lockTtlSeconds > syncTimeoutSeconds + snapshotTimeoutSeconds;
}
/** Why a lock that does not outlive the waits is refused (lockOutlivesWaits). */
export const LOCK_OUTLIVES_WAITS_REASON = 'the lock is not renewed before the snapshots are complete';

/** The trigger of a run whose input names none (a StartExecution by hand, an old caller). */
export const MANUAL_TRIGGER = 'manual';
/** Longest trigger: a principal's ARN or a schedule's name fits; events and records stay small. */
export const MAX_TRIGGER_CHARS = 256;
/**
 * Triggers of plan tasks start with it (`plan:<plan name>`): a plan's run is scheduled, so a task
 * whose server a running backup holds is skipped like a scheduled run (backup-lock.ts), and the
 * plan's expiry deletes only the points its own tasks made (retention-apply.ts).
 */
export const PLAN_TRIGGER_PREFIX = 'plan:';

/** The trigger a plan task's backup runs with. */
export function planTrigger(plan: string): string {
  return `${PLAN_TRIGGER_PREFIX}${plan}`;
}

/** An EBS volume id, as every step input and the stored server settings name one. */
export const volumeIdSchema = z
  .string()
  .regex(/^vol-[0-9a-z]{1,40}$/, 'must look like vol-0123456789abcdef0');

const waitSchema = (defaultInterval: number, defaultTimeout: number) =>
  z
    .object({
      intervalSeconds: z.number().int().min(MIN_POLL_SECONDS).max(MAX_WAIT_SECONDS).default(defaultInterval),
      timeoutSeconds: z.number().int().min(MIN_POLL_SECONDS).max(MAX_WAIT_SECONDS).default(defaultTimeout),
    })
    .strict()
    .refine((w) => w.intervalSeconds <= w.timeoutSeconds, 'intervalSeconds must not exceed timeoutSeconds');

export const replicaProbeSchema = z.discriminatedUnion('kind', [
  /** Tags on the replica volumes that the replication agent sets (docs/replication-agent.md). */
  z.object({ kind: z.literal('tags') }).strict(),
  /** AWS Elastic Disaster Recovery: DescribeSourceServers for the source server of the group. */
  z
    .object({
      kind: z.literal('drs'),
      sourceServerId: z.string().regex(/^s-[0-9a-z]{17}$/, 'must be a DRS source server id (s-…)'),
      maxLagSeconds: z.number().int().min(0).max(86_400).default(DEFAULT_DRS_MAX_LAG_SECONDS),
    })
    .strict(),
]);
export type ReplicaProbe = z.infer<typeof replicaProbeSchema>;

/** The execution input. Unknown fields are refused so that a typo never silently changes a run. */
export const backupRequestSchema = z
  .object({
    /**
     * The protected server (consistency group). Defaults to the volumes' `rbp:source-server` tag,
     * else (untagged volumes) the first volume's id.
     */
    serverId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/)
      .optional(),
    volumeIds: z
      .array(volumeIdSchema)
      .min(1)
      .max(MAX_SERVER_VOLUMES, `a run backs up at most ${MAX_SERVER_VOLUMES} volumes`)
      .refine((ids) => new Set(ids).size === ids.length, 'volumeIds must be unique')
      .optional(),
    /** The replica volumes tagged `tagKey=tagValue` (and rbp:replica=true), resolved when the run starts. */
    volumeSelector: z
      .object({
        tagKey: z.string().min(1).max(128),
        tagValue: z.string().max(256),
      })
      .strict()
      .optional(),
    /** Read every block even when an incremental is possible. */
    full: z.boolean().default(false),
    /**
     * `replica` (default): snapshot the replica volumes at a checkpoint; `primary`: snapshot the
     * source server's own volumes (`rbp:primary-volume`, core/backup/primary-source.ts), no checkpoint.
     */
    source: z.enum(BACKUP_SOURCES).default('replica'),
    /**
     * Who asked: "schedule:<name>", "plan:<plan name>" (a plan task, planTrigger), "api:<principal>"
     * or "manual"; in the outcome events and on the run's recovery point, where a plan's expiry
     * reads it (only `plan:<that plan>` points are its to expire).
     */
    trigger: z.string().min(1).max(MAX_TRIGGER_CHARS).default(MANUAL_TRIGGER),
    probe: replicaProbeSchema.default({ kind: 'tags' }),
    syncWait: waitSchema(DEFAULT_SYNC_POLL_SECONDS, DEFAULT_SYNC_TIMEOUT_SECONDS).default({
      intervalSeconds: DEFAULT_SYNC_POLL_SECONDS,
      timeoutSeconds: DEFAULT_SYNC_TIMEOUT_SECONDS,
    }),
    /** intervalSeconds is the cap of the backoff between looks (DEFAULT_SNAPSHOT_POLL_CAP_SECONDS). */
    snapshotWait: waitSchema(DEFAULT_SNAPSHOT_POLL_CAP_SECONDS, DEFAULT_SNAPSHOT_TIMEOUT_SECONDS).default({
      intervalSeconds: DEFAULT_SNAPSHOT_POLL_CAP_SECONDS,
      timeoutSeconds: DEFAULT_SNAPSHOT_TIMEOUT_SECONDS,
    }),
    lockTtlSeconds: z
      .number()
      .int()
      .min(
        MIN_LOCK_TTL_SECONDS,
        `must be at least ${MIN_LOCK_TTL_SECONDS} (3 h): the lock is last renewed before Commit Image, which may wait ${COLLECTION_WAIT_SECONDS} s for a garbage collection`,
      )
      .max(MAX_WAIT_SECONDS * 2)
      .default(DEFAULT_LOCK_TTL_SECONDS),
    maxSnapshotRounds: z.number().int().min(1).max(10).default(DEFAULT_MAX_SNAPSHOT_ROUNDS),
  })
  .strict()
  .refine((r) => (r.volumeIds === undefined) !== (r.volumeSelector === undefined), {
    message: 'give exactly one of volumeIds and volumeSelector',
  })
  .refine(
    (r) => lockOutlivesWaits(r.lockTtlSeconds, r.syncWait.timeoutSeconds, r.snapshotWait.timeoutSeconds),
    {
      message: `must be longer than syncWait.timeoutSeconds + snapshotWait.timeoutSeconds: ${LOCK_OUTLIVES_WAITS_REASON}`,
      path: ['lockTtlSeconds'],
    },
  );
export type BackupRequestInput = z.input<typeof backupRequestSchema>;

export const executionRefSchema = z
  .object({
    /** `$$.Execution.Id`: the execution ARN. */
    id: z.string().min(1).max(2048),
    /** `$$.Execution.Name`. */
    name: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'execution names are 1-80 of [A-Za-z0-9_-]'),
    /** `$$.Execution.StartTime`. */
    startTime: z.iso.datetime({ offset: true }),
  })
  .strict();
export type ExecutionRef = z.infer<typeof executionRefSchema>;

/** Finds the ids of the replica volumes (rbp:replica=true) that carry the tag `tagKey=tagValue`. */
export type VolumeFinder = (tagKey: string, tagValue: string) => Promise<readonly string[]>;

/** The `rbp:source-server` tag of each of `volumeIds` that has one, by volume id (EC2 DescribeVolumes). */
export type VolumeServerTags = (volumeIds: readonly string[]) => Promise<ReadonlyMap<string, string>>;

/** VolumeServerTags over a reader of volume tags; an empty tag value counts as no tag. */
export function volumeServerTagsFrom(
  volumeTags: (
    volumeIds: readonly string[],
  ) => Promise<readonly { readonly volumeId: string; readonly tags: Readonly<Record<string, string>> }[]>,
): VolumeServerTags {
  return async (volumeIds) => {
    const servers = new Map<string, string>();
    for (const { volumeId, tags } of await volumeTags(volumeIds)) {
      const server = tags[SOURCE_SERVER_TAG];
      if (server !== undefined && server !== '') servers.set(volumeId, server);
    }
    return servers;
  };
}

/**
 * The run's own server (its locks, outcome events and the RPO metric's ServerId): the request's
 * `serverId`; else the value of a selector by `rbp:source-server`; else the first volume's id. A
 * `--volume` backup of one of S's volumes is therefore not counted as a backup of S.
 */
export function serverOfRequest(
  request: {
    readonly serverId?: string | undefined;
    readonly volumeSelector?: { readonly tagKey: string; readonly tagValue: string } | undefined;
  },
  volumeIds: readonly string[],
): string | undefined {
  const selector = request.volumeSelector;
  return (
    request.serverId ??
    (selector?.tagKey === SOURCE_SERVER_TAG && selector.tagValue !== '' ? selector.tagValue : undefined) ??
    volumeIds[0]
  );
}

/**
 * The server a run's recovery point is filed under: the request's `serverId`; else the value of a
 * selector by `rbp:source-server`; else the volumes' `rbp:source-server` tag (ValidationError when
 * they name different servers, or when some are tagged and some are not: an untagged volume is a
 * server of its own); else, for volumes without the tag, the first volume's id.
 */
export async function serverOfRun(
  request: {
    readonly serverId?: string | undefined;
    readonly volumeSelector?: { readonly tagKey: string; readonly tagValue: string } | undefined;
  },
  volumeIds: readonly string[],
  serverTags: VolumeServerTags | undefined,
): Promise<string | undefined> {
  if (request.serverId !== undefined) return request.serverId;
  const selector = request.volumeSelector;
  if (selector?.tagKey === SOURCE_SERVER_TAG && selector.tagValue !== '') return selector.tagValue;
  if (serverTags !== undefined && volumeIds.length > 0) {
    const tagged = await serverTags(volumeIds);
    const servers = [...new Set(volumeIds.flatMap((v) => tagged.get(v) ?? []))].sort();
    const untagged = volumeIds.some((v) => !tagged.has(v));
    if (servers.length > 1 || (servers.length === 1 && untagged)) {
      const named = volumeIds.map((v) => `${v} (${tagged.get(v) ?? 'untagged'})`).join(', ');
      throw new ValidationError(
        `invalid backup request: volumes ${named} belong to different servers by their ${SOURCE_SERVER_TAG} tags; give serverId`,
        { context: { volumeIds: volumeIds.join(','), servers: servers.join(',') } },
      );
    }
    if (servers[0] !== undefined) return servers[0];
  }
  return volumeIds[0];
}

/**
 * Validates a raw execution input, resolves a tag selector into volume ids and fills the
 * defaults. ValidationError lists every problem; a selector that matches nothing is NotFoundError.
 */
export async function normaliseBackupRequest(
  raw: unknown,
  execution: ExecutionRef,
  findVolumes: VolumeFinder,
  /** The volumes' server tags; absent: a run without serverId is named after its first volume. */
  serverTags?: VolumeServerTags,
): Promise<BackupContext> {
  const parsed = backupRequestSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`);
    throw new ValidationError(`invalid backup request: ${problems.join('; ')}`, {
      context: { executionName: execution.name },
    });
  }
  const request = parsed.data;
  let volumeIds = request.volumeIds ?? [];
  if (request.volumeSelector !== undefined) {
    const { tagKey, tagValue } = request.volumeSelector;
    volumeIds = [...(await findVolumes(tagKey, tagValue))].sort();
    if (volumeIds.length === 0) {
      throw new NotFoundError(`no replica volume is tagged ${tagKey}=${tagValue}`, {
        context: { tagKey, tagValue },
      });
    }
    if (volumeIds.length > MAX_SERVER_VOLUMES) {
      throw new ValidationError(
        `tag ${tagKey}=${tagValue} selects ${volumeIds.length} volumes (${volumeIds.join(', ')}); a run backs up at most ${MAX_SERVER_VOLUMES}`,
        { context: { tagKey, tagValue } },
      );
    }
  }
  const serverId = serverOfRequest(request, volumeIds);
  const filedUnder = await serverOfRun(request, volumeIds, serverTags);
  if (serverId === undefined || filedUnder === undefined) {
    throw new ValidationError('invalid backup request: no volume');
  }
  return {
    backupId: execution.name,
    ownerId: execution.id,
    serverId,
    ...(filedUnder === serverId ? {} : { recoveryPointServerId: filedUnder }),
    volumeIds,
    full: request.full,
    source: request.source,
    trigger: request.trigger,
    probe: request.probe,
    syncWait: request.syncWait,
    snapshotWait: request.snapshotWait,
    lockTtlSeconds: request.lockTtlSeconds,
    maxSnapshotRounds: request.maxSnapshotRounds,
    startedAt: new Date(execution.startTime).toISOString(),
  };
}

/**
 * What the state machine carries as `$.backup` after the lock is taken (backupId: the execution
 * name, unique per run and stable across redrives; ownerId: the execution ARN, the lock owner, which
 * a redrive keeps; startedAt: ISO-8601 UTC, when the execution started).
 */
export const backupContextSchema = z
  .object({
    backupId: z.string().min(1),
    ownerId: z.string().min(1),
    serverId: z.string().min(1),
    /**
     * The server the run's recovery point is filed under when it is not `serverId` (a `--volume`
     * backup of a volume tagged `rbp:source-server`); used only where the point is written.
     */
    recoveryPointServerId: z.string().min(1).optional(),
    volumeIds: z.array(volumeIdSchema).min(1),
    full: z.boolean(),
    /** Absent in the state of runs started before sources existed: those are replica backups. */
    source: z.enum(BACKUP_SOURCES).default('replica'),
    trigger: z.string(),
    probe: replicaProbeSchema,
    syncWait: z.object({ intervalSeconds: z.number().int(), timeoutSeconds: z.number().int() }),
    snapshotWait: z.object({ intervalSeconds: z.number().int(), timeoutSeconds: z.number().int() }),
    lockTtlSeconds: z.number().int(),
    maxSnapshotRounds: z.number().int(),
    startedAt: z.iso.datetime(),
  })
  .strict();
export type BackupContext = z.infer<typeof backupContextSchema>;
