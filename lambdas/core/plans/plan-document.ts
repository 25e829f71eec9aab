/**
 * The protection plan document (format version 1, docs/plans.md): one zod schema, strict at every
 * level (an unknown field is an error, so a typo never silently changes what a plan backs up),
 * and `parsePlanDocument`, which lists every problem at once with its path.
 */
import { z } from 'zod';
import { DocumentValidationError, type DocumentIssue } from '../errors.ts';
import { documentIssuesOf, issuesSentence } from '../util/document-issues.ts';
import { timeZoneProblem, WEEKDAYS } from './local-time.ts';
import { parseClockTime } from './local-time.ts';
import { retentionRulesSchema } from '../lifecycle/retention.ts';
import { parseScheduleExpression } from './schedule-expression.ts';
import { MAX_RPO_MINUTES, MIN_RPO_MINUTES } from './rpo.ts';

/**
 * Longest plan name: EventBridge Scheduler names are at most 64 characters, and a plan's
 * schedules are named `<plan>--<index>` (index below MAX_SCHEDULES_PER_PLAN).
 */
export const MAX_PLAN_NAME_CHARS = 60;
export const PLAN_NAME_PATTERN = /^[A-Za-z0-9_-]+$/;
/** Schedules per plan: a handful of times a day covers every plan we know of. */
export const MAX_SCHEDULES_PER_PLAN = 10;
/** Activities per plan: one per customer or tier; beyond this a plan is better split. */
export const MAX_ACTIVITIES_PER_PLAN = 100;
/** Server names per activity list. */
export const MAX_SERVERS_PER_ACTIVITY = 500;
/** Longest server pattern: the replica tag value rbp:source-server is at most 128 characters here. */
export const MAX_SERVER_PATTERN_CHARS = 128;
/** Longest application pattern: application names are at most 128 characters (application metadata). */
export const MAX_APPLICATION_PATTERN_CHARS = 128;
/** Tag filters per activity: EC2 allows 50 tags per volume. */
export const MAX_TAG_FILTERS = 50;
/**
 * Longest hook timeout: a hook is invoked synchronously by the Lambda that advances the run,
 * which lives at most 900 s (Lambda's limit) and needs time of its own around the call.
 */
export const MAX_HOOK_TIMEOUT_SECONDS = 600;
/** Hook timeout when the plan gives none: a script that checks or flushes something is quick. */
export const DEFAULT_HOOK_TIMEOUT_SECONDS = 60;
/** Longest quiesce or release timeout: an application that needs longer should not be quiesced. */
export const MAX_QUIESCE_TIMEOUT_SECONDS = 3_600;
/**
 * Replica lag accepted when the activity gives none: a continuously replicating server is
 * seconds behind; a minute behind means replication is not keeping up.
 */
export const DEFAULT_REPLICA_MAX_LAG_SECONDS = 60;
/** Largest replica lag a plan may accept: a day-old replica is not a recovery point anyone wants. */
export const MAX_REPLICA_LAG_SECONDS = 86_400;
/** Tasks run at once when the plan says nothing: one, so a plan never loads the destination in parallel. */
export const DEFAULT_MAX_CONCURRENT_TASKS = 1;
/** Most tasks at once: EC2 allows 100 concurrent snapshot copies / pending snapshots per account and region. */
export const MAX_CONCURRENT_TASKS = 50;

/** Server names and patterns: the alphabet of server ids (rbp:source-server) plus `*` and `?`. */
export const SERVER_PATTERN = /^[A-Za-z0-9._:*?-]+$/;
/** A Lambda function name (with an optional version or alias) or its ARN. */
export const HOOK_FUNCTION_PATTERN =
  /^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?[A-Za-z0-9_-]{1,64}(?::(?:\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;

const timeZoneSchema = z.string().superRefine((name, context) => {
  const problem = timeZoneProblem(name);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

const clockTimeSchema = z
  .string()
  .refine((text) => parseClockTime(text) !== undefined, 'must be a 24-hour time HH:MM (00:00-23:59)');

export const windowSchema = z
  .strictObject({
    days: z
      .array(z.enum(WEEKDAYS))
      .min(1)
      .refine((days) => new Set(days).size === days.length, 'days must not repeat'),
    start: clockTimeSchema,
    end: clockTimeSchema,
    timeZone: timeZoneSchema,
  })
  .refine((w) => w.start !== w.end, {
    message: 'start and end must differ (00:00-23:59 is the whole day)',
    path: ['end'],
  });

export const scheduleSchema = z.strictObject({
  expression: z.string().superRefine((text, context) => {
    const parsed = parseScheduleExpression(text);
    if (!parsed.ok)
      for (const problem of parsed.problems) context.addIssue({ code: 'custom', message: problem });
  }),
  timeZone: timeZoneSchema,
});

export const hookSchema = z.strictObject({
  function: z
    .string()
    .regex(
      HOOK_FUNCTION_PATTERN,
      'must be a Lambda function name (1-64 of A-Z a-z 0-9 _ -, optional :alias) or its ARN',
    ),
  timeoutSeconds: z.number().int().min(1).max(MAX_HOOK_TIMEOUT_SECONDS).default(DEFAULT_HOOK_TIMEOUT_SECONDS),
});

const serverPatternSchema = z
  .string()
  .min(1)
  .max(MAX_SERVER_PATTERN_CHARS)
  .regex(SERVER_PATTERN, 'must be a server name or pattern: A-Z a-z 0-9 . _ : - and the wildcards * and ?');

const applicationPatternSchema = z
  .string()
  .min(1)
  .max(MAX_APPLICATION_PATTERN_CHARS)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters');

export const SOURCE_PREFERENCES = [
  'replica-only',
  'primary-only',
  'prefer-replica',
  'prefer-primary',
] as const;
export type SourcePreference = (typeof SOURCE_PREFERENCES)[number];

export const activitySchema = z.strictObject({
  /** A server name, a wildcard pattern, or a list of them. */
  servers: z
    .union([serverPatternSchema, z.array(serverPatternSchema).min(1).max(MAX_SERVERS_PER_ACTIVITY)])
    .optional(),
  /** Servers one of whose replica volumes carries every one of these tags. */
  tags: z
    .record(
      z
        .string()
        .min(1)
        .max(128)
        .refine((k) => !k.startsWith('aws:'), 'tag keys starting with aws: are reserved'),
      z.string().max(256),
    )
    .refine(
      (tags) => Object.keys(tags).length >= 1 && Object.keys(tags).length <= MAX_TAG_FILTERS,
      `give 1-${MAX_TAG_FILTERS} tags`,
    )
    .optional(),
  /** A pattern over the application names the replication agent reports for the server. */
  applications: applicationPatternSchema.optional(),
  source: z.enum(SOURCE_PREFERENCES).default('prefer-replica'),
  replica: z
    .strictObject({
      maxLagSeconds: z
        .number()
        .int()
        .min(0)
        .max(MAX_REPLICA_LAG_SECONDS)
        .default(DEFAULT_REPLICA_MAX_LAG_SECONDS),
    })
    .default({ maxLagSeconds: DEFAULT_REPLICA_MAX_LAG_SECONDS }),
  quiesce: z
    .strictObject({
      timeoutSeconds: z.number().int().min(1).max(MAX_QUIESCE_TIMEOUT_SECONDS),
      /** How long the release may take; the quiesce timeout when not given. */
      releaseTimeoutSeconds: z.number().int().min(1).max(MAX_QUIESCE_TIMEOUT_SECONDS).optional(),
    })
    .optional(),
  preTaskHook: hookSchema.optional(),
  postTaskHook: hookSchema.optional(),
  window: windowSchema.optional(),
});

export const planDocumentSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(MAX_PLAN_NAME_CHARS)
    .regex(PLAN_NAME_PATTERN, 'must be letters, digits, - and _ only'),
  enabled: z.boolean().default(true),
  schedules: z.array(scheduleSchema).max(MAX_SCHEDULES_PER_PLAN).default([]),
  window: windowSchema.optional(),
  prePlanHook: hookSchema.optional(),
  retention: retentionRulesSchema.optional(),
  /**
   * The RPO target of every server the plan selects: minutes without a live recovery point before
   * the server is in breach (`RPO Breached`, the ServersRpoBreached alarm); watched also while the
   * plan is disabled. Absent: an enabled plan with schedules watches against twice the longest gap
   * between its runs (rpo.ts defaultRpoMinutes).
   */
  rpoMinutes: z.number().int().min(MIN_RPO_MINUTES).max(MAX_RPO_MINUTES).optional(),
  maxConcurrentTasks: z.number().int().min(1).max(MAX_CONCURRENT_TASKS).default(DEFAULT_MAX_CONCURRENT_TASKS),
  activities: z.array(activitySchema).min(1).max(MAX_ACTIVITIES_PER_PLAN),
});

/** A plan with every default filled in: what is stored and what runs. */
export type PlanDocument = z.infer<typeof planDocumentSchema>;
export type Activity = PlanDocument['activities'][number];
export type Hook = z.infer<typeof hookSchema>;

/**
 * Checks across the fields of an activity, made on the raw input so that they are reported even
 * when the same activity has other problems (zod skips refinements of an object that already
 * failed).
 */
function crossFieldIssues(raw: unknown): DocumentIssue[] {
  if (typeof raw !== 'object' || raw === null) return [];
  const activities = (raw as { activities?: unknown }).activities;
  if (!Array.isArray(activities)) return [];
  const issues: DocumentIssue[] = [];
  activities.forEach((activity: unknown, index) => {
    if (typeof activity !== 'object' || activity === null) return;
    const hasServers = (activity as { servers?: unknown }).servers !== undefined;
    const hasTags = (activity as { tags?: unknown }).tags !== undefined;
    if (hasServers === hasTags) {
      issues.push({ field: `activities.${index}`, message: 'give exactly one of servers and tags' });
    }
  });
  return issues;
}

/**
 * Validates a plan document; throws DocumentValidationError naming every problem (fields as dotted
 * paths, e.g. `activities.1.quiesce.timeoutSeconds`; `(plan)` for the whole document).
 */
export function parsePlanDocument(raw: unknown): PlanDocument {
  const parsed = planDocumentSchema.safeParse(raw);
  const issues = [
    ...(parsed.success ? [] : documentIssuesOf(parsed.error, '(plan)')),
    ...crossFieldIssues(raw),
  ];
  if (parsed.success && issues.length === 0) return parsed.data;
  throw new DocumentValidationError(issuesSentence('invalid plan', issues), issues);
}
