import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expandActivities } from '../../lambdas/core/plans/expansion.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { aggregateRunStatus, TASK_STATUSES, type TaskStatus } from '../../lambdas/core/plans/plan-run.ts';
import { matchesPattern, naturalCompare } from '../../lambdas/core/plans/patterns.ts';
import { REPLICATION_STATES, type ServerView } from '../../lambdas/core/plans/servers.ts';
import { selectSource } from '../../lambdas/core/plans/source-selection.ts';
import { server } from './fake-plan-ports.ts';

/** The reference: a pattern as an anchored regular expression. */
function patternRegExp(pattern: string): RegExp {
  const body = [...pattern]
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'su');
}

const alphabet = fc.constantFrom('A', 'B', '1', '2', '-', '*', '?');
const nameChars = fc.constantFrom('A', 'B', '1', '2', '-');

describe('matchesPattern', () => {
  it('property: agrees with the anchored regular expression', () => {
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 8 }).map((a) => a.join('')),
        fc.array(nameChars, { maxLength: 10 }).map((a) => a.join('')),
        (pattern, name) => {
          expect(matchesPattern(pattern, name)).toBe(patternRegExp(pattern).test(name));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('matches the issue examples', () => {
    expect(matchesPattern('QA*', 'QA1')).toBe(true);
    expect(matchesPattern('QA*', 'XQA1')).toBe(false);
    expect(matchesPattern('web-?1', 'web-a1')).toBe(true);
    expect(matchesPattern('web-?1', 'web-ab1')).toBe(false);
    expect(matchesPattern('DOMAIN*', 'DOMAIN')).toBe(true);
    expect(matchesPattern('qa*', 'QA1')).toBe(false);
  });
});

describe('naturalCompare', () => {
  it('orders digit runs by value', () => {
    expect(['QA10', 'QA2', 'QA1', 'QA01', 'QB', 'Q'].sort(naturalCompare)).toEqual([
      'Q',
      'QA01',
      'QA1',
      'QA2',
      'QA10',
      'QB',
    ]);
  });

  it('property: a total order (antisymmetric, transitive, zero only for equal strings)', () => {
    const s = fc
      .array(fc.constantFrom('A', 'a', '0', '1', '9', '-'), { maxLength: 6 })
      .map((a) => a.join(''));
    fc.assert(
      fc.property(s, s, s, (a, b, c) => {
        expect(Math.sign(naturalCompare(a, b)) + Math.sign(naturalCompare(b, a))).toBe(0);
        expect(naturalCompare(a, b) === 0).toBe(a === b);
        if (naturalCompare(a, b) <= 0 && naturalCompare(b, c) <= 0)
          expect(naturalCompare(a, c)).toBeLessThanOrEqual(0);
      }),
      { numRuns: 2_000 },
    );
  });
});

const serverName = fc
  .array(fc.constantFrom('Q', 'A', 'T', '1', '2', '3'), { minLength: 1, maxLength: 4 })
  .map((a) => a.join(''));
const appName = fc
  .array(fc.constantFrom('D', 'O', 'X', '1', '2'), { minLength: 1, maxLength: 3 })
  .map((a) => a.join(''));
const serverArb: fc.Arbitrary<ServerView> = fc
  .record({
    name: serverName,
    replication: fc.constantFrom(...REPLICATION_STATES),
    applications: fc.uniqueArray(appName, { maxLength: 4 }),
  })
  .map(({ name, replication, applications }) => server(name, { replication, applications }));
const serversArb = fc.uniqueArray(serverArb, { selector: (s) => s.name, maxLength: 8 });
const patternArb = fc
  .array(fc.constantFrom('Q', 'A', 'T', '1', '2', '*', '?'), { minLength: 1, maxLength: 4 })
  .map((a) => a.join(''));
const activityArb = fc.record(
  {
    servers: fc.oneof(patternArb, fc.array(patternArb, { minLength: 1, maxLength: 3 })),
    applications: fc
      .array(fc.constantFrom('D', 'O', '1', '*', '?'), { minLength: 1, maxLength: 3 })
      .map((a) => a.join('')),
  },
  { requiredKeys: ['servers'] },
);

describe('expandActivities', () => {
  it('property: tasks follow activity order, then server order, then application order, and cover exactly what matches', () => {
    fc.assert(
      fc.property(
        serversArb,
        fc.array(activityArb, { minLength: 1, maxLength: 4 }),
        (servers, activities) => {
          const plan = parsePlanDocument({ name: 'p', activities });
          const tasks = expandActivities(plan, servers);
          expect(tasks.map((t) => t.index)).toEqual(tasks.map((_, i) => i));
          // Activity order is never broken.
          for (let i = 1; i < tasks.length; i += 1)
            expect(tasks[i]!.activity).toBeGreaterThanOrEqual(tasks[i - 1]!.activity);
          plan.activities.forEach((activity, a) => {
            const own = tasks.filter((t) => t.activity === a);
            expect(own.length).toBeGreaterThanOrEqual(1);
            const patterns =
              typeof activity.servers === 'string' ? [activity.servers] : (activity.servers ?? []);
            // Every available matching server/application has exactly one Pending task.
            const expected: string[] = [];
            const seen = new Set<string>();
            for (const pattern of patterns) {
              const literal = !/[*?]/.test(pattern);
              const matched = literal
                ? [pattern]
                : servers
                    .filter((s) => patternRegExp(pattern).test(s.name))
                    .map((s) => s.name)
                    .sort(naturalCompare);
              for (const name of matched) {
                if (seen.has(name)) continue;
                seen.add(name);
                const view = servers.find((s) => s.name === name);
                if (view === undefined || view.replication === 'disconnected') {
                  expected.push(`${name}/${activity.applications ?? '-'}/Skipped`);
                } else if (activity.applications === undefined) {
                  expected.push(`${name}/-/Pending`);
                } else {
                  const apps = view.applications
                    .filter((n) => patternRegExp(activity.applications!).test(n))
                    .sort(naturalCompare);
                  if (apps.length === 0) expected.push(`${name}/${activity.applications}/Skipped`);
                  for (const app of apps) expected.push(`${name}/${app}/Pending`);
                }
              }
              if (!literal && matched.length === 0)
                expected.push(`${pattern}/${activity.applications ?? '-'}/Skipped`);
            }
            expect(own.map((t) => `${t.server}/${t.application ?? '-'}/${t.status}`)).toEqual(expected);
            // A Skipped task always says why.
            for (const t of own) expect(t.status === 'Skipped').toBe(t.reason !== undefined);
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('one Skipped task per unavailable server carries the activity pattern; tag filters select by volume tags', () => {
    const servers = [
      server('B1', { volumes: [{ volumeId: 'vol-1', tags: { customer: 'acme' } }] }),
      server('A1', { volumes: [{ volumeId: 'vol-2', tags: { customer: 'acme', tier: 'gold' } }] }),
      server('C1', { volumes: [{ volumeId: 'vol-3', tags: { customer: 'other' } }] }),
    ];
    const plan = parsePlanDocument({
      name: 'tags',
      activities: [{ tags: { customer: 'acme' } }, { tags: { customer: 'nobody' } }],
    });
    expect(expandActivities(plan, servers).map((t) => [t.server, t.status, t.reason])).toEqual([
      ['A1', 'Pending', undefined],
      ['B1', 'Pending', undefined],
      ['tags:customer=nobody', 'Skipped', 'no server has a replica volume with customer=nobody'],
    ]);
  });
});

describe('aggregateRunStatus', () => {
  const terminal = fc.constantFrom<TaskStatus>('Succeeded', 'Skipped', 'Failed');
  it('property: Succeeded iff all succeeded; Stopped iff all skipped; Failed iff none succeeded and some failed', () => {
    fc.assert(
      fc.property(fc.array(terminal, { maxLength: 12 }), (statuses) => {
        const status = aggregateRunStatus(statuses);
        const all = (s: TaskStatus) => statuses.every((x) => x === s);
        expect(status === 'Stopped').toBe(all('Skipped'));
        expect(status === 'Succeeded').toBe(statuses.length > 0 && all('Succeeded'));
        expect(status === 'Failed').toBe(statuses.includes('Failed') && !statuses.includes('Succeeded'));
        expect(status === 'PartiallySucceeded').toBe(
          statuses.includes('Succeeded') && (statuses.includes('Failed') || statuses.includes('Skipped')),
        );
        // Order does not matter.
        expect(aggregateRunStatus([...statuses].reverse())).toBe(status);
      }),
    );
  });

  it('refuses to aggregate unfinished tasks', () => {
    for (const s of TASK_STATUSES.filter((x) => x === 'Pending' || x === 'Running')) {
      expect(() => aggregateRunStatus(['Succeeded', s])).toThrow('the run still has unfinished tasks');
    }
  });
});

describe('selectSource', () => {
  it('property: never a replica that does not replicate properly; the primary only when the preference allows it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...REPLICATION_STATES),
        fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
        fc.boolean(),
        fc.constantFrom('replica-only', 'primary-only', 'prefer-replica', 'prefer-primary' as const),
        fc.integer({ min: 0, max: 1000 }),
        (replication, lagSeconds, hasPrimary, preference, maxLag) => {
          const view = server('S', {
            replication,
            hasPrimary,
            ...(lagSeconds === undefined ? { lagSeconds: undefined } : { lagSeconds }),
          });
          const healthy =
            (replication === 'in-sync' && (lagSeconds ?? 0) <= maxLag) ||
            (replication === 'lagging' && lagSeconds !== undefined && lagSeconds <= maxLag);
          const decision = selectSource(view, preference, maxLag);
          if (decision.ok && decision.source === 'replica') expect(healthy).toBe(true);
          if (decision.ok && decision.source === 'primary') {
            expect(hasPrimary).toBe(true);
            expect(preference).not.toBe('replica-only');
          }
          const expectedSource =
            preference === 'replica-only'
              ? healthy
                ? 'replica'
                : undefined
              : preference === 'primary-only'
                ? hasPrimary
                  ? 'primary'
                  : undefined
                : preference === 'prefer-replica'
                  ? healthy
                    ? 'replica'
                    : hasPrimary
                      ? 'primary'
                      : undefined
                  : hasPrimary
                    ? 'primary'
                    : healthy
                      ? 'replica'
                      : undefined;
          expect(decision.ok ? decision.source : undefined).toBe(expectedSource);
        },
      ),
    );
  });
});
