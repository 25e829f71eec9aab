import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { localTimeOf, timeZoneProblem, WEEKDAYS, type Weekday } from '../../lambdas/core/plans/local-time.ts';
import {
  isInsideWindow,
  outsideWindowReason,
  type MaintenanceWindow,
} from '../../lambdas/core/plans/window.ts';

const at = (iso: string) => new Date(iso);

describe('isInsideWindow', () => {
  const nightly: MaintenanceWindow = { days: ['MON'], start: '22:00', end: '02:00', timeZone: 'UTC' };

  it('a window crossing midnight belongs to the day it starts on and includes its end minute', () => {
    // 2026-03-02 is a Monday.
    expect(isInsideWindow(nightly, at('2026-03-02T21:59:59Z'))).toBe(false);
    expect(isInsideWindow(nightly, at('2026-03-02T22:00:00Z'))).toBe(true);
    expect(isInsideWindow(nightly, at('2026-03-02T23:59:59Z'))).toBe(true);
    expect(isInsideWindow(nightly, at('2026-03-03T00:00:00Z'))).toBe(true); // Tuesday morning, Monday's window
    expect(isInsideWindow(nightly, at('2026-03-03T02:00:59Z'))).toBe(true);
    expect(isInsideWindow(nightly, at('2026-03-03T02:01:00Z'))).toBe(false);
    expect(isInsideWindow(nightly, at('2026-03-03T22:30:00Z'))).toBe(false); // Tuesday evening: not a window day
    expect(isInsideWindow(nightly, at('2026-03-02T01:00:00Z'))).toBe(false); // Monday morning: Sunday's window
  });

  it('00:00-23:59 every day is always open', () => {
    const always: MaintenanceWindow = { days: [...WEEKDAYS], start: '00:00', end: '23:59', timeZone: 'UTC' };
    fc.assert(
      fc.property(
        fc.date({ min: at('1990-01-01T00:00:00Z'), max: at('2100-01-01T00:00:00Z'), noInvalidDate: true }),
        (d) => isInsideWindow(always, d),
      ),
    );
  });

  it('follows the zone: 01:00-05:00 Europe/Berlin is 00:00-04:00 UTC in winter and 23:00-03:00 UTC in summer', () => {
    const window: MaintenanceWindow = {
      days: [...WEEKDAYS],
      start: '01:00',
      end: '05:00',
      timeZone: 'Europe/Berlin',
    };
    expect(isInsideWindow(window, at('2026-01-15T00:00:00Z'))).toBe(true);
    expect(isInsideWindow(window, at('2026-01-15T23:30:00Z'))).toBe(false);
    expect(isInsideWindow(window, at('2026-07-15T23:30:00Z'))).toBe(true);
    expect(isInsideWindow(window, at('2026-07-16T03:30:00Z'))).toBe(false);
  });

  it('on the night the clocks go forward, a window inside the skipped hour never opens', () => {
    // Europe/Berlin skips 02:00-03:00 local on 2026-03-29 (01:00Z is 03:00 CEST).
    const skipped: MaintenanceWindow = {
      days: ['SUN'],
      start: '02:00',
      end: '02:30',
      timeZone: 'Europe/Berlin',
    };
    const minutes = Array.from(
      { length: 24 * 60 },
      (_, i) => new Date(Date.parse('2026-03-28T22:00:00Z') + i * 60_000),
    );
    expect(minutes.filter((m) => isInsideWindow(skipped, m))).toEqual([]);
  });

  it('on the night the clocks go back, a window inside the repeated hour is open twice', () => {
    // Europe/Berlin repeats 02:00-03:00 local on 2026-10-25 (00:00Z-01:00Z CEST, 01:00Z-02:00Z CET).
    const repeated: MaintenanceWindow = {
      days: ['SUN'],
      start: '02:00',
      end: '02:29',
      timeZone: 'Europe/Berlin',
    };
    const minutes = Array.from(
      { length: 6 * 60 },
      (_, i) => new Date(Date.parse('2026-10-24T22:00:00Z') + i * 60_000),
    );
    const open = minutes.filter((m) => isInsideWindow(repeated, m)).map((m) => m.toISOString());
    expect(open).toHaveLength(60);
    expect(open[0]).toBe('2026-10-25T00:00:00.000Z');
    expect(open[29]).toBe('2026-10-25T00:29:00.000Z');
    expect(open[30]).toBe('2026-10-25T01:00:00.000Z');
    expect(open[59]).toBe('2026-10-25T01:29:00.000Z');
  });

  it('property (UTC): inside iff the day/minute arithmetic says so', () => {
    const clock = fc.integer({ min: 0, max: 1439 });
    const days = fc.uniqueArray(fc.constantFrom(...WEEKDAYS), { minLength: 1, maxLength: 7 });
    const instant = fc.integer({
      min: Date.parse('2000-01-01T00:00:00Z'),
      max: Date.parse('2060-01-01T00:00:00Z'),
    });
    fc.assert(
      fc.property(days, clock, clock, instant, (windowDays, start, end, ms) => {
        fc.pre(start !== end);
        const hhmm = (m: number) =>
          `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
        const window: MaintenanceWindow = {
          days: windowDays,
          start: hhmm(start),
          end: hhmm(end),
          timeZone: 'UTC',
        };
        const d = new Date(ms);
        const minute = d.getUTCHours() * 60 + d.getUTCMinutes();
        const dayIndex = (d.getUTCDay() + 6) % 7; // MON = 0
        const today = WEEKDAYS[dayIndex] as Weekday;
        const yesterday = WEEKDAYS[(dayIndex + 6) % 7] as Weekday;
        const expected =
          start < end
            ? windowDays.includes(today) && minute >= start && minute <= end
            : (windowDays.includes(today) && minute >= start) ||
              (windowDays.includes(yesterday) && minute <= end);
        expect(isInsideWindow(window, d)).toBe(expected);
      }),
    );
  });

  it('explains where the clock stands', () => {
    expect(outsideWindowReason(nightly, at('2026-03-07T12:34:56Z'))).toBe(
      'outside the window MON 22:00-02:00 UTC (now SAT 12:34 UTC)',
    );
  });
});

describe('time zones', () => {
  it('accepts IANA names and links, refuses the rest', () => {
    expect(timeZoneProblem('Europe/Berlin')).toBeUndefined();
    expect(timeZoneProblem('UTC')).toBeUndefined();
    expect(timeZoneProblem('Asia/Kolkata')).toBeUndefined();
    expect(timeZoneProblem('America/Argentina/Buenos_Aires')).toBeUndefined();
    expect(timeZoneProblem('Mars/Olympus')).toBe('"Mars/Olympus" is not an IANA time zone name');
    expect(timeZoneProblem('+01:00')).toBe('"+01:00" is not an IANA time zone name');
    expect(timeZoneProblem('')).toBe('"" is not an IANA time zone name');
    expect(timeZoneProblem('utc')).toBe('time zone "utc" must be spelled "UTC"');
  });

  it('localTimeOf reads weekday and minute in the zone', () => {
    expect(localTimeOf(at('2026-03-29T01:30:00Z'), 'Europe/Berlin')).toEqual({
      weekday: 'SUN',
      minuteOfDay: 3 * 60 + 30,
    });
    expect(localTimeOf(at('2026-03-01T23:30:00Z'), 'Asia/Tokyo')).toEqual({
      weekday: 'MON',
      minuteOfDay: 8 * 60 + 30,
    });
  });
});
