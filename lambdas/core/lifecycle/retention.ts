/**
 * Retention: which images a rule set keeps and why, with the semantics of restic's `forget`
 * (https://restic.readthedocs.io/en/stable/060_forget.html), plus a minimum age and a per-image
 * legal hold. Pure: the caller passes the images, the rules, the time zone and "now".
 *
 * Semantics (docs/lifecycle.md has worked examples):
 * - Images are grouped (per server and source, or per volume); the rules apply to each group alone.
 * - A multi-volume server's images of one run form one recovery point; a point is kept or deleted
 *   as a whole, and its reasons are every image's reasons.
 * - Points are walked newest first. Every rule keeps points independently ("or"): `keepLast N`
 *   keeps the N newest; a bucket rule (`keepHourly` … `keepYearly`) keeps the newest point of each
 *   of the N newest buckets that hold a point (buckets in the server's IANA time zone; weeks are ISO
 *   weeks); `keepWithin D` keeps every point newer than the *newest point* minus D (not "now" minus
 *   D, so a server that stopped backing up does not lose its last images to the clock).
 * - When a bucket rule finds fewer buckets than its count, the oldest point is kept as well
 *   (restic ≥ 0.17: the history does not yet cover the count, so the oldest is its best stand-in).
 * - `minimumAge D` keeps every point newer than now minus D; a legal hold on any image of a point
 *   keeps the point. Neither uses up bucket counts.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';

/** restic's duration syntax: years, months, days, hours, e.g. `1y6m`, `7d`, `36h`. */
const DURATION_PATTERN = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$/;

export const retentionDurationSchema = z
  .string()
  .regex(DURATION_PATTERN, 'a duration such as 7d, 36h, 1y6m (years y, months m, days d, hours h)')
  .refine((value) => value !== '' && /[1-9]/.test(value), 'a duration must be longer than zero');

const countSchema = z.number().int().min(0).max(1_000_000);

/** The longest IANA zone name is 32 characters (America/Argentina/ComodRivadavia); room to spare. */
const MAX_TIME_ZONE_CHARS = 64;

/** True for a time zone `Intl` knows (IANA names, `UTC`). */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The rule set, as stored on a plan or as a server's default. Exported for plans. */
export const retentionRulesSchema = z
  .object({
    keepLast: countSchema.optional(),
    keepWithin: retentionDurationSchema.optional(),
    keepHourly: countSchema.optional(),
    keepDaily: countSchema.optional(),
    keepWeekly: countSchema.optional(),
    keepMonthly: countSchema.optional(),
    keepYearly: countSchema.optional(),
    /** Nothing younger than this is deleted, whatever the other rules say. */
    minimumAge: retentionDurationSchema.optional(),
    /**
     * The server's IANA time zone (e.g. `Europe/Berlin`): the hourly … yearly buckets are its
     * local calendar periods. Default UTC.
     */
    timeZone: z
      .string()
      .min(1)
      .max(MAX_TIME_ZONE_CHARS)
      .refine(isTimeZone, 'an IANA time zone such as Europe/Berlin or America/New_York')
      .optional(),
  })
  .strict()
  .refine(
    (rules) =>
      (rules.keepLast ?? 0) > 0 ||
      rules.keepWithin !== undefined ||
      BUCKET_RULES.some((rule) => (rules[rule.field] ?? 0) > 0),
    'at least one keep rule (keepLast, keepWithin, keepHourly … keepYearly) is required',
  );

export type RetentionRules = z.infer<typeof retentionRulesSchema>;

export interface RetentionImage {
  readonly imageId: string;
  readonly volumeId: string;
  /** ISO-8601 UTC. */
  readonly createdAt: string;
  /** Images of one run of a multi-volume server share it; absent = the image is its own point. */
  readonly recoveryPointId?: string;
  readonly legalHold?: boolean;
}

export interface RetentionDecision {
  readonly imageId: string;
  readonly volumeId: string;
  readonly createdAt: string;
  readonly recoveryPointId: string;
  readonly action: 'keep' | 'delete';
  /** Why it is kept, e.g. "daily 2026-11-30", "last 3", "legal hold"; empty when deleted. */
  readonly reasons: readonly string[];
}

export interface RetentionContext {
  readonly now: Date;
  /** IANA time zone of the server, e.g. "Europe/Berlin"; buckets are local calendar periods. */
  readonly timeZone: string;
}

type BucketField = 'keepHourly' | 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly';

interface BucketRule {
  readonly field: BucketField;
  readonly label: string;
  readonly bucket: (local: LocalTime) => string;
}

interface LocalTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** ISO 8601 week-numbering year and week of a calendar date. */
export function isoWeek(year: number, month: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday = 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week decides the year
  const weekYear = date.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(weekYear, 0, 4));
  const firstWeekday = (firstThursday.getUTCDay() + 6) % 7;
  firstThursday.setUTCDate(firstThursday.getUTCDate() - firstWeekday + 3);
  const week = 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86_400_000));
  return { year: weekYear, week };
}

const BUCKET_RULES: readonly BucketRule[] = [
  {
    field: 'keepHourly',
    label: 'hourly',
    bucket: (t) => `${t.year}-${pad(t.month)}-${pad(t.day)} ${pad(t.hour)}:00`,
  },
  { field: 'keepDaily', label: 'daily', bucket: (t) => `${t.year}-${pad(t.month)}-${pad(t.day)}` },
  {
    field: 'keepWeekly',
    label: 'weekly',
    bucket: (t) => {
      const w = isoWeek(t.year, t.month, t.day);
      return `${w.year}-W${pad(w.week)}`;
    },
  },
  { field: 'keepMonthly', label: 'monthly', bucket: (t) => `${t.year}-${pad(t.month)}` },
  { field: 'keepYearly', label: 'yearly', bucket: (t) => String(t.year) },
];

const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(instant: Date, timeZone: string): LocalTime {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone,
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        hourCycle: 'h23',
      });
    } catch (error) {
      throw new ValidationError(`unknown time zone ${JSON.stringify(timeZone)}`, {
        cause: error,
        context: { timeZone },
      });
    }
    formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(instant)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour! };
}

/** `instant` minus a restic duration, in calendar terms (months and years vary in length). */
export function subtractDuration(instant: Date, duration: string): Date {
  const match = DURATION_PATTERN.exec(duration);
  if (match === null) {
    throw new ValidationError(`invalid duration ${JSON.stringify(duration)}`, { context: { duration } });
  }
  const [, years, months, days, hours] = match.map((part) => Number(part ?? 0));
  const out = new Date(instant.getTime());
  out.setUTCFullYear(out.getUTCFullYear() - years!, out.getUTCMonth() - months!, out.getUTCDate() - days!);
  out.setTime(out.getTime() - hours! * 3_600_000);
  return out;
}

interface Point {
  readonly id: string;
  readonly createdAt: string;
  readonly time: number;
  readonly images: RetentionImage[];
  readonly held: boolean;
}

function pointsOf(images: readonly RetentionImage[]): Point[] {
  const byId = new Map<string, RetentionImage[]>();
  for (const image of images) {
    const id = image.recoveryPointId ?? `${image.volumeId}/${image.imageId}`;
    const list = byId.get(id);
    if (list === undefined) byId.set(id, [image]);
    else list.push(image);
  }
  const points: Point[] = [];
  for (const [id, members] of byId) {
    // A point's time is its newest image's: the run's snapshots are taken together.
    const createdAt = members.map((m) => m.createdAt).reduce((a, b) => (a > b ? a : b));
    const time = Date.parse(createdAt);
    if (Number.isNaN(time)) {
      throw new ValidationError(`image ${members[0]!.imageId} has an invalid createdAt ${createdAt}`, {
        context: { imageId: members[0]!.imageId, createdAt },
      });
    }
    points.push({ id, createdAt, time, images: members, held: members.some((m) => m.legalHold === true) });
  }
  // Newest first; ties broken by id so the outcome never depends on input order.
  return points.sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/**
 * Applies `rules` to one group of images (one server and source, or one volume). Every input image
 * appears in the output exactly once, newest first.
 */
export function applyRetention(
  images: readonly RetentionImage[],
  rulesInput: RetentionRules,
  context: RetentionContext,
): RetentionDecision[] {
  const parsed = retentionRulesSchema.safeParse(rulesInput);
  if (!parsed.success) {
    throw new ValidationError(
      `invalid retention rules: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      {
        cause: parsed.error,
      },
    );
  }
  const rules = parsed.data;
  const points = pointsOf(images);
  const reasons = new Map<string, string[]>(points.map((p) => [p.id, []]));
  const add = (point: Point, reason: string): void => {
    reasons.get(point.id)!.push(reason);
  };

  const keepLast = rules.keepLast ?? 0;
  const withinSince =
    rules.keepWithin === undefined || points.length === 0
      ? undefined
      : subtractDuration(new Date(points[0]!.time), rules.keepWithin).getTime();
  const youngSince =
    rules.minimumAge === undefined ? undefined : subtractDuration(context.now, rules.minimumAge).getTime();
  const buckets = BUCKET_RULES.map((rule) => ({
    rule,
    remaining: rules[rule.field] ?? 0,
    last: undefined as string | undefined,
  })).filter((b) => b.remaining > 0);

  points.forEach((point, index) => {
    if (point.held) add(point, 'legal hold');
    if (youngSince !== undefined && point.time > youngSince) add(point, 'minimum age');
    if (index < keepLast) add(point, `last ${keepLast}`);
    if (withinSince !== undefined && point.time > withinSince) add(point, `within ${rules.keepWithin}`);
    const local = buckets.length === 0 ? undefined : localTime(new Date(point.time), context.timeZone);
    for (const bucket of buckets) {
      const value = bucket.rule.bucket(local!);
      if (bucket.remaining > 0 && value !== bucket.last) {
        bucket.last = value;
        bucket.remaining -= 1;
        add(point, `${bucket.rule.label} ${value}`);
      }
    }
  });
  const oldest = points.at(-1);
  if (oldest !== undefined) {
    for (const bucket of buckets) {
      if (bucket.remaining > 0) add(oldest, `oldest ${bucket.rule.label}`);
    }
  }

  const decisions: RetentionDecision[] = [];
  for (const point of points) {
    const why = reasons.get(point.id)!;
    const members = [...point.images].sort((a, b) =>
      a.volumeId < b.volumeId ? -1 : a.volumeId > b.volumeId ? 1 : 0,
    );
    for (const image of members) {
      decisions.push({
        imageId: image.imageId,
        volumeId: image.volumeId,
        createdAt: image.createdAt,
        recoveryPointId: point.id,
        action: why.length > 0 ? 'keep' : 'delete',
        reasons: [...why],
      });
    }
  }
  return decisions;
}

/**
 * Applies `rules` to each group separately: a group is one server and source (`server#replica`,
 * `server#primary`) or one volume; rules never compare images of different groups.
 */
export function applyRetentionByGroup(
  images: readonly (RetentionImage & { readonly group: string })[],
  rules: RetentionRules,
  context: RetentionContext,
): Map<string, RetentionDecision[]> {
  const groups = new Map<string, RetentionImage[]>();
  for (const image of images) {
    const list = groups.get(image.group);
    if (list === undefined) groups.set(image.group, [image]);
    else list.push(image);
  }
  const out = new Map<string, RetentionDecision[]>();
  for (const [group, members] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.set(group, applyRetention(members, rules, context));
  }
  return out;
}

/** One line per image for people: `keep   img-1  2026-11-30T10:00:00.000Z  daily 2026-11-30, last 3`. */
export function formatRetentionDecision(decision: RetentionDecision): string {
  const what = decision.action === 'keep' ? decision.reasons.join(', ') : 'delete';
  return `${decision.action.padEnd(6)} ${decision.volumeId}/${decision.imageId}  ${decision.createdAt}  ${what}`;
}
