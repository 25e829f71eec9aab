/**
 * Deployment configuration of the replica backup proxy: which replica volumes to back up and
 * when, how long to keep snapshots and restores, request budgets, and what happens to data when
 * the stack is deleted. Read from CDK context (`-c rbp:config=path.json` or `rbp:config` as an
 * object in cdk.json) or from a JSON file, validated with zod; every problem is reported at once
 * with its path, before anything is synthesised.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import {
  parsePlanDocument,
  PLAN_NAME_PATTERN,
  type PlanDocument,
} from '../lambdas/core/plans/plan-document.ts';
import { SCRUB_COVER_RUNS } from '../lambdas/core/lifecycle/scrub.ts';
import { MAX_RPO_MINUTES, MIN_RPO_MINUTES } from '../lambdas/core/plans/rpo.ts';
import {
  RESTORE_TEST_FILES_PER_SERVER,
  RESTORE_TEST_MAX_FILES,
} from '../lambdas/core/lifecycle/restore-test.ts';
import type { ObjectLockConfig } from '../lambdas/core/lifecycle/object-lock.ts';
import {
  DEFAULT_LOCK_TTL_SECONDS,
  DEFAULT_SNAPSHOT_TIMEOUT_SECONDS,
  DEFAULT_SYNC_TIMEOUT_SECONDS,
  LOCK_OUTLIVES_WAITS_REASON,
  lockOutlivesWaits,
  MAX_SERVER_VOLUMES,
  replicaProbeSchema,
  SOURCE_SERVER_TAG,
} from '../lambdas/core/orchestration/backup-request.ts';
import {
  configuredWaitSchema,
  MAX_SERVER_SETTINGS_CHARS,
  serverSettingsJson,
  type ServerBackupSettings,
} from '../lambdas/core/orchestration/server-backup-settings.ts';

/** Context key holding the configuration (an object) or the path of a JSON file with it. */
export const CONFIG_CONTEXT_KEY = 'rbp:config';

/** Accepted schedule expressions: EventBridge Scheduler cron(6 fields) or rate(n unit). */
const SCHEDULE_EXPRESSION = /^(cron\((\S+ ){5}\S+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\))$/;

function isIanaTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const scheduleConfigSchema = z
  .object({
    /** Unique within the protected server; becomes part of the schedule's name. */
    name: z.string().regex(/^[a-z0-9-]{1,32}$/, 'use 1-32 of a-z, 0-9 and -'),
    /** `cron(m h dom mon dow y)` or `rate(n unit)` as EventBridge Scheduler reads them. */
    expression: z.string().regex(SCHEDULE_EXPRESSION, 'must be cron(<6 fields>) or rate(<n> <unit>)'),
    /** IANA time zone the cron expression is read in. */
    timeZone: z
      .string()
      .refine(isIanaTimeZone, 'must be an IANA time zone such as Europe/Berlin')
      .default('UTC'),
    /** Read every block on this schedule (e.g. a weekly full). */
    full: z.boolean().default(false),
  })
  .strict();

export const protectedServerSchema = z
  .object({
    /** The protected server (consistency group) these volumes belong to. */
    serverId: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/),
    /**
     * Every replica volume of the server by id, as a check: a backup finds the server's volumes by
     * their tag rbp:source-server=<serverId>, and one whose tagged volumes are not exactly these is
     * refused before it starts (stored with the probe and waits, configuredServerSettings).
     */
    volumeIds: z
      .array(z.string().regex(/^vol-[0-9a-f]{8,17}$/, 'must be an EBS volume id'))
      .min(1)
      .max(MAX_SERVER_VOLUMES, `a backup of a server covers at most ${MAX_SERVER_VOLUMES} volumes`)
      .refine((ids) => new Set(ids).size === ids.length, 'volumeIds must be unique')
      .optional(),
    /**
     * Accepted only as {tagKey: "rbp:source-server", tagValue: <serverId>}, what every backup of the
     * server selects anyway (serverVolumeSelectorProblem): the tag is the product's contract with
     * the replication agent (docs/replica-tags.md).
     */
    volumeSelector: z
      .object({ tagKey: z.string().min(1).max(128), tagValue: z.string().max(256) })
      .strict()
      .optional(),
    /**
     * How the backup's Probe Replica step tells that the replica reached the checkpoint: the
     * replica tags (default) or DRS. With syncWait and snapshotWait, stored at deploy time and
     * used by every backup of this server (configuredServerSettings, config-servers.ts).
     */
    probe: replicaProbeSchema.default({ kind: 'tags' }),
    /**
     * The old form of scheduled backups, refused: scheduled backups are protection plans
     * (`plans` below); the error names the plan to write instead (configuredServerSchedulesProblem).
     */
    schedules: z.array(scheduleConfigSchema).min(1).optional(),
    /**
     * "RPO breached" alarm: minutes without a committed backup of this server before the alarm
     * fires (default DEFAULT_RPO_ALARM_MINUTES; at most 7 days, CloudWatch's longest evaluation).
     */
    rpoAlarmMinutes: z.number().int().min(MIN_RPO_MINUTES).max(MAX_RPO_MINUTES).optional(),
    /** Poll interval and deadline of the replica sync wait (default DEFAULT_SYNC_*_SECONDS, backup-request.ts). */
    syncWait: configuredWaitSchema.optional(),
    /** Poll cap and deadline of the snapshot wait (default DEFAULT_SNAPSHOT_*_SECONDS, backup-request.ts). */
    snapshotWait: configuredWaitSchema.optional(),
  })
  .strict()
  .refine((s) => s.volumeIds === undefined || s.volumeSelector === undefined, {
    message: 'give at most one of volumeIds and volumeSelector',
  })
  .refine((s) => new Set((s.schedules ?? []).map((x) => x.name)).size === (s.schedules ?? []).length, {
    message: 'schedule names must be unique within a server',
  });

/**
 * Protection plans declared in the configuration (docs/plans.md, "Plans in the configuration"):
 * each is a plan document checked as `POST /plans` checks it (every problem with its path), the
 * names unique; the deployment writes them and their schedules (lib/constructs/config-plans.ts).
 */
const configPlansSchema = z
  .array(z.unknown())
  .default([])
  .transform((raws, ctx): PlanDocument[] => {
    const plans: PlanDocument[] = [];
    for (const [index, raw] of raws.entries()) {
      try {
        plans.push(parsePlanDocument(raw));
      } catch (error) {
        const issues = (error as { issues?: readonly { field: string; message: string }[] }).issues;
        if (issues === undefined) throw error;
        for (const issue of issues) {
          ctx.addIssue({
            code: 'custom',
            // `(plan)` is the document itself (an unknown top-level field).
            path: [index, ...(issue.field === '(plan)' ? [] : issue.field.split('.'))],
            message: issue.message,
          });
        }
      }
    }
    const seen = new Set<string>();
    for (const [index, plan] of plans.entries()) {
      if (seen.has(plan.name))
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `plan ${plan.name} is declared twice`,
        });
      seen.add(plan.name);
    }
    return plans;
  });

/** A plan name from a server id: the characters plan names do not allow become `-`. */
function planNameOf(serverId: string): string {
  return [...serverId].map((c) => (PLAN_NAME_PATTERN.test(c) ? c : '-')).join('');
}

/**
 * Why `servers[].schedules` is refused, and the plan that replaces it: one plan per server with
 * the same expressions and time zones, backing up that server from its replica only (what a
 * scheduled backup did). What a plan does not express is said rather than dropped silently.
 */
export function configuredServerSchedulesProblem(server: ProtectedServerConfig): string {
  const schedules = server.schedules ?? [];
  const replacement = {
    name: planNameOf(server.serverId),
    schedules: schedules.map((s) => ({ expression: s.expression, timeZone: s.timeZone })),
    activities: [{ servers: server.serverId, source: 'replica-only' }],
  };
  const notes: string[] = [];
  if (schedules.some((s) => s.full))
    notes.push('a full schedule (full: true) has no plan equivalent: a plan run backs up incrementally');
  if (server.volumeIds !== undefined)
    notes.push(
      `a plan finds the server by its volumes' tag rbp:source-server=${server.serverId}: tag ${server.volumeIds.join(', ')} with it`,
    );
  // A volumeSelector by another tag has its own refusal (serverVolumeSelectorProblem).
  if (server.probe.kind === 'drs')
    notes.push('a plan reads replication state from the replica tags (docs/replica-tags.md), not from DRS');
  return (
    'scheduled backups are protection plans now: remove these schedules and add to "plans": ' +
    JSON.stringify(replacement) +
    (notes.length === 0 ? '' : ` (${notes.join('; ')})`) +
    ' — docs/plans.md, "Plans in the configuration"'
  );
}

/**
 * Why a server's volumeSelector is refused, if it is: every backup of a server (a plan task's,
 * `POST /backups {serverId}`) finds its volumes by the tag rbp:source-server=<serverId>, so a
 * selector by anything else would be ignored and the backup would cover other disks than the
 * configuration says.
 */
export function serverVolumeSelectorProblem(
  server: Pick<ProtectedServerConfig, 'serverId' | 'volumeSelector'>,
): string | undefined {
  const selector = server.volumeSelector;
  if (selector === undefined) return undefined;
  if (selector.tagKey === SOURCE_SERVER_TAG && selector.tagValue === server.serverId) return undefined;
  return (
    `server ${server.serverId} selects its volumes by the tag ${selector.tagKey}=${selector.tagValue}, ` +
    `but its backups find them by the tag ${SOURCE_SERVER_TAG}=${server.serverId} only: ` +
    `tag its replica volumes ${SOURCE_SERVER_TAG}=${server.serverId} and remove volumeSelector ` +
    '(docs/replica-tags.md)'
  );
}

/**
 * The lock lifetime of every backup the deployment starts: the configuration names none, so a
 * plan task's or an API start's run holds its locks for backup-request.ts's default.
 */
export const CONFIGURED_LOCK_TTL_SECONDS = DEFAULT_LOCK_TTL_SECONDS;

/**
 * Why a server's waits are refused, if they are: backup-request.ts's rule (lockOutlivesWaits),
 * checked at synth with the defaults for a wait the server does not name, so that no backup of
 * the server is refused by Acquire Lock at run time for its configuration.
 */
export function serverWaitsProblem(
  server: Pick<ProtectedServerConfig, 'serverId' | 'syncWait' | 'snapshotWait'>,
): string | undefined {
  const sync = server.syncWait?.timeoutSeconds ?? DEFAULT_SYNC_TIMEOUT_SECONDS;
  const snapshot = server.snapshotWait?.timeoutSeconds ?? DEFAULT_SNAPSHOT_TIMEOUT_SECONDS;
  if (lockOutlivesWaits(CONFIGURED_LOCK_TTL_SECONDS, sync, snapshot)) return undefined;
  const defaulted = (wait: unknown) => (wait === undefined ? ' (default)' : '');
  return (
    `server ${server.serverId} waits longer than its backups hold their locks: ` +
    `syncWait.timeoutSeconds ${sync}${defaulted(server.syncWait)} + snapshotWait.timeoutSeconds ${snapshot}${defaulted(server.snapshotWait)} = ${sync + snapshot} s, ` +
    `not below the lock TTL of ${CONFIGURED_LOCK_TTL_SECONDS} s; ${LOCK_OUTLIVES_WAITS_REASON}`
  );
}

/**
 * The backup settings the deployment stores (lib/constructs/config-servers.ts): every server that
 * names a DRS probe, a wait or volumeIds, with only what it names (the tags probe is the default).
 */
export function configuredServerSettings(
  config: Pick<ReplicaBackupConfig, 'servers'>,
): ServerBackupSettings[] {
  return config.servers.flatMap((server) => {
    const settings: ServerBackupSettings = {
      serverId: server.serverId,
      ...(server.probe.kind === 'tags' ? {} : { probe: server.probe }),
      ...(server.syncWait === undefined ? {} : { syncWait: server.syncWait }),
      ...(server.snapshotWait === undefined ? {} : { snapshotWait: server.snapshotWait }),
      ...(server.volumeIds === undefined ? {} : { volumeIds: server.volumeIds }),
    };
    return Object.keys(settings).length > 1 ? [settings] : [];
  });
}

/**
 * Default generation window of Object Lock: one re-lock pass over the live chunks and segments a
 * week (two requests per object per week), and garbage stays locked at most a week past `days`.
 * Capped at `days` (a window longer than the retention would leave objects unlocked).
 */
export const DEFAULT_OBJECT_LOCK_GENERATION_DAYS = 7;

const objectLockSettingsSchema = z
  .object({
    mode: z.enum(['GOVERNANCE', 'COMPLIANCE']),
    days: z.number().int().min(1).max(36_500),
    generationDays: z.number().int().min(1).max(365).optional(),
  })
  .strict()
  .superRefine((lock, ctx) => {
    if (lock.generationDays !== undefined && lock.generationDays > lock.days)
      ctx.addIssue({
        code: 'custom',
        path: ['generationDays'],
        message: `the generation window (${lock.generationDays} days) must not exceed the retention (days: ${lock.days}): an object written at the start of a generation would be unlocked before its next extension`,
      });
  })
  .transform((lock) => ({
    ...lock,
    generationDays: lock.generationDays ?? Math.min(DEFAULT_OBJECT_LOCK_GENERATION_DAYS, lock.days),
  }));

/** The lambdas' Object Lock configuration (object-lock.ts) of a deployment's settings. */
export function objectLockConfigOf(
  config: Pick<ReplicaBackupConfig, 'objectLock'>,
): ObjectLockConfig | undefined {
  const lock = config.objectLock;
  if (lock === undefined) return undefined;
  return { mode: lock.mode, retentionDays: lock.days, generationDays: lock.generationDays };
}

/** A Lambda function by name or ARN (with an optional version or alias), as Invoke takes it. */
const lambdaFunctionReference = z
  .string()
  .regex(/^(arn:aws[a-z-]*:lambda:[\w-]+:\d{12}:function:)?[\w-]{1,64}(:[\w$-]+)?$/);

export const replicaBackupConfigSchema = z
  .object({
    /**
     * Protected servers: their RPO alarms, and the probe, waits and volume check of every backup
     * of the server (scheduled backups are `plans`).
     */
    servers: z.array(protectedServerSchema).default([]),
    plans: configPlansSchema,
    /** Replica snapshots kept per volume as bases for the next incremental (the newest is required). */
    baseSnapshotsRetained: z.number().int().min(1).max(10).default(1),
    /** Days a restored file stays in the restore bucket before it expires. */
    restoreExpirationDays: z.number().int().min(1).max(365).default(7),
    /** Days a superseded (noncurrent) object version stays in the image bucket. */
    noncurrentVersionExpirationDays: z.number().int().min(1).max(3650).default(30),
    /**
     * S3 Object Lock on the image bucket; cannot be turned on later for an existing bucket. `days`
     * is how long every image stays immutable; `generationDays` the window in which reused chunks
     * are re-locked once (docs/lifecycle.md, "Object Lock generations").
     */
    objectLock: objectLockSettingsSchema.optional(),
    /** The daily scrub checks 1/coverRuns of the chunks, so coverRuns completed runs check them all. */
    scrub: z
      .object({ coverRuns: z.number().int().min(1).max(4096).default(SCRUB_COVER_RUNS) })
      .strict()
      .default({ coverRuns: SCRUB_COVER_RUNS }),
    /**
     * The daily restore test (docs/lifecycle.md, "Restore tests"): files sampled per server, and
     * whether every chunk of the recovery point is read back too (a full read of every volume).
     */
    restoreTests: z
      .object({
        enabled: z.boolean().default(true),
        filesPerServer: z
          .number()
          .int()
          .min(1)
          .max(RESTORE_TEST_MAX_FILES)
          .default(RESTORE_TEST_FILES_PER_SERVER),
        wholeVolume: z.boolean().default(false),
      })
      .strict()
      .default({ enabled: true, filesPerServer: RESTORE_TEST_FILES_PER_SERVER, wholeVolume: false }),
    budgets: z
      .object({
        /** GetSnapshotBlock requests per second per snapshot, all workers together (hard limit 1,000). */
        snapshotReadRequestsPerSecond: z.number().int().min(1).max(1_000).default(500),
        /** Range workers per backup (the Distributed Map's MaxConcurrency). */
        rangeWorkers: z.number().int().min(1).max(100).default(8),
      })
      .strict()
      .default({ snapshotReadRequestsPerSecond: 500, rangeWorkers: 8 }),
    api: z
      .object({
        throttlingRateLimit: z.number().min(1).max(10_000).default(20),
        throttlingBurstLimit: z.number().int().min(1).max(5_000).default(40),
      })
      .strict()
      .default({ throttlingRateLimit: 20, throttlingBurstLimit: 40 }),
    /** KMS keys of the replica volumes' snapshots (e.g. DRS's EBS key): the Lambdas may decrypt with them via EBS. */
    replicaKmsKeyArns: z.array(z.string().regex(/^arn:aws[a-z-]*:kms:/)).default([]),
    /**
     * Lambda functions (names or ARNs) that protection plans may name as hooks: the plan-run
     * function may invoke these and no others (docs/plans.md, Hooks).
     */
    planHookFunctions: z.array(lambdaFunctionReference).default([]),
    /**
     * Lambda functions (names or ARNs) that workflows may name as their masking hook: the
     * workflow-run function may invoke these and no others (docs/workflows.md, Masking hooks).
     */
    workflowMaskingFunctions: z.array(lambdaFunctionReference).default([]),
    /** Addresses subscribed to the outcome topic. */
    notificationEmails: z.array(z.email()).default([]),
    logRetentionDays: z
      .union([z.literal(30), z.literal(90), z.literal(180), z.literal(365), z.literal(731)])
      .default(365),
    /** `retain` keeps buckets, table and key when the stack is deleted; `destroy` removes them (tests, demos). */
    removalPolicy: z.enum(['retain', 'destroy']).default('retain'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    for (const [index, server] of config.servers.entries()) {
      if (server.schedules !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['servers', index, 'schedules'],
          message: configuredServerSchedulesProblem(server),
        });
      if (seen.has(server.serverId))
        ctx.addIssue({
          code: 'custom',
          path: ['servers', index, 'serverId'],
          message: `server ${server.serverId} is declared twice`,
        });
      seen.add(server.serverId);
      const selectorProblem = serverVolumeSelectorProblem(server);
      if (selectorProblem !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['servers', index, 'volumeSelector'],
          message: selectorProblem,
        });
      const waitsProblem = serverWaitsProblem(server);
      if (waitsProblem !== undefined)
        ctx.addIssue({ code: 'custom', path: ['servers', index], message: waitsProblem });
    }
    const stored = serverSettingsJson(configuredServerSettings(config)).length;
    if (stored > MAX_SERVER_SETTINGS_CHARS)
      ctx.addIssue({
        code: 'custom',
        path: ['servers'],
        message: `the probe, wait and volumeIds settings of the servers take ${stored} characters stored, more than the ${MAX_SERVER_SETTINGS_CHARS} the deployment writes (about 110 servers with every probe and wait setting, fewer with volume lists): configure fewer servers with settings of their own`,
      });
  });

export type ReplicaBackupConfig = z.infer<typeof replicaBackupConfigSchema>;
export type ProtectedServerConfig = z.infer<typeof protectedServerSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates a configuration object; ConfigError lists every problem with its path. */
export function parseConfig(raw: unknown, source = 'configuration'): ReplicaBackupConfig {
  const parsed = replicaBackupConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `  - ${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`,
    );
    throw new ConfigError(`invalid ${source}:\n${problems.join('\n')}`);
  }
  return parsed.data;
}

/**
 * The configuration from the `rbp:config` context value: an object, or the path of a JSON file.
 * No value means the defaults (no schedules; backups only on demand).
 */
export function loadConfig(
  contextValue: unknown,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): ReplicaBackupConfig {
  if (typeof contextValue === 'string') {
    let text: string;
    try {
      text = readFile(contextValue);
    } catch (error) {
      throw new ConfigError(`cannot read configuration file ${contextValue}: ${(error as Error).message}`);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`configuration file ${contextValue} is not JSON: ${(error as Error).message}`);
    }
    return parseConfig(raw, `configuration file ${contextValue}`);
  }
  return parseConfig(contextValue, `context ${CONFIG_CONTEXT_KEY}`);
}
