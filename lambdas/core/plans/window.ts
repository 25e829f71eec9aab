/**
 * Maintenance windows: days of the week, a start and an end time of day, a time zone. A window
 * belongs to the day it starts on; when `end` is earlier than `start` it crosses midnight and
 * ends on the next day. The end minute is inside the window (`00:00`-`23:59` is the whole day;
 * `22:00`-`02:00` on MON runs from Monday 22:00:00 to Tuesday 02:00:59).
 *
 * The test is on wall-clock time in the window's zone, so daylight-saving changes behave as the
 * clock on the wall does: on the night the clocks go forward, a window of 02:00-02:30 in a zone
 * that skips 02:00-03:00 never opens; on the night they go back, 02:00-02:30 is open twice.
 */
import { formatClockTime, localTimeOf, parseClockTime, previousWeekday, type Weekday } from './local-time.ts';

export interface MaintenanceWindow {
  readonly days: readonly Weekday[];
  /** `HH:MM`, 24-hour. */
  readonly start: string;
  /** `HH:MM`, 24-hour; earlier than `start` when the window crosses midnight. */
  readonly end: string;
  readonly timeZone: string;
}

function minutesOf(text: string): number {
  const minutes = parseClockTime(text);
  if (minutes === undefined) throw new RangeError(`not an HH:MM time: ${text}`);
  return minutes;
}

/** True when `instant` is inside the window. */
export function isInsideWindow(window: MaintenanceWindow, instant: Date): boolean {
  const { weekday, minuteOfDay } = localTimeOf(instant, window.timeZone);
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  const days = new Set(window.days);
  if (start <= end) return days.has(weekday) && minuteOfDay >= start && minuteOfDay <= end;
  // Crosses midnight: the evening part belongs to today, the morning part to yesterday's window.
  if (minuteOfDay >= start) return days.has(weekday);
  if (minuteOfDay <= end) return days.has(previousWeekday(weekday));
  return false;
}

/** A human description, e.g. `MON,TUE 22:00-02:00 Europe/Berlin`. */
export function describeWindow(window: MaintenanceWindow): string {
  return `${window.days.join(',')} ${window.start}-${window.end} ${window.timeZone}`;
}

/** Why `instant` is outside, e.g. `outside the window MON 01:00-05:00 UTC (now SAT 12:00 UTC)`. */
export function outsideWindowReason(window: MaintenanceWindow, instant: Date): string {
  const { weekday, minuteOfDay } = localTimeOf(instant, window.timeZone);
  return `outside the window ${describeWindow(window)} (now ${weekday} ${formatClockTime(minuteOfDay)} ${window.timeZone})`;
}
