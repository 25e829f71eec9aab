/**
 * Recovery point objectives of protection plans (docs/plans.md, "RPO"): the target a plan sets
 * (`rpoMinutes`), the RPO a server achieves (the age of its newest live recovery point), the gap a
 * plan task's recovery point closed, and the periodic check that publishes `RPO Breached` when a
 * server enters breach and `RPO Recovered` when it meets its target again, remembering which
 * servers are in breach so that a server that stays in breach is announced once. A server in
 * breach that stops being watched (its replica volumes are gone, or no plan with an RPO selects it)
 * did not recover: it gets `RPO Unwatched`, naming its last recovery point.
 *
 * A plan that is disabled still sets its rpoMinutes target: its servers are watched whether or not
 * it runs. A plan without rpoMinutes watches them against twice its longest gap between scheduled
 * runs (defaultRpoMinutes), so a plan that stops producing points is noticed without a setting.
 */
import type { PlanDocument } from './plan-document.ts';
import type { PlanRecord } from './plan-service.ts';
import { parseScheduleExpression, type ScheduleExpression } from './schedule-expression.ts';
import { nextFireTime } from './schedule-times.ts';
import type { ServerDirectory } from './plan-ports.ts';
import { plansSelecting } from './expansion.ts';
import type { ServerView } from './servers.ts';
import type { RecoveryPoint } from '../recovery-points/recovery-points.ts';
import type { Clock } from '../ports.ts';

/**
 * Shortest RPO target: the check runs every RPO_CHECK_MINUTES, so a shorter target could not be
 * told apart from a late check (the configuration's rpoAlarmMinutes has the same bounds).
 */
export const MIN_RPO_MINUTES = 5;
/** Longest RPO target: a week, CloudWatch's longest alarm evaluation, as for rpoAlarmMinutes. */
export const MAX_RPO_MINUTES = 10_080;
/**
 * How often the RPO check runs: the shortest target, so a breach is announced at most one
 * shortest target late, at one plan listing and one newest-point Query per watched server.
 */
export const RPO_CHECK_MINUTES = 5;
/**
 * Newest-first points read to find a task's point and the one before it: the task's point is the
 * server's newest unless other backups of the server committed since (another plan, a manual run).
 */
export const POINT_GAP_PAGE_SIZE = 10;

// ---- The default target of a plan without rpoMinutes -------------------------------------------

/** A plan without rpoMinutes watches its servers against this many times its longest gap between runs. */
export const DEFAULT_RPO_GAP_FACTOR = 2;
/** The gaps are looked for within a year, so a cron of some months or weekdays shows its longest. */
const DEFAULT_RPO_HORIZON_DAYS = 366;
/** Where the year starts: fixed, so a plan's default target does not change with the day it is read. */
const DEFAULT_RPO_REFERENCE_MS = Date.UTC(2026, 0, 1);
const DAY_MS = 86_400_000;
const RATE_UNIT_MS = { minute: 60_000, hour: 3_600_000, day: DAY_MS } as const;

type CronFields = Extract<ScheduleExpression, { kind: 'cron' }>['fields'];

/**
 * Firings listed to merge several schedules: a year of a 30-minute cron. Beyond it the merged gap
 * is bounded by the smallest gap of one schedule (a target a little looser than exact).
 */
const DEFAULT_RPO_MERGED_FIRINGS = 20_000;

/** A schedule's firings over the horizon as the times of day it fires at on the days it fires. */
interface DailyPattern {
  /** Milliseconds after midnight, ascending. */
  readonly times: readonly number[];
  /** Midnights (UTC milliseconds) of the days it fires, ascending. */
  readonly days: readonly number[];
}

/**
 * A cron's firings over the horizon in wall-clock time (UTC arithmetic: a daylight-saving hour is
 * ignored): its minutes and hours give the same times every day it fires, its day-of-month, month,
 * day-of-week and year fields the days. Found with the scheduler's own nextCronTime on two derived
 * crons, so the fields mean exactly what they mean when the schedule fires.
 */
function cronPattern(fields: CronFields): DailyPattern {
  const everyDay: ScheduleExpression = {
    kind: 'cron',
    fields: { ...fields, dayOfMonth: '*', month: '*', dayOfWeek: '?', year: '*' },
  };
  const times: number[] = [];
  let at = nextFireTime(everyDay, 'UTC', new Date(DEFAULT_RPO_REFERENCE_MS - 1), new Date(0));
  while (at !== undefined && at.getTime() < DEFAULT_RPO_REFERENCE_MS + DAY_MS) {
    times.push(at.getTime() - DEFAULT_RPO_REFERENCE_MS);
    at = nextFireTime(everyDay, 'UTC', at, new Date(0));
  }
  const midnights: ScheduleExpression = { kind: 'cron', fields: { ...fields, minutes: '0', hours: '0' } };
  const days: number[] = [];
  const end = DEFAULT_RPO_REFERENCE_MS + DEFAULT_RPO_HORIZON_DAYS * DAY_MS;
  // Each search starts at 23:00 of the last firing day, so it costs a few steps per day.
  for (let after = DEFAULT_RPO_REFERENCE_MS - 1; ;) {
    const day = nextFireTime(midnights, 'UTC', new Date(after), new Date(0));
    if (day === undefined || day.getTime() >= end) break;
    days.push(day.getTime());
    after = day.getTime() + DAY_MS - 3_600_000;
  }
  return { times, days };
}

/** The longest gap of one pattern: within a day, or from a day's last firing to the next day's first. */
function patternGapMs({ times, days }: DailyPattern): number | undefined {
  const first = times[0];
  const last = times[times.length - 1];
  if (first === undefined || last === undefined || days.length === 0) return undefined;
  let longest: number | undefined;
  for (let i = 1; i < times.length; i += 1) longest = Math.max(longest ?? 0, times[i]! - times[i - 1]!);
  for (let i = 1; i < days.length; i += 1)
    longest = Math.max(longest ?? 0, days[i]! + first - (days[i - 1]! + last));
  return longest;
}

/**
 * Milliseconds of the longest gap between consecutive firings of the schedules together, within
 * a year from a fixed reference, in wall-clock time; undefined without two firings.
 */
export function longestScheduleGapMs(schedules: PlanDocument['schedules']): number | undefined {
  const patterns: DailyPattern[] = [];
  const rates: number[] = [];
  for (const schedule of schedules) {
    const parsed = parseScheduleExpression(schedule.expression);
    if (!parsed.ok) continue;
    const expression = parsed.expression;
    if (expression.kind === 'cron') patterns.push(cronPattern(expression.fields));
    else rates.push(expression.value * RATE_UNIT_MS[expression.unit]);
  }
  const gaps = [...patterns.map(patternGapMs), ...rates].filter((g): g is number => g !== undefined);
  if (gaps.length <= 1) return gaps[0];
  const horizon = DEFAULT_RPO_HORIZON_DAYS * DAY_MS;
  const count =
    patterns.reduce((n, p) => n + p.times.length * p.days.length, 0) +
    rates.reduce((n, period) => n + Math.ceil(horizon / period), 0);
  if (count > DEFAULT_RPO_MERGED_FIRINGS) return Math.min(...gaps);
  const firings: number[] = [];
  for (const { times, days } of patterns)
    for (const day of days) for (const time of times) firings.push(day + time);
  for (const period of rates)
    for (let t = DEFAULT_RPO_REFERENCE_MS; t < DEFAULT_RPO_REFERENCE_MS + horizon; t += period)
      firings.push(t);
  const sorted = [...new Set(firings)].sort((a, b) => a - b);
  let longest = 0;
  for (let i = 1; i < sorted.length; i += 1) longest = Math.max(longest, sorted[i]! - sorted[i - 1]!);
  return longest;
}

const defaultTargets = new Map<string, number | undefined>();

/**
 * The RPO target of a plan that sets no rpoMinutes: DEFAULT_RPO_GAP_FACTOR times its schedules'
 * longest gap between runs, at least MIN_RPO_MINUTES. Undefined (nothing watched) for a disabled
 * plan or one without schedules (neither runs by itself, so a target would only ever be in breach),
 * and for schedules so sparse that the target would pass MAX_RPO_MINUTES (a weekly or monthly
 * plan: a week is the longest target the RPO alarm watches); such plans set rpoMinutes if they
 * want a watch.
 */
export function defaultRpoMinutes(document: Pick<PlanDocument, 'enabled' | 'schedules'>): number | undefined {
  if (!document.enabled || document.schedules.length === 0) return undefined;
  const key = JSON.stringify(document.schedules);
  if (!defaultTargets.has(key)) {
    const gap = longestScheduleGapMs(document.schedules);
    const minutes =
      gap === undefined
        ? undefined
        : Math.max(MIN_RPO_MINUTES, Math.ceil((DEFAULT_RPO_GAP_FACTOR * gap) / 60_000));
    defaultTargets.set(key, minutes === undefined || minutes > MAX_RPO_MINUTES ? undefined : minutes);
  }
  return defaultTargets.get(key);
}

/** The target a plan watches its servers against: its rpoMinutes, else its default (above). */
export function rpoWatchMinutes(
  document: Pick<PlanDocument, 'enabled' | 'schedules' | 'rpoMinutes'>,
): number | undefined {
  return document.rpoMinutes ?? defaultRpoMinutes(document);
}

/** EventBridge detail type when a watched server enters breach. */
export const RPO_BREACHED = 'RPO Breached';
/** EventBridge detail type when a server in breach meets its target again. */
export const RPO_RECOVERED = 'RPO Recovered';
/**
 * EventBridge detail type when a server in breach is no longer watched: nothing backs it up against
 * a target any more, which is no recovery and needs a person to say whether that is intended.
 */
export const RPO_UNWATCHED = 'RPO Unwatched';

/** The target of a server: the smallest `rpoMinutes` of the plans that select it. */
export interface RpoTarget {
  readonly targetMinutes: number;
  /** The plan that sets it (the first by name among equals). */
  readonly plan: string;
  /** When that plan was created: a server without any point is in breach once this is older than the target. */
  readonly since: string;
}

/** The RPO of one server as `GET /servers` shows it. */
export interface ServerRpo {
  /** The smallest rpoMinutes of the plans that select the server; absent when none sets one. */
  readonly targetMinutes?: number;
  /** Seconds since the server's newest live recovery point; absent when it has none. */
  readonly achievedSeconds?: number;
  /** True when achievedSeconds exceeds the target (or no point exists a target after the plan was made). */
  readonly breached: boolean;
}

/**
 * The plans with a target (rpoMinutes, or the default of an enabled scheduled plan) that select
 * `server`, reduced to the smallest target; undefined when none.
 */
export function rpoTargetOf(
  planNames: readonly string[],
  plans: ReadonlyMap<string, PlanRecord>,
): RpoTarget | undefined {
  let best: RpoTarget | undefined;
  for (const name of [...planNames].sort()) {
    const record = plans.get(name);
    const minutes = record === undefined ? undefined : rpoWatchMinutes(record.document);
    if (record === undefined || minutes === undefined) continue;
    if (best === undefined || minutes < best.targetMinutes)
      best = { targetMinutes: minutes, plan: name, since: record.createdAt };
  }
  return best;
}

/** Whole seconds from `then` (ISO 8601) to `now`; never negative (a clock slightly behind the writer's). */
export function secondsSince(then: string, now: Date): number {
  return Math.max(0, Math.floor((now.getTime() - Date.parse(then)) / 1000));
}

/**
 * A server's RPO from its target and the time of its newest live recovery point. Breached when
 * the point is older than the target; a server with no point is breached once the plan that sets
 * the target has existed longer than the target (it had the time to make one).
 */
export function serverRpo(
  target: RpoTarget | undefined,
  lastPointAt: string | undefined,
  now: Date,
): ServerRpo {
  const achievedSeconds = lastPointAt === undefined ? undefined : secondsSince(lastPointAt, now);
  const breached =
    target !== undefined && (achievedSeconds ?? secondsSince(target.since, now)) > target.targetMinutes * 60;
  return {
    ...(target === undefined ? {} : { targetMinutes: target.targetMinutes }),
    ...(achievedSeconds === undefined ? {} : { achievedSeconds }),
    breached,
  };
}

// ---- The gap a plan task's recovery point closed ----------------------------------------------

/** The server's recovery points a page at a time, newest first (RecoveryPointStore.pageByServer). */
export interface RecoveryPointPages {
  pageByServer(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ): Promise<{
    readonly points: readonly Pick<RecoveryPoint, 'recoveryPointId' | 'createdAt'>[];
    readonly nextToken?: string;
  }>;
}

/**
 * Seconds between the recovery point `recoveryPointId` of `server` and the server's point before
 * it: the RPO the task achieved. Reads at most two pages of POINT_GAP_PAGE_SIZE points, newest
 * first. Undefined when the point is not among them or is the server's first.
 */
export async function pointGapSeconds(
  points: RecoveryPointPages,
  server: string,
  recoveryPointId: string,
): Promise<number | undefined> {
  const first = await points.pageByServer(server, { limit: POINT_GAP_PAGE_SIZE });
  let seen = [...first.points];
  let at = seen.findIndex((p) => p.recoveryPointId === recoveryPointId);
  if ((at < 0 || at === seen.length - 1) && first.nextToken !== undefined) {
    const second = await points.pageByServer(server, { limit: POINT_GAP_PAGE_SIZE, token: first.nextToken });
    seen = [...seen, ...second.points];
    at = seen.findIndex((p) => p.recoveryPointId === recoveryPointId);
  }
  const point = seen[at];
  const previous = seen[at + 1];
  if (at < 0 || point === undefined || previous === undefined) return undefined;
  return Math.max(0, Math.round((Date.parse(point.createdAt) - Date.parse(previous.createdAt)) / 1000));
}

// ---- The periodic check -----------------------------------------------------------------------

/** A server recorded in breach (one item per server). */
export interface RpoBreachRecord {
  readonly server: string;
  readonly plan: string;
  readonly targetMinutes: number;
  /** When the check first found the server in breach. */
  readonly since: string;
}

/** The servers in breach, remembered between checks. */
export interface RpoStateStore {
  /** Every server recorded in breach. */
  list(): Promise<readonly RpoBreachRecord[]>;
  put(record: RpoBreachRecord): Promise<void>;
  /** Absent is success. */
  delete(server: string): Promise<void>;
}

/** The newest live recovery point per server (RecoveryPointService.newestPoints). */
export interface NewestRecoveryPoints {
  newestPoints(
    serverIds: readonly string[],
  ): Promise<ReadonlyMap<string, Pick<RecoveryPoint, 'recoveryPointId' | 'createdAt'>>>;
}

export interface RpoBreachedDetail {
  readonly server: string;
  readonly plan: string;
  readonly targetMinutes: number;
  /** Absent when the server has no recovery point. */
  readonly achievedSeconds?: number;
  readonly lastRecoveryPointId?: string;
}

export interface RpoRecoveredDetail extends RpoBreachedDetail {
  /** When the server entered breach. */
  readonly breachedSince: string;
  /** A new recovery point met the target. */
  readonly why: 'met';
}

export interface RpoUnwatchedDetail {
  readonly server: string;
  /** The plan whose target the server was in breach of. */
  readonly plan: string;
  readonly targetMinutes: number;
  /** When the server entered breach. */
  readonly breachedSince: string;
  /**
   * `no-replica-volumes`: the server directory no longer lists the server (its replica volumes are
   * gone or untagged); `no-rpo-plan`: it is listed, but no plan with rpoMinutes selects it any more.
   */
  readonly why: 'no-replica-volumes' | 'no-rpo-plan';
  /** The server's newest live recovery point; both absent when it has none. */
  readonly lastRecoveryPointId?: string;
  readonly lastRecoveryPointAt?: string;
}

export type RpoEvent =
  | { readonly detailType: typeof RPO_BREACHED; readonly detail: RpoBreachedDetail }
  | { readonly detailType: typeof RPO_RECOVERED; readonly detail: RpoRecoveredDetail }
  | { readonly detailType: typeof RPO_UNWATCHED; readonly detail: RpoUnwatchedDetail };

export interface RpoCheckPorts {
  readonly clock: Clock;
  readonly plans: { list(): Promise<readonly PlanRecord[]> };
  readonly servers: Pick<ServerDirectory, 'list'>;
  readonly points: NewestRecoveryPoints;
  readonly state: RpoStateStore;
  /** Publishes the events; throws (retryably) when it could not, before any state is written. */
  readonly publish: (events: readonly RpoEvent[]) => Promise<void>;
}

export interface RpoCheckResult {
  /** Servers selected by a plan with rpoMinutes. */
  readonly watched: number;
  /** Of those, the servers in breach now: the ServersRpoBreached metric. */
  readonly breached: number;
  readonly events: readonly RpoEvent[];
}

/** Every server with a target, and that target. */
function watchedServers(
  servers: readonly ServerView[],
  plans: readonly PlanRecord[],
): Map<string, RpoTarget> {
  const withTarget = plans.filter((p) => rpoWatchMinutes(p.document) !== undefined);
  const byName = new Map(withTarget.map((p) => [p.name, p]));
  const documents = withTarget.map((p) => p.document);
  const watched = new Map<string, RpoTarget>();
  for (const server of servers) {
    const target = rpoTargetOf(plansSelecting(server, documents), byName);
    if (target !== undefined) watched.set(server.name, target);
  }
  return watched;
}

/**
 * One check: the plans, the recorded breaches, every server once (when a plan has an RPO or a
 * breach is recorded), one newest-point lookup per watched or recorded server. A server that
 * entered breach gets `RPO Breached` and a record; one that met its target again gets `RPO
 * Recovered` and its record removed; a recorded one that is no longer watched gets `RPO Unwatched`
 * and its record removed; one that stays either way gets nothing. Events are published before the
 * records are written: a check that fails in between repeats an event, never loses one.
 */
export async function checkRpo(ports: RpoCheckPorts): Promise<RpoCheckResult> {
  const plans = await ports.plans.list();
  const recorded = new Map((await ports.state.list()).map((r) => [r.server, r]));
  const listed =
    recorded.size > 0 || plans.some((p) => rpoWatchMinutes(p.document) !== undefined)
      ? await ports.servers.list()
      : [];
  const watched = watchedServers(listed, plans);
  const looked = [...new Set([...watched.keys(), ...recorded.keys()])].sort();
  const newest =
    looked.length === 0
      ? new Map<string, Pick<RecoveryPoint, 'recoveryPointId' | 'createdAt'>>()
      : await ports.points.newestPoints(looked);
  const now = ports.clock.now();
  const events: RpoEvent[] = [];
  const entered: RpoBreachRecord[] = [];
  const left: string[] = [];
  let breached = 0;
  for (const [server, target] of [...watched.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const last = newest.get(server);
    const rpo = serverRpo(target, last?.createdAt, now);
    const detail: RpoBreachedDetail = {
      server,
      plan: target.plan,
      targetMinutes: target.targetMinutes,
      ...(rpo.achievedSeconds === undefined ? {} : { achievedSeconds: rpo.achievedSeconds }),
      ...(last === undefined ? {} : { lastRecoveryPointId: last.recoveryPointId }),
    };
    const before = recorded.get(server);
    if (rpo.breached) {
      breached += 1;
      if (before === undefined) {
        events.push({ detailType: RPO_BREACHED, detail });
        entered.push({
          server,
          plan: target.plan,
          targetMinutes: target.targetMinutes,
          since: now.toISOString(),
        });
      }
    } else if (before !== undefined) {
      events.push({
        detailType: RPO_RECOVERED,
        detail: { ...detail, breachedSince: before.since, why: 'met' },
      });
      left.push(server);
    }
  }
  const present = new Set(listed.map((s) => s.name));
  for (const [server, before] of [...recorded.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (watched.has(server)) continue;
    const last = newest.get(server);
    events.push({
      detailType: RPO_UNWATCHED,
      detail: {
        server,
        plan: before.plan,
        targetMinutes: before.targetMinutes,
        breachedSince: before.since,
        why: present.has(server) ? 'no-rpo-plan' : 'no-replica-volumes',
        ...(last === undefined
          ? {}
          : { lastRecoveryPointId: last.recoveryPointId, lastRecoveryPointAt: last.createdAt }),
      },
    });
    left.push(server);
  }
  if (events.length > 0) await ports.publish(events);
  for (const record of entered) await ports.state.put(record);
  for (const server of left) await ports.state.delete(server);
  return { watched: watched.size, breached, events };
}
