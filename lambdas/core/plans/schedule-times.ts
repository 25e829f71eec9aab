/**
 * When a schedule fires next, as EventBridge Scheduler computes it
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html): cron fields are
 * matched on the wall clock of the schedule's time zone, at minute precision; on the night the
 * clocks go forward a time that does not exist is skipped, and on the night they go back a
 * repeated time fires once (its first occurrence). A rate fires at its start and then every
 * period (a day is 24 hours, whatever daylight saving does to the wall clock).
 *
 * The local stack's scheduler uses this to fire the schedules stored in moto.
 */
import { wallClockOf, WEEKDAYS, type WallClock } from './local-time.ts';
import type { ScheduleExpression } from './schedule-expression.ts';

const MINUTE_MS = 60_000;
/** Slack when skipping a day that does not match: the largest daylight-saving shift is one hour; twice that is safe. */
const DAY_SKIP_SLACK_MINUTES = 120;
/** How far ahead a cron is searched: the year field reaches 2199, but a plan's next run is rarely years away. */
export const CRON_SEARCH_HORIZON_DAYS = 5 * 366;
/** Offsets at which a fall-back transition can repeat a wall-clock minute (Lord Howe moves 30 min, most zones 60). */
const REPEAT_OFFSETS_MINUTES = [30, 60];

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

function numberOf(text: string, names?: readonly string[]): number {
  if (/^\d+$/.test(text)) return Number(text);
  const index = names?.indexOf(text.toUpperCase()) ?? -1;
  if (index < 0) throw new RangeError(`not a cron value: ${text}`);
  return index + 1;
}

/** Values of a plain field element: `*`, `n`, `a-b`, with an optional `/step`. */
function plainValues(element: string, min: number, max: number, names?: readonly string[]): Set<number> {
  const [range = '*', stepText] = element.split('/');
  const step = stepText === undefined ? 1 : Number(stepText);
  let low = min;
  let high = max;
  if (range !== '*') {
    const [a, b] = range.split('-');
    low = numberOf(a ?? '', names);
    high = b === undefined ? (stepText === undefined ? low : max) : numberOf(b, names);
  }
  const values = new Set<number>();
  for (let v = low; v <= high; v += step) values.add(v);
  return values;
}

function fieldSet(field: string, min: number, max: number, names?: readonly string[]): Set<number> {
  const values = new Set<number>();
  for (const element of field.split(','))
    for (const v of plainValues(element, min, max, names)) values.add(v);
  return values;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** 1 = SUN ... 7 = SAT, as cron counts. */
function cronWeekday(clock: WallClock): number {
  return ((WEEKDAYS.indexOf(clock.weekday) + 1) % 7) + 1;
}

function weekdayOfDate(year: number, month: number, day: number): number {
  return new Date(Date.UTC(year, month - 1, day)).getUTCDay() + 1;
}

function dayOfMonthMatches(field: string, clock: WallClock): boolean {
  if (field === '?') return true;
  const last = daysInMonth(clock.year, clock.month);
  return field.split(',').some((element) => {
    if (element === 'L') return clock.day === last;
    const weekday = /^(\d+)W$/.exec(element);
    if (weekday?.[1] !== undefined) {
      // The weekday (MON-FRI) nearest to day n, without leaving the month.
      const n = Math.min(Number(weekday[1]), last);
      const dow = weekdayOfDate(clock.year, clock.month, n);
      let target = n;
      if (dow === 7) target = n === 1 ? 3 : n - 1;
      if (dow === 1) target = n === last ? n - 2 : n + 1;
      return clock.day === target;
    }
    return plainValues(element, 1, 31).has(clock.day);
  });
}

function dayOfWeekMatches(field: string, clock: WallClock): boolean {
  if (field === '?') return true;
  const dow = cronWeekday(clock);
  const last = daysInMonth(clock.year, clock.month);
  return field.split(',').some((element) => {
    if (element === 'L') return dow === 7;
    const lastOf = /^(.+)L$/.exec(element);
    if (lastOf?.[1] !== undefined) return dow === numberOf(lastOf[1], DAYS) && clock.day + 7 > last;
    const nth = /^(.+)#(\d+)$/.exec(element);
    if (nth?.[1] !== undefined && nth[2] !== undefined) {
      return dow === numberOf(nth[1], DAYS) && Math.ceil(clock.day / 7) === Number(nth[2]);
    }
    return plainValues(element, 1, 7, DAYS).has(dow);
  });
}

interface CronMatcher {
  readonly minutes: Set<number>;
  readonly hours: Set<number>;
  readonly months: Set<number>;
  readonly years: Set<number>;
  readonly dayOfMonth: string;
  readonly dayOfWeek: string;
}

function sameWallMinute(a: WallClock, b: WallClock): boolean {
  return (
    a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour && a.minute === b.minute
  );
}

/** The first minute strictly after `after` at which the cron fires, or undefined within the horizon. */
export function nextCronTime(
  fields: Extract<ScheduleExpression, { kind: 'cron' }>['fields'],
  timeZone: string,
  after: Date,
): Date | undefined {
  const matcher: CronMatcher = {
    minutes: fieldSet(fields.minutes, 0, 59),
    hours: fieldSet(fields.hours, 0, 23),
    months: fieldSet(fields.month, 1, 12, MONTHS),
    years: fieldSet(fields.year, 1970, 2199),
    dayOfMonth: fields.dayOfMonth,
    dayOfWeek: fields.dayOfWeek,
  };
  let t = Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const end = t + CRON_SEARCH_HORIZON_DAYS * 86_400_000;
  while (t < end) {
    const clock = wallClockOf(new Date(t), timeZone);
    const dayMatches =
      matcher.years.has(clock.year) &&
      matcher.months.has(clock.month) &&
      dayOfMonthMatches(matcher.dayOfMonth, clock) &&
      dayOfWeekMatches(matcher.dayOfWeek, clock);
    if (!dayMatches) {
      // Towards the next local midnight, stopping two hours short (a daylight-saving change moves
      // the wall clock by at most that much); the hour steps below do the rest exactly.
      const toMidnight = (23 - clock.hour) * 60 + (60 - clock.minute);
      t += Math.max(60 - clock.minute, toMidnight - DAY_SKIP_SLACK_MINUTES) * MINUTE_MS;
      continue;
    }
    if (!matcher.hours.has(clock.hour)) {
      t += (60 - clock.minute) * MINUTE_MS;
      continue;
    }
    if (!matcher.minutes.has(clock.minute)) {
      t += MINUTE_MS;
      continue;
    }
    const repeated = REPEAT_OFFSETS_MINUTES.some((offset) =>
      sameWallMinute(wallClockOf(new Date(t - offset * MINUTE_MS), timeZone), clock),
    );
    if (!repeated) return new Date(t);
    t += MINUTE_MS;
  }
  return undefined;
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/**
 * The first firing strictly after `after`. A rate counts from `startedAt` (when the schedule was
 * created, as Scheduler does without a StartDate) and fires at `startedAt` itself.
 */
export function nextFireTime(
  expression: ScheduleExpression,
  timeZone: string,
  after: Date,
  startedAt: Date,
): Date | undefined {
  if (expression.kind === 'cron') return nextCronTime(expression.fields, timeZone, after);
  const period = expression.value * UNIT_MS[expression.unit];
  const start = startedAt.getTime();
  if (after.getTime() < start) return new Date(start);
  return new Date(start + (Math.floor((after.getTime() - start) / period) + 1) * period);
}
