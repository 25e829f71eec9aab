/**
 * GFS buckets in the server's time zone around daylight-saving changes: for random images within
 * days of a transition (spring forward, fall back, Lord Howe's 30-minute shift, a zone without
 * DST), the daily and hourly rules keep exactly the newest image of each of the N newest local
 * days/hours, labelled with that local date. The oracle computes local time independently of the
 * implementation: UTC plus the zone's offset at that instant (Intl's `longOffset` name).
 * Also: the zone comes from the rules, else the server's stored rules (retention-apply.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyRetention, retentionRulesSchema } from '../../lambdas/core/lifecycle/retention.ts';
import {
  applyRetentionRequest,
  type RetentionApplyDeps,
  type StoredRetention,
} from '../../lambdas/core/lifecycle/retention-apply.ts';
import { newWorld, writeImage } from './lifecycle-fixture.ts';

const MINUTE_MS = 60_000;

/** Transitions (UTC) and their zones. */
const TRANSITIONS: readonly { zone: string; at: string }[] = [
  { zone: 'Europe/Berlin', at: '2026-03-29T01:00:00Z' }, // 02:00 → 03:00
  { zone: 'Europe/Berlin', at: '2026-10-25T01:00:00Z' }, // 03:00 → 02:00 (02:xx twice)
  { zone: 'America/New_York', at: '2026-03-08T07:00:00Z' },
  { zone: 'America/New_York', at: '2026-11-01T06:00:00Z' },
  { zone: 'Australia/Lord_Howe', at: '2026-04-04T15:00:00Z' }, // 02:00 → 01:30
  { zone: 'Asia/Kolkata', at: '2026-03-29T01:00:00Z' }, // +05:30, no DST
];

const offsetFormats = new Map<string, Intl.DateTimeFormat>();

/** The zone's UTC offset in minutes at `instant`, from its "GMT+hh:mm" name. */
function offsetMinutes(instant: number, zone: string): number {
  let format = offsetFormats.get(zone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, timeZoneName: 'longOffset' });
    offsetFormats.set(zone, format);
  }
  const name = format.formatToParts(new Date(instant)).find((p) => p.type === 'timeZoneName')!.value;
  const match = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(name);
  if (match === null) throw new Error(`unexpected offset name ${name}`);
  if (match[1] === undefined) return 0;
  const minutes = Number(match[2]) * 60 + Number(match[3]);
  return match[1] === '-' ? -minutes : minutes;
}

/** Local wall time as `YYYY-MM-DDTHH`. */
function localStamp(instant: number, zone: string): string {
  return new Date(instant + offsetMinutes(instant, zone) * MINUTE_MS).toISOString().slice(0, 13);
}

function expectedKept(
  instants: readonly number[],
  zone: string,
  count: number,
  bucketOf: (stamp: string) => string,
) {
  const newestPerBucket = new Map<string, number>();
  for (const t of [...instants].sort((a, b) => b - a)) {
    const bucket = bucketOf(localStamp(t, zone));
    if (!newestPerBucket.has(bucket)) newestPerBucket.set(bucket, t);
  }
  return new Map([...newestPerBucket].slice(0, count).map(([bucket, t]) => [t, bucket]));
}

describe('retention buckets in the server time zone (property)', () => {
  it('keeps the newest image of each of the N newest local days and hours across DST changes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...TRANSITIONS),
        fc.uniqueArray(fc.integer({ min: -3 * 24 * 60, max: 3 * 24 * 60 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom('daily' as const, 'hourly' as const),
        ({ zone, at }, minutes, count, rule) => {
          const base = Date.parse(at);
          const instants = minutes.map((m) => base + m * MINUTE_MS);
          const images = instants.map((t) => ({
            imageId: `i${t}`,
            volumeId: 'vol-1',
            createdAt: new Date(t).toISOString(),
          }));
          const rules = rule === 'daily' ? { keepDaily: count } : { keepHourly: count };
          const decisions = applyRetention(images, rules, {
            now: new Date(base + 10 * 86_400_000),
            timeZone: zone,
          });
          const bucketOf =
            rule === 'daily'
              ? (s: string) => s.slice(0, 10)
              : (s: string) => `${s.slice(0, 10)} ${s.slice(11, 13)}:00`;
          const want = expectedKept(instants, zone, count, bucketOf);
          const got = new Map<number, string>();
          for (const d of decisions) {
            const reason = d.reasons.find((r) => r.startsWith(`${rule} `));
            if (reason !== undefined) got.set(Date.parse(d.createdAt), reason.slice(rule.length + 1));
          }
          expect(got).toEqual(want);
          // Fewer buckets than the count: the oldest image stands in for the missing history.
          const oldest = decisions.find((d) => Date.parse(d.createdAt) === Math.min(...instants))!;
          if (want.size < count && !want.has(Math.min(...instants))) {
            expect(oldest.reasons).toContain(`oldest ${rule}`);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('an image at 23:30 UTC is in the next local day in Berlin; the zone is part of the rules', () => {
    const image = { imageId: 'a', volumeId: 'vol-1', createdAt: '2026-11-29T23:30:00.000Z' };
    const other = { imageId: 'b', volumeId: 'vol-1', createdAt: '2026-11-29T12:00:00.000Z' };
    const now = new Date('2026-12-10T00:00:00Z');
    const berlin = applyRetention([image, other], { keepDaily: 2 }, { now, timeZone: 'Europe/Berlin' });
    expect(berlin.map((d) => d.reasons)).toEqual([['daily 2026-11-30'], ['daily 2026-11-29']]);
    expect(retentionRulesSchema.safeParse({ keepDaily: 7, timeZone: 'Europe/Berlin' }).success).toBe(true);
    const bad = retentionRulesSchema.safeParse({ keepDaily: 7, timeZone: 'Mars/Olympus' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe('an IANA time zone such as Europe/Berlin or America/New_York');
  });

  it("takes the zone from the rules, else from the server's stored rules, else UTC", async () => {
    const world = newWorld();
    // a: 00:30 on the 30th in Berlin; b: 23:30 on the 29th in Berlin; c: the 29th anywhere.
    for (const [id, at] of [
      ['c', '2026-11-29T12:00:00.000Z'],
      ['b', '2026-11-29T22:30:00.000Z'],
      ['a', '2026-11-29T23:30:00.000Z'],
    ] as const) {
      world.clock.time = Date.parse(at);
      await writeImage(world, 'vol-1', id, new Map(), { serverId: 'srv-1', source: 'replica' });
    }
    world.clock.time = Date.parse('2026-12-10T00:00:00Z');
    const stored = new Map<string, StoredRetention>();
    const deps: RetentionApplyDeps = {
      objects: world.bucket,
      records: world.records,
      clock: world.clock,
      storedRules: {
        get: (serverId) => Promise.resolve(stored.get(serverId)),
        put: (value) => {
          stored.set(value.serverId, value);
          return Promise.resolve();
        },
      },
    };
    const kept = async (rules?: { keepDaily: number; timeZone?: string }) =>
      (
        await applyRetentionRequest(deps, {
          scope: { server: 'srv-1' },
          ...(rules === undefined ? {} : { rules }),
          dryRun: true,
        })
      ).images
        .filter((i) => i.action === 'keep')
        .map((i) => `${i.imageId} ${i.reasons.join(', ')}`);
    // UTC: one day holds all three; the oldest stands in for the second day.
    expect(await kept({ keepDaily: 2 })).toEqual(['a daily 2026-11-29', 'c oldest daily']);
    expect(await kept({ keepDaily: 2, timeZone: 'Europe/Berlin' })).toEqual([
      'a daily 2026-11-30',
      'b daily 2026-11-29',
    ]);
    stored.set('srv-1', {
      serverId: 'srv-1',
      rules: { keepDaily: 2, timeZone: 'Europe/Berlin' },
      updatedAt: '2026-12-01T00:00:00.000Z',
    });
    // The request's rules without a zone follow the server's stored zone; the stored rules too.
    expect(await kept({ keepDaily: 2 })).toEqual(['a daily 2026-11-30', 'b daily 2026-11-29']);
    expect(await kept()).toEqual(['a daily 2026-11-30', 'b daily 2026-11-29']);
  });
});
