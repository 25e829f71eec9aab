/**
 * Wall-clock time in an IANA time zone, through Intl (the tz database that ships with Node's ICU),
 * so that daylight-saving changes follow the zone's rules without a table of our own:
 * https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Global_Objects/Intl/DateTimeFormat
 */

export const WEEKDAYS = ['MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const SHORT_TO_WEEKDAY: Readonly<Record<string, Weekday>> = {
  Mon: 'MON',
  Tue: 'TUE',
  Wed: 'WED',
  Thu: 'THU',
  Fri: 'FRI',
  Sat: 'SAT',
  Sun: 'SUN',
};

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/**
 * Why a time zone name is refused, or undefined when Intl knows it (`Europe/Berlin`, `UTC`, or a
 * tz-database link such as `Asia/Kolkata`). Intl also accepts names in any letter case
 * (`europe/berlin`); those are refused with the canonical spelling, so that the name stored in
 * the plan is the one EventBridge Scheduler is given.
 */
export function timeZoneProblem(name: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+){0,2}$/.test(name) || name.length > 64) {
    return `${JSON.stringify(name)} is not an IANA time zone name`;
  }
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    return `${JSON.stringify(name)} is not an IANA time zone name`;
  }
  if (resolved !== name && resolved.toLowerCase() === name.toLowerCase()) {
    return `time zone ${JSON.stringify(name)} must be spelled ${JSON.stringify(resolved)}`;
  }
  return undefined;
}

export interface LocalTime {
  readonly weekday: Weekday;
  /** Minutes since local midnight, 0-1439. */
  readonly minuteOfDay: number;
}

/** The weekday and time of day of an instant in a zone. */
export function localTimeOf(instant: Date, timeZone: string): LocalTime {
  let weekday: Weekday | undefined;
  let hour = 0;
  let minute = 0;
  for (const part of formatterFor(timeZone).formatToParts(instant)) {
    if (part.type === 'weekday') weekday = SHORT_TO_WEEKDAY[part.value];
    if (part.type === 'hour') hour = Number(part.value);
    if (part.type === 'minute') minute = Number(part.value);
  }
  if (weekday === undefined)
    throw new RangeError(`Intl gave no weekday for ${instant.toISOString()} in ${timeZone}`);
  return { weekday, minuteOfDay: hour * 60 + minute };
}

/** The weekday before `day`. */
export function previousWeekday(day: Weekday): Weekday {
  const index = WEEKDAYS.indexOf(day);
  return WEEKDAYS[(index + WEEKDAYS.length - 1) % WEEKDAYS.length] as Weekday;
}

/** `HH:MM` (00:00-23:59) as minutes since midnight, or undefined. */
export function parseClockTime(text: string): number | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) return undefined;
  return Number(match[1]) * 60 + Number(match[2]);
}

export function formatClockTime(minuteOfDay: number): string {
  const hours = Math.floor(minuteOfDay / 60);
  const minutes = minuteOfDay % 60;
  return `${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`;
}

/** The full wall-clock reading of an instant in a zone. */
export interface WallClock {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
  /** 1-31. */
  readonly day: number;
  readonly weekday: Weekday;
  readonly hour: number;
  readonly minute: number;
}

const wallFormatters = new Map<string, Intl.DateTimeFormat>();

export function wallClockOf(instant: Date, timeZone: string): WallClock {
  let formatter = wallFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    wallFormatters.set(timeZone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(instant)) parts[part.type] = part.value;
  const weekday = SHORT_TO_WEEKDAY[parts.weekday ?? ''];
  if (weekday === undefined)
    throw new RangeError(`Intl gave no weekday for ${instant.toISOString()} in ${timeZone}`);
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    weekday,
    hour: Number(parts.hour),
    minute: Number(parts.minute),
  };
}
