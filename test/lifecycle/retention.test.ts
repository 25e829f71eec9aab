import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import type { RetentionImage, RetentionRules } from '../../lambdas/core/lifecycle/retention.ts';
import {
  applyRetention,
  applyRetentionByGroup,
  formatRetentionDecision,
  isoWeek,
  retentionRulesSchema,
  subtractDuration,
} from '../../lambdas/core/lifecycle/retention.ts';

const UTC = { now: new Date('2026-12-01T00:00:00.000Z'), timeZone: 'UTC' };

function image(imageId: string, createdAt: string, extra: Partial<RetentionImage> = {}): RetentionImage {
  return { imageId, volumeId: 'vol-1', createdAt, ...extra };
}

/** Images every 6 hours from 2026-11-20T00:00Z to 2026-11-30T18:00Z (44 images, newest last). */
function sixHourly(): RetentionImage[] {
  const out: RetentionImage[] = [];
  for (let i = 0; i < 44; i += 1) {
    const at = new Date(Date.UTC(2026, 10, 20) + i * 6 * 3_600_000).toISOString();
    out.push(image(`i${String(i).padStart(2, '0')}`, at));
  }
  return out;
}

function kept(decisions: ReturnType<typeof applyRetention>): Record<string, string> {
  return Object.fromEntries(
    decisions.filter((d) => d.action === 'keep').map((d) => [d.imageId, d.reasons.join(', ')]),
  );
}

describe('retention rules (restic forget semantics)', () => {
  it.each<{ readonly title: string; readonly rules: RetentionRules; readonly kept: Record<string, string> }>([
    {
      title: 'keep-last 3 and keep-daily 2 keep the 3 newest plus the newest of the previous day',
      rules: { keepLast: 3, keepDaily: 2 },
      kept: { i43: 'last 3, daily 2026-11-30', i42: 'last 3', i41: 'last 3', i39: 'daily 2026-11-29' },
    },
    {
      // 2026-11-20 … 11-30 spans ISO weeks 47, 48 and 49 (11-30 is a Monday), one month.
      title: 'weekly, monthly and yearly buckets; a rule with too few buckets also keeps the oldest image',
      rules: { keepWeekly: 3, keepMonthly: 5 },
      kept: {
        i43: 'weekly 2026-W49, monthly 2026-11',
        i39: 'weekly 2026-W48',
        i11: 'weekly 2026-W47',
        i00: 'oldest monthly',
      },
    },
  ])('$title', ({ rules, kept: expected }) => {
    expect(kept(applyRetention(sixHourly(), rules, UTC))).toEqual(expected);
  });

  it('keep-last 3 and keep-daily 2 decide every image, and each decision prints on one line', () => {
    const decisions = applyRetention(sixHourly(), { keepLast: 3, keepDaily: 2 }, UTC);
    expect(decisions).toHaveLength(44);
    expect(decisions.filter((d) => d.action === 'delete')).toHaveLength(40);
    expect(formatRetentionDecision(decisions[0]!)).toBe(
      'keep   vol-1/i43  2026-11-30T18:00:00.000Z  last 3, daily 2026-11-30',
    );
    expect(formatRetentionDecision(decisions[3]!)).toBe('delete vol-1/i40  2026-11-30T00:00:00.000Z  delete');
  });

  it('keep-within counts from the newest image, not from now', () => {
    const decisions = applyRetention(
      sixHourly(),
      { keepWithin: '1d' },
      { ...UTC, now: new Date('2027-06-01T00:00:00Z') },
    );
    // Newest is 2026-11-30T18:00; "within 1d" = strictly newer than 2026-11-29T18:00.
    expect(Object.keys(kept(decisions))).toEqual(['i43', 'i42', 'i41', 'i40']);
    expect(kept(decisions).i40).toBe('within 1d');
  });

  it('hourly and daily buckets are periods of the server time zone', () => {
    const images = [
      image('a', '2026-11-29T22:30:00.000Z'), // 23:30 in Berlin, 29th
      image('b', '2026-11-29T23:30:00.000Z'), // 00:30 in Berlin, 30th
      image('c', '2026-11-29T21:00:00.000Z'), // 22:00 in Berlin, 29th
    ];
    expect(kept(applyRetention(images, { keepDaily: 2 }, { ...UTC, timeZone: 'Europe/Berlin' }))).toEqual({
      b: 'daily 2026-11-30',
      a: 'daily 2026-11-29',
    });
    expect(kept(applyRetention(images, { keepDaily: 2 }, UTC))).toEqual({
      b: 'daily 2026-11-29',
      c: 'oldest daily',
    });
    expect(kept(applyRetention(images, { keepHourly: 1 }, { ...UTC, timeZone: 'Asia/Kolkata' }))).toEqual({
      b: 'hourly 2026-11-30 05:00',
    });
  });

  it('legal hold and minimum age keep images no rule keeps, without using up bucket counts', () => {
    const images = sixHourly().map((i) => (i.imageId === 'i05' ? { ...i, legalHold: true } : i));
    const decisions = applyRetention(
      images,
      { keepLast: 1, minimumAge: '12h' },
      {
        ...UTC,
        now: new Date('2026-11-30T20:00:00.000Z'),
      },
    );
    expect(kept(decisions)).toEqual({
      i43: 'minimum age, last 1',
      i42: 'minimum age',
      i05: 'legal hold',
    });
  });

  it('a recovery point is kept or deleted whole, with its newest image time', () => {
    const images = [
      image('p1-a', '2026-11-30T10:00:00.000Z', { volumeId: 'vol-a', recoveryPointId: 'p1' }),
      image('p1-b', '2026-11-30T10:00:05.000Z', { volumeId: 'vol-b', recoveryPointId: 'p1' }),
      image('p2-a', '2026-11-30T11:00:00.000Z', { volumeId: 'vol-a', recoveryPointId: 'p2' }),
      image('p2-b', '2026-11-30T11:00:03.000Z', {
        volumeId: 'vol-b',
        recoveryPointId: 'p2',
        legalHold: false,
      }),
      image('p0-b', '2026-11-29T11:00:03.000Z', {
        volumeId: 'vol-b',
        recoveryPointId: 'p0',
        legalHold: true,
      }),
      image('p0-a', '2026-11-29T11:00:00.000Z', { volumeId: 'vol-a', recoveryPointId: 'p0' }),
    ];
    const decisions = applyRetention(images, { keepLast: 1 }, UTC);
    expect(decisions.map((d) => [d.imageId, d.recoveryPointId, d.action, d.reasons.join(',')])).toEqual([
      ['p2-a', 'p2', 'keep', 'last 1'],
      ['p2-b', 'p2', 'keep', 'last 1'],
      ['p1-a', 'p1', 'delete', ''],
      ['p1-b', 'p1', 'delete', ''],
      ['p0-a', 'p0', 'keep', 'legal hold'],
      ['p0-b', 'p0', 'keep', 'legal hold'],
    ]);
  });

  it('groups never see each other (per server and source)', () => {
    const result = applyRetentionByGroup(
      [
        { ...image('r1', '2026-11-30T10:00:00.000Z'), group: 'srv-1#replica' },
        { ...image('r2', '2026-11-30T11:00:00.000Z'), group: 'srv-1#replica' },
        { ...image('p1', '2026-11-29T10:00:00.000Z'), group: 'srv-1#primary' },
      ],
      { keepLast: 1 },
      UTC,
    );
    expect([...result.keys()]).toEqual(['srv-1#primary', 'srv-1#replica']);
    expect(kept(result.get('srv-1#primary')!)).toEqual({ p1: 'last 1' });
    expect(kept(result.get('srv-1#replica')!)).toEqual({ r2: 'last 1' });
  });

  it('refuses rule sets that keep nothing, bad durations and unknown time zones', () => {
    expect(() => applyRetention([], { minimumAge: '1d' }, UTC)).toThrow(
      'invalid retention rules: at least one keep rule (keepLast, keepWithin, keepHourly … keepYearly) is required',
    );
    expect(() => applyRetention([], { keepLast: 0 }, UTC)).toThrow(ValidationError);
    expect(retentionRulesSchema.safeParse({ keepWithin: '7x' }).success).toBe(false);
    expect(retentionRulesSchema.safeParse({ keepWithin: '0d' }).success).toBe(false);
    expect(retentionRulesSchema.safeParse({ keepLast: 2, extra: 1 }).success).toBe(false);
    expect(() =>
      applyRetention(
        [image('a', '2026-11-30T10:00:00.000Z')],
        { keepDaily: 1 },
        { ...UTC, timeZone: 'Mars/Base' },
      ),
    ).toThrow('unknown time zone "Mars/Base"');
  });

  it('durations subtract calendar months and years; ISO weeks match the calendar', () => {
    expect(subtractDuration(new Date('2026-03-31T12:00:00Z'), '1m').toISOString()).toBe(
      '2026-03-03T12:00:00.000Z',
    );
    expect(subtractDuration(new Date('2026-12-01T00:00:00Z'), '1y2d3h').toISOString()).toBe(
      '2025-11-28T21:00:00.000Z',
    );
    expect(isoWeek(2021, 1, 3)).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(2024, 12, 30)).toEqual({ year: 2025, week: 1 });
    expect(isoWeek(2026, 11, 30)).toEqual({ year: 2026, week: 49 });
  });
});

const START = Date.UTC(2025, 0, 1);
const imagesArb = fc
  .uniqueArray(
    fc.record({
      offsetMinutes: fc.integer({ min: 0, max: 2 * 365 * 24 * 60 }),
      legalHold: fc.boolean(),
      point: fc.integer({ min: 0, max: 40 }),
    }),
    { minLength: 0, maxLength: 60, selector: (r) => r.offsetMinutes },
  )
  .map((list) =>
    list.map((r, i) =>
      image(`img-${i}`, new Date(START + r.offsetMinutes * 60_000).toISOString(), {
        legalHold: r.legalHold && r.point % 7 === 0,
      }),
    ),
  );
const rulesArb: fc.Arbitrary<RetentionRules> = fc
  .record(
    {
      keepLast: fc.integer({ min: 0, max: 6 }),
      keepWithin: fc.constantFrom('12h', '3d', '2m', '1y'),
      keepHourly: fc.integer({ min: 0, max: 6 }),
      keepDaily: fc.integer({ min: 0, max: 10 }),
      keepWeekly: fc.integer({ min: 0, max: 6 }),
      keepMonthly: fc.integer({ min: 0, max: 12 }),
      keepYearly: fc.integer({ min: 0, max: 3 }),
      minimumAge: fc.constantFrom('6h', '30d'),
    },
    { requiredKeys: [] },
  )
  .filter((rules) => retentionRulesSchema.safeParse(rules).success);
const contextArb = fc.record({
  now: fc.integer({ min: START, max: START + 800 * 86_400_000 }).map((t) => new Date(t)),
  timeZone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/St_Johns', 'Pacific/Chatham', 'Asia/Kolkata'),
});

describe('retention properties', () => {
  it('never deletes a held or too young image; every image decided once; applying twice = once', () => {
    fc.assert(
      fc.property(imagesArb, rulesArb, contextArb, (images, rules, context) => {
        const decisions = applyRetention(images, rules, context);
        expect(decisions.map((d) => d.imageId).sort()).toEqual(images.map((i) => i.imageId).sort());
        const youngSince =
          rules.minimumAge === undefined
            ? Infinity
            : subtractDuration(context.now, rules.minimumAge).getTime();
        const byId = new Map(images.map((i) => [i.imageId, i]));
        for (const d of decisions) {
          const source = byId.get(d.imageId)!;
          if (source.legalHold === true || Date.parse(source.createdAt) > youngSince)
            expect(d.action).toBe('keep');
          expect(d.action === 'keep').toBe(d.reasons.length > 0);
        }
        // The newest image is always kept (every rule set keeps something).
        if (images.length > 0) expect(decisions[0]!.action).toBe('keep');
        const survivors = images.filter(
          (i) => decisions.find((d) => d.imageId === i.imageId)!.action === 'keep',
        );
        const again = applyRetention(survivors, rules, context);
        expect(again.every((d) => d.action === 'keep')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('keep-last N alone keeps exactly the N newest', () => {
    fc.assert(
      fc.property(imagesArb, fc.integer({ min: 1, max: 10 }), (images, n) => {
        const unheld = images.map((i) => ({ ...i, legalHold: false }));
        const decisions = applyRetention(unheld, { keepLast: n }, UTC);
        const newest = [...unheld]
          .sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))
          .slice(0, n)
          .map((i) => i.imageId)
          .sort();
        expect(
          decisions
            .filter((d) => d.action === 'keep')
            .map((d) => d.imageId)
            .sort(),
        ).toEqual(newest);
      }),
    );
  });

  it('a bucket rule keeps at most one image per bucket (plus the oldest) and at most N buckets', () => {
    fc.assert(
      fc.property(imagesArb, fc.integer({ min: 1, max: 8 }), contextArb, (images, n, context) => {
        const unheld = images.map((i) => ({ ...i, legalHold: false }));
        const decisions = applyRetention(unheld, { keepDaily: n }, context);
        const daily = decisions.flatMap((d) => d.reasons.filter((r) => r.startsWith('daily ')));
        expect(new Set(daily).size).toBe(daily.length);
        expect(daily.length).toBe(Math.min(n, daily.length));
        const keptCount = decisions.filter((d) => d.action === 'keep').length;
        expect(keptCount).toBeLessThanOrEqual(n + 1);
      }),
    );
  });
});
