/**
 * A plan without rpoMinutes still watches its servers (review K §6 a): against twice the longest
 * gap between its scheduled runs, at least MIN_RPO_MINUTES; not when it is disabled, has no
 * schedule, or its runs are so sparse that the target would pass MAX_RPO_MINUTES.
 */
import { describe, expect, it } from 'vitest';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import {
  checkRpo,
  defaultRpoMinutes,
  longestScheduleGapMs,
  RPO_BREACHED,
  rpoWatchMinutes,
} from '../../lambdas/core/plans/rpo.ts';
import { FakeClock, server } from './fake-plan-ports.ts';

const HOUR_MS = 3_600_000;
const plan = (fields: Record<string, unknown>) =>
  parsePlanDocument({ name: 'p', activities: [{ servers: 'DB*' }], ...fields });
const at = (expression: string, timeZone = 'UTC') => ({ expression, timeZone });

describe('the default RPO target of a plan without rpoMinutes', () => {
  it('is twice the longest gap between runs of its schedules together', () => {
    expect(defaultRpoMinutes(plan({ schedules: [at('cron(0 1 * * ? *)')] }))).toBe(2_880);
    // Gaps are wall-clock: the 25-hour night summer time ends in Berlin is not counted.
    expect(defaultRpoMinutes(plan({ schedules: [at('cron(0 1 * * ? *)', 'Europe/Berlin')] }))).toBe(2_880);
    // Business hours on weekdays: Friday 17:45 to Monday 08:00.
    expect(longestScheduleGapMs([at('cron(0/15 8-17 ? * MON-FRI *)')])).toBe(62.25 * HOUR_MS);
    // Some months only: the gap from the end of June to January is longer than a week: no default.
    expect(defaultRpoMinutes(plan({ schedules: [at('cron(0 2 * 1-6 ? *)')] }))).toBeUndefined();
    // Every minute, as a cron: the year of firings is never listed (a pattern per day).
    expect(longestScheduleGapMs([at('cron(* * * * ? *)')])).toBe(60_000);
    expect(defaultRpoMinutes(plan({ schedules: [at('rate(6 hours)')] }))).toBe(720);
    // Weekdays only: Friday 02:00 to Monday 02:00 is the longest gap, three days.
    expect(longestScheduleGapMs([at('cron(0 2 ? * MON-FRI *)')])).toBe(72 * HOUR_MS);
    expect(defaultRpoMinutes(plan({ schedules: [at('cron(0 2 ? * MON-FRI *)')] }))).toBe(8_640);
    // A daily and a weekly schedule: the union runs daily.
    expect(defaultRpoMinutes(plan({ schedules: [at('cron(0 1 * * ? *)'), at('cron(0 3 ? * SUN *)')] }))).toBe(
      2_880,
    );
    // Too many firings to merge (a 15-minute cron for a year): the smallest gap of one schedule bounds it.
    expect(longestScheduleGapMs([at('cron(*/15 * * * ? *)'), at('cron(0 1 * * ? *)')])).toBe(15 * 60_000);
    // A minute rate next to a daily cron.
    expect(longestScheduleGapMs([at('rate(1 minute)'), at('cron(0 1 * * ? *)')])).toBe(60_000);
  });

  it('is at least MIN_RPO_MINUTES, and none past MAX_RPO_MINUTES (a weekly plan)', () => {
    expect(defaultRpoMinutes(plan({ schedules: [at('rate(1 minute)')] }))).toBe(5);
    expect(defaultRpoMinutes(plan({ schedules: [at('cron(0 3 ? * SUN *)')] }))).toBeUndefined();
    expect(defaultRpoMinutes(plan({ schedules: [at('rate(3 days)')] }))).toBe(8_640);
    expect(defaultRpoMinutes(plan({ schedules: [at('rate(4 days)')] }))).toBeUndefined();
  });

  it('is none for a disabled plan or one without schedules; rpoMinutes wins when set', () => {
    expect(defaultRpoMinutes(plan({ enabled: false, schedules: [at('rate(1 day)')] }))).toBeUndefined();
    expect(defaultRpoMinutes(plan({}))).toBeUndefined();
    expect(rpoWatchMinutes(plan({ schedules: [at('rate(1 day)')], rpoMinutes: 90 }))).toBe(90);
    expect(rpoWatchMinutes(plan({ schedules: [at('rate(1 day)')] }))).toBe(2_880);
    // A disabled plan keeps the target it sets itself.
    expect(rpoWatchMinutes(plan({ enabled: false, rpoMinutes: 90 }))).toBe(90);
  });

  it('makes the RPO check watch the servers of a daily plan without rpoMinutes', async () => {
    const document = plan({ schedules: [at('cron(0 1 * * ? *)')] });
    const published: unknown[] = [];
    const result = await checkRpo({
      clock: new FakeClock(new Date('2026-03-04T02:00:00.000Z')),
      plans: {
        list: () =>
          Promise.resolve([
            {
              formatVersion: 1,
              name: 'p',
              document,
              revision: 1,
              createdAt: '2026-01-01T00:00:00.000Z',
              updatedAt: '2026-01-01T00:00:00.000Z',
            },
          ]),
      },
      servers: { list: () => Promise.resolve([server('DB1'), server('DB2')]) },
      points: {
        newestPoints: () =>
          Promise.resolve(
            new Map([
              ['DB1', { recoveryPointId: 'rp-1', createdAt: '2026-03-03T01:10:00.000Z' }],
              ['DB2', { recoveryPointId: 'rp-2', createdAt: '2026-03-02T01:10:00.000Z' }],
            ]),
          ),
      },
      state: {
        list: () => Promise.resolve([]),
        put: () => Promise.resolve(),
        delete: () => Promise.resolve(),
      },
      publish: (events) => {
        published.push(...events);
        return Promise.resolve();
      },
    });
    expect(result).toMatchObject({ watched: 2, breached: 1 });
    expect(published).toEqual([
      {
        detailType: RPO_BREACHED,
        detail: {
          server: 'DB2',
          plan: 'p',
          targetMinutes: 2_880,
          achievedSeconds: 175_800,
          lastRecoveryPointId: 'rp-2',
        },
      },
    ]);
  });
});
