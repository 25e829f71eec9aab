import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseScheduleExpression,
  type ScheduleExpression,
} from '../../lambdas/core/plans/schedule-expression.ts';
import { nextFireTime } from '../../lambdas/core/plans/schedule-times.ts';

function expr(text: string): ScheduleExpression {
  const parsed = parseScheduleExpression(text);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.expression;
}

/** The next n firings after `from`. */
function firings(text: string, timeZone: string, from: string, n: number, startedAt = from): string[] {
  const out: string[] = [];
  let after = new Date(from);
  for (let i = 0; i < n; i += 1) {
    const next = nextFireTime(expr(text), timeZone, after, new Date(startedAt));
    if (next === undefined) break;
    out.push(next.toISOString());
    after = next;
  }
  return out;
}

describe('nextFireTime', () => {
  it('cron(0 1 * * ? *) in Europe/Berlin fires at 01:00 local: 00:00Z in winter, 23:00Z the day before in summer', () => {
    expect(firings('cron(0 1 * * ? *)', 'Europe/Berlin', '2026-03-27T12:00:00Z', 4)).toEqual([
      '2026-03-28T00:00:00.000Z',
      '2026-03-29T00:00:00.000Z', // still 01:00 CET: the clocks go forward at 02:00 that night
      '2026-03-29T23:00:00.000Z', // 01:00 CEST on 30 March
      '2026-03-30T23:00:00.000Z',
    ]);
  });

  it('skips a time that does not exist when the clocks go forward', () => {
    expect(firings('cron(30 2 * * ? *)', 'Europe/Berlin', '2026-03-28T00:00:00Z', 2)).toEqual([
      '2026-03-28T01:30:00.000Z',
      '2026-03-30T00:30:00.000Z', // no 02:30 on 29 March
    ]);
  });

  it('fires once for a time that repeats when the clocks go back', () => {
    expect(firings('cron(30 2 * * ? *)', 'Europe/Berlin', '2026-10-24T12:00:00Z', 2)).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST; 02:30 CET an hour later does not fire
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('understands L, W, # and names', () => {
    expect(firings('cron(0 12 L * ? *)', 'UTC', '2026-01-01T00:00:00Z', 3)).toEqual([
      '2026-01-31T12:00:00.000Z',
      '2026-02-28T12:00:00.000Z',
      '2026-03-31T12:00:00.000Z',
    ]);
    // 2026-02-01 is a Sunday: the nearest weekday in February is Monday the 2nd; 2026-08-15 is a Saturday: Friday the 14th.
    expect(firings('cron(0 9 1W FEB ? *)', 'UTC', '2026-01-01T00:00:00Z', 1)).toEqual([
      '2026-02-02T09:00:00.000Z',
    ]);
    expect(firings('cron(0 9 15W AUG ? 2026)', 'UTC', '2026-01-01T00:00:00Z', 1)).toEqual([
      '2026-08-14T09:00:00.000Z',
    ]);
    // The second Tuesday and the last Friday of the month.
    expect(firings('cron(0 9 ? * TUE#2 *)', 'UTC', '2026-03-01T00:00:00Z', 2)).toEqual([
      '2026-03-10T09:00:00.000Z',
      '2026-04-14T09:00:00.000Z',
    ]);
    expect(firings('cron(0 9 ? * 6L *)', 'UTC', '2026-03-01T00:00:00Z', 2)).toEqual([
      '2026-03-27T09:00:00.000Z',
      '2026-04-24T09:00:00.000Z',
    ]);
    expect(firings('cron(*/20 8-9 ? * MON-FRI 2026)', 'UTC', '2026-03-06T09:30:00Z', 4)).toEqual([
      '2026-03-06T09:40:00.000Z',
      '2026-03-09T08:00:00.000Z',
      '2026-03-09T08:20:00.000Z',
      '2026-03-09T08:40:00.000Z',
    ]);
  });

  it('a cron that can no longer fire has no next time', () => {
    expect(
      nextFireTime(expr('cron(0 0 1 1 ? 2025)'), 'UTC', new Date('2026-01-01T00:00:00Z'), new Date()),
    ).toBeUndefined();
  });

  it('rate: fires at the start, then every period of real time', () => {
    expect(firings('rate(1 minute)', 'UTC', '2026-03-01T00:00:00Z', 3, '2026-03-01T00:00:30Z')).toEqual([
      '2026-03-01T00:00:30.000Z',
      '2026-03-01T00:01:30.000Z',
      '2026-03-01T00:02:30.000Z',
    ]);
    expect(
      firings('rate(1 day)', 'Europe/Berlin', '2026-03-28T10:00:00Z', 2, '2026-03-27T10:00:00Z'),
    ).toEqual([
      '2026-03-29T10:00:00.000Z', // 24 hours, although the wall clock moved
      '2026-03-30T10:00:00.000Z',
    ]);
  });

  it('property: a cron fire time is a whole minute after `after` whose UTC fields match a UTC cron', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 59 }),
        fc.integer({ min: 0, max: 23 }),
        fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2030-01-01T00:00:00Z') }),
        (minute, hour, afterMs) => {
          const next = nextFireTime(
            expr(`cron(${minute} ${hour} * * ? *)`),
            'UTC',
            new Date(afterMs),
            new Date(afterMs),
          );
          expect(next).toBeDefined();
          const t = next!.getTime();
          expect(t).toBeGreaterThan(afterMs);
          expect(t - afterMs).toBeLessThanOrEqual(86_400_000);
          expect(next!.getUTCMinutes()).toBe(minute);
          expect(next!.getUTCHours()).toBe(hour);
          expect(next!.getUTCSeconds()).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
