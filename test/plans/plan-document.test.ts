import { describe, expect, it } from 'vitest';
import { parsePlanDocument, type PlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { parseScheduleExpression } from '../../lambdas/core/plans/schedule-expression.ts';
import { refusalOf } from '../support/document-problems.ts';
import { docsExample, NIGHTLY_QA } from './plan-fixtures.ts';

const EXAMPLE_TEXT = `{
  "name": "nightly-qa",
  "enabled": true,
  "schedules": [{ "expression": "cron(0 1 * * ? *)", "timeZone": "Europe/Berlin" }],
  "window": { "days": ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"], "start": "00:00", "end": "23:59", "timeZone": "UTC" },
  "activities": [
    { "servers": "QA*" },
    { "servers": ["TEST8", "TEST9"], "applications": "DOMAIN*", "quiesce": { "timeoutSeconds": 60 } }
  ]
}`;

function problemsOf(raw: unknown): readonly { field: string; message: string }[] {
  return refusalOf(parsePlanDocument, raw).issues;
}

describe('parsePlanDocument', () => {
  it("accepts the issue's example exactly as written and fills the documented defaults", () => {
    const plan: PlanDocument = parsePlanDocument(JSON.parse(EXAMPLE_TEXT));
    expect(plan).toEqual({
      ...NIGHTLY_QA,
      maxConcurrentTasks: 1,
      activities: [
        { servers: 'QA*', source: 'prefer-replica', replica: { maxLagSeconds: 60 } },
        {
          servers: ['TEST8', 'TEST9'],
          applications: 'DOMAIN*',
          source: 'prefer-replica',
          replica: { maxLagSeconds: 60 },
          quiesce: { timeoutSeconds: 60 },
        },
      ],
    });
    // Parsing its own output gives the same plan (what is stored parses again unchanged).
    expect(parsePlanDocument(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  it('accepts every documented field', () => {
    const plan = parsePlanDocument({
      name: 'full_plan-2',
      enabled: false,
      schedules: [
        { expression: 'rate(1 day)', timeZone: 'Asia/Kolkata' },
        { expression: 'cron(15,45 */2 ? JAN-JUN MON-FRI 2026-2030)', timeZone: 'America/New_York' },
        { expression: 'cron(0 3 L * ? *)', timeZone: 'UTC' },
        { expression: 'cron(0 3 ? * 6L *)', timeZone: 'UTC' },
        { expression: 'cron(0 3 ? * 2#1 *)', timeZone: 'UTC' },
        { expression: 'cron(0 3 15W * ? *)', timeZone: 'UTC' },
      ],
      window: { days: ['SAT'], start: '22:00', end: '04:00', timeZone: 'Europe/Berlin' },
      prePlanHook: {
        function: 'arn:aws:lambda:eu-west-1:123456789012:function:check-freeze:live',
        timeoutSeconds: 30,
      },
      retention: { keepLast: 3, keepDaily: 7, keepWithin: '1y6m', minimumAge: '36h' },
      maxConcurrentTasks: 4,
      activities: [
        {
          tags: { customer: 'acme', tier: 'gold' },
          applications: 'orders-?b',
          source: 'replica-only',
          replica: { maxLagSeconds: 300 },
          quiesce: { timeoutSeconds: 120, releaseTimeoutSeconds: 30 },
          preTaskHook: { function: 'flush-caches' },
          postTaskHook: { function: 'resume', timeoutSeconds: 600 },
          window: { days: ['SUN'], start: '01:00', end: '02:00', timeZone: 'UTC' },
        },
      ],
    });
    expect(plan.activities[0]?.preTaskHook).toEqual({ function: 'flush-caches', timeoutSeconds: 60 });
  });

  it('lists every problem of a bad plan at once, with its path, and accepts nothing', () => {
    const raw = {
      name: 'bad name!',
      colour: 'blue',
      schedules: [
        { expression: 'cron(0 1 * * * *)', timeZone: 'Europe/Berlin' },
        { expression: 'rate(5 minute)', timeZone: 'Mars/Olympus' },
      ],
      window: { days: ['MON', 'MON'], start: '25:00', end: '01:00' },
      prePlanHook: { function: 'no spaces', timeoutSeconds: 601 },
      retention: { minimumAge: '7 days' },
      maxConcurrentTasks: 0,
      activities: [
        { servers: 'QA[1]' },
        { servers: ['TEST8'], tags: { tier: 'gold' }, source: 'whatever', quiesce: {} },
        { applications: 'DOMAIN*', extra: true },
      ],
    };
    expect(problemsOf(raw)).toEqual([
      { field: 'name', message: 'must be letters, digits, - and _ only' },
      {
        field: 'schedules.0.expression',
        message: 'cron: exactly one of day-of-month and day-of-week must be ?',
      },
      { field: 'schedules.1.expression', message: 'rate: a value above 1 takes the plural unit minutes' },
      { field: 'schedules.1.timeZone', message: '"Mars/Olympus" is not an IANA time zone name' },
      { field: 'window.days', message: 'days must not repeat' },
      { field: 'window.start', message: 'must be a 24-hour time HH:MM (00:00-23:59)' },
      { field: 'window.timeZone', message: 'is required' },
      {
        field: 'prePlanHook.function',
        message: 'must be a Lambda function name (1-64 of A-Z a-z 0-9 _ -, optional :alias) or its ARN',
      },
      { field: 'prePlanHook.timeoutSeconds', message: 'Too big: expected number to be <=600' },
      {
        field: 'retention.minimumAge',
        message: 'a duration such as 7d, 36h, 1y6m (years y, months m, days d, hours h)',
      },
      {
        field: 'retention',
        message: 'at least one keep rule (keepLast, keepWithin, keepHourly … keepYearly) is required',
      },
      { field: 'maxConcurrentTasks', message: 'Too small: expected number to be >=1' },
      {
        field: 'activities.0.servers',
        message: 'must be a server name or pattern: A-Z a-z 0-9 . _ : - and the wildcards * and ?',
      },
      {
        field: 'activities.1.source',
        message:
          'Invalid option: expected one of "replica-only"|"primary-only"|"prefer-replica"|"prefer-primary"',
      },
      { field: 'activities.1.quiesce.timeoutSeconds', message: 'is required' },
      { field: 'activities.2', message: 'Unrecognized key: "extra"' },
      { field: '(plan)', message: 'Unrecognized key: "colour"' },
      { field: 'activities.1', message: 'give exactly one of servers and tags' },
      { field: 'activities.2', message: 'give exactly one of servers and tags' },
    ]);
  });

  it('says so in one message that names every path', () => {
    expect(() =>
      parsePlanDocument({
        name: 'x',
        activities: [{ servers: 'A' }],
        window: { days: ['MON'], start: '01:00', end: '02:00' },
      }),
    ).toThrow('invalid plan: window.timeZone: is required');
    expect(() => parsePlanDocument({ name: 'x', activities: [] })).toThrow(
      'invalid plan: activities: Too small: expected array to have >=1 items',
    );
  });

  it('refuses a window whose start equals its end, and time zones Intl spells differently', () => {
    expect(
      problemsOf({
        name: 'x',
        activities: [{ servers: 'A' }],
        window: { days: ['MON'], start: '01:00', end: '01:00', timeZone: 'europe/berlin' },
      }),
    ).toEqual([
      { field: 'window.timeZone', message: 'time zone "europe/berlin" must be spelled "Europe/Berlin"' },
      { field: 'window.end', message: 'start and end must differ (00:00-23:59 is the whole day)' },
    ]);
  });

  it('refuses retention without any keep rule (it would delete everything)', () => {
    expect(
      problemsOf({ name: 'x', activities: [{ servers: 'A' }], retention: { minimumAge: '7d' } }),
    ).toEqual([
      {
        field: 'retention',
        message: 'at least one keep rule (keepLast, keepWithin, keepHourly … keepYearly) is required',
      },
    ]);
  });
});

describe('parseScheduleExpression', () => {
  it.each([
    'rate(1 minute)',
    'rate(5 minutes)',
    'rate(1 hour)',
    'rate(12 hours)',
    'rate(7 days)',
    'cron(0 1 * * ? *)',
    'cron(*/5 8-17 ? * MON-FRI *)',
    'cron(0/15 * * * ? *)',
    'cron(0 0 1,15 * ? 2026)',
    'cron(30 2 ? DEC SUN#2 *)',
    'cron(59 23 31 12 ? 2199)',
  ])('accepts %s', (text) => {
    expect(parseScheduleExpression(text).ok).toBe(true);
  });

  it.each([
    [
      'cron(0 1 * * *)',
      'cron: must have six fields separated by single spaces: minutes hours day-of-month month day-of-week year',
    ],
    ['cron(60 1 * * ? *)', 'minutes: 60 is outside 0-59'],
    ['cron(0 24 * * ? *)', 'hours: 24 is outside 0-23'],
    ['cron(0 1 0 * ? *)', 'day-of-month: 0 is outside 1-31'],
    ['cron(0 1 * 13 ? *)', 'month: 13 is outside 1-12'],
    ['cron(0 1 ? * 8 *)', 'day-of-week: 8 is outside 1-7'],
    ['cron(0 1 ? * MON/2 *)', 'day-of-week: / is not allowed in this field'],
    ['cron(0 1 * * ? 1969)', 'year: 1969 is outside 1970-2199'],
    ['cron(? 1 * * ? *)', 'minutes: ? is allowed only in day-of-month or day-of-week'],
    ['cron(0 1 ? * ? *)', 'cron: exactly one of day-of-month and day-of-week must be ?'],
    ['cron(0 5-1 * * ? *)', 'hours: range 5-1 runs backwards'],
    ['cron(0 1 ? * MON#6 *)', 'day-of-week: #6 must be 1-5'],
    ['cron(0 1 * FOO ? *)', 'month: "FOO" is not a value'],
    ['cron(*/0 1 * * ? *)', 'minutes: step "0" must be a positive integer'],
    ['rate(0 minutes)', 'rate: value must be 1-525600'],
    ['rate(1 minutes)', 'rate: a value of 1 takes the singular unit minute'],
    ['rate(5 weeks)', 'rate: must be rate(<positive integer> minute(s)|hour(s)|day(s))'],
    ['at(2026-01-01T00:00:00)', 'must be cron(...) or rate(...)'],
    ['cron(0 1 * * ? *) ', 'must be cron(...) or rate(...)'],
  ])('refuses %s: %s', (text, problem) => {
    expect(parseScheduleExpression(text)).toEqual({ ok: false, problems: [problem] });
  });
});

describe('docs/plans.md', () => {
  it("documents the issue's example plan, and that document is accepted as written", async () => {
    const block = await docsExample();
    expect(block).toBeDefined();
    expect(JSON.parse(block)).toEqual(JSON.parse(EXAMPLE_TEXT));
    expect(parsePlanDocument(JSON.parse(block))).toEqual(parsePlanDocument(JSON.parse(EXAMPLE_TEXT)));
  });
});
