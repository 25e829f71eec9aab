import { describe, expect, it } from 'vitest';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { PlanRecord } from '../../lambdas/core/plans/plan-service.ts';
import { summariseRun } from '../../lambdas/core/plans/plan-run.ts';
import { planRunViewOf } from '../../lambdas/core/plans/plan-api.ts';
import { advancePlanRun, newPlanRun } from '../../lambdas/core/plans/run-engine.ts';
import {
  checkRpo,
  pointGapSeconds,
  POINT_GAP_PAGE_SIZE,
  RPO_BREACHED,
  RPO_RECOVERED,
  RPO_UNWATCHED,
  serverRpo,
  type RecoveryPointPages,
  type RpoBreachRecord,
  type RpoCheckPorts,
  type RpoEvent,
} from '../../lambdas/core/plans/rpo.ts';
import { FakeClock, FakePlanWorld, server } from './fake-plan-ports.ts';

const T0 = '2026-03-02T00:00:00.000Z';

function planRecord(document: unknown, createdAt = T0): PlanRecord {
  const parsed = parsePlanDocument(document);
  return {
    formatVersion: 1,
    name: parsed.name,
    document: parsed,
    revision: 1,
    createdAt,
    updatedAt: createdAt,
  };
}

/** Points newest first per server, as RecoveryPointStore.pageByServer answers; counts its calls. */
class FakePoints implements RecoveryPointPages {
  readonly byServer = new Map<string, { recoveryPointId: string; createdAt: string }[]>();
  calls = 0;

  add(serverId: string, recoveryPointId: string, createdAt: string): void {
    const points = this.byServer.get(serverId) ?? [];
    points.push({ recoveryPointId, createdAt });
    points.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    this.byServer.set(serverId, points);
  }

  pageByServer(serverId: string, page: { readonly limit: number; readonly token?: string | undefined }) {
    this.calls += 1;
    const points = this.byServer.get(serverId) ?? [];
    const from = page.token === undefined ? 0 : Number(page.token);
    const slice = points.slice(from, from + page.limit);
    const next = from + page.limit < points.length ? String(from + page.limit) : undefined;
    return Promise.resolve(next === undefined ? { points: slice } : { points: slice, nextToken: next });
  }

  newestPoints(serverIds: readonly string[]) {
    const newest = new Map<string, { recoveryPointId: string; createdAt: string }>();
    for (const id of serverIds) {
      const first = this.byServer.get(id)?.[0];
      if (first !== undefined) newest.set(id, first);
    }
    return Promise.resolve(newest);
  }
}

class RpoWorld {
  readonly clock = new FakeClock(new Date(T0));
  readonly points = new FakePoints();
  plans: PlanRecord[] = [];
  servers = [server('DB1'), server('DB2'), server('WEB1')];
  readonly state = new Map<string, RpoBreachRecord>();
  readonly published: RpoEvent[] = [];
  failPublish = false;

  ports(): RpoCheckPorts {
    return {
      clock: this.clock,
      plans: { list: () => Promise.resolve(this.plans) },
      servers: { list: () => Promise.resolve(this.servers) },
      points: this.points,
      state: {
        list: () => Promise.resolve([...this.state.values()]),
        put: (record) => {
          this.state.set(record.server, record);
          return Promise.resolve();
        },
        delete: (name) => {
          this.state.delete(name);
          return Promise.resolve();
        },
      },
      publish: (events) => {
        if (this.failPublish) return Promise.reject(new Error('PutEvents throttled'));
        this.published.push(...events);
        return Promise.resolve();
      },
    };
  }

  at(iso: string): this {
    this.clock.set(iso);
    return this;
  }
}

describe('plan document: rpoMinutes', () => {
  const base = { name: 'p', activities: [{ servers: 'DB*' }] };

  it('accepts 5 and 10,080 minutes and leaves it absent by default', () => {
    expect(parsePlanDocument({ ...base, rpoMinutes: 5 }).rpoMinutes).toBe(5);
    expect(parsePlanDocument({ ...base, rpoMinutes: 10_080 }).rpoMinutes).toBe(10_080);
    expect(parsePlanDocument(base).rpoMinutes).toBeUndefined();
  });

  it.each([
    [4, 'rpoMinutes: Too small: expected number to be >=5'],
    [10_081, 'rpoMinutes: Too big: expected number to be <=10080'],
    [7.5, 'rpoMinutes: Invalid input: expected int, received number'],
  ])('refuses %s with the field named', (value, message) => {
    expect(() => parsePlanDocument({ ...base, rpoMinutes: value })).toThrow(message);
  });
});

describe('serverRpo', () => {
  const target = { targetMinutes: 60, plan: 'hourly', since: T0 };
  const now = new Date('2026-03-02T05:00:00.000Z');

  it('is the age of the newest point, breached only beyond the target', () => {
    expect(serverRpo(target, '2026-03-02T04:00:00.000Z', now)).toEqual({
      targetMinutes: 60,
      achievedSeconds: 3_600,
      breached: false,
    });
    expect(serverRpo(target, '2026-03-02T03:59:59.000Z', now)).toEqual({
      targetMinutes: 60,
      achievedSeconds: 3_601,
      breached: true,
    });
  });

  it('without a target shows the age and is never breached', () => {
    expect(serverRpo(undefined, '2026-03-01T05:00:00.000Z', now)).toEqual({
      achievedSeconds: 86_400,
      breached: false,
    });
    expect(serverRpo(undefined, undefined, now)).toEqual({ breached: false });
  });

  it('without a point is breached once the plan is older than the target', () => {
    expect(serverRpo({ ...target, since: '2026-03-02T04:00:00.000Z' }, undefined, now)).toEqual({
      targetMinutes: 60,
      breached: false,
    });
    expect(serverRpo({ ...target, since: '2026-03-02T03:59:00.000Z' }, undefined, now)).toEqual({
      targetMinutes: 60,
      breached: true,
    });
  });
});

describe('checkRpo: one event when a server enters breach, none while it stays, Recovered when it leaves', () => {
  function world(): RpoWorld {
    const w = new RpoWorld();
    w.plans = [
      planRecord({ name: 'db-hourly', rpoMinutes: 60, activities: [{ servers: 'DB*' }] }),
      // A disabled plan still sets a target; the smaller one wins.
      planRecord({ name: 'db1-strict', enabled: false, rpoMinutes: 30, activities: [{ servers: 'DB1' }] }),
      planRecord({ name: 'web-nightly', activities: [{ servers: 'WEB1' }] }),
    ];
    w.points.add('DB1', 'rp-b1', '2026-03-02T00:10:00.000Z');
    w.points.add('DB2', 'rp-b2', '2026-03-02T00:10:00.000Z');
    w.points.add('WEB1', 'rp-w1', '2026-03-01T00:00:00.000Z');
    return w;
  }

  it('walks DB1 through breach, a repeated check and recovery', async () => {
    const w = world().at('2026-03-02T00:40:00.000Z');
    expect(await checkRpo(w.ports())).toEqual({ watched: 2, breached: 0, events: [] });

    // 30 min 1 s after DB1's point: DB1 (target 30, from the disabled plan) enters breach.
    w.at('2026-03-02T00:40:01.000Z');
    const entered = await checkRpo(w.ports());
    expect(entered.breached).toBe(1);
    expect(w.published).toEqual([
      {
        detailType: RPO_BREACHED,
        detail: {
          server: 'DB1',
          plan: 'db1-strict',
          targetMinutes: 30,
          achievedSeconds: 1_801,
          lastRecoveryPointId: 'rp-b1',
        },
      },
    ]);
    expect([...w.state.values()]).toEqual([
      { server: 'DB1', plan: 'db1-strict', targetMinutes: 30, since: '2026-03-02T00:40:01.000Z' },
    ]);

    // Still in breach five minutes later: counted, not announced again.
    w.at('2026-03-02T00:45:01.000Z');
    expect(await checkRpo(w.ports())).toEqual({ watched: 2, breached: 1, events: [] });
    expect(w.published).toHaveLength(1);

    // A new point of DB1: Recovered, and the record is gone.
    w.points.add('DB1', 'rp-b3', '2026-03-02T00:47:00.000Z');
    w.at('2026-03-02T00:50:00.000Z');
    const recovered = await checkRpo(w.ports());
    expect(recovered.breached).toBe(0);
    expect(w.published.slice(1)).toEqual([
      {
        detailType: RPO_RECOVERED,
        detail: {
          server: 'DB1',
          plan: 'db1-strict',
          targetMinutes: 30,
          achievedSeconds: 180,
          lastRecoveryPointId: 'rp-b3',
          breachedSince: '2026-03-02T00:40:01.000Z',
          why: 'met',
        },
      },
    ]);
    expect(w.state.size).toBe(0);
  });

  it('announces a server in breach that no plan with an RPO selects any more as Unwatched, not Recovered', async () => {
    const w = world().at('2026-03-02T01:20:00.000Z');
    await checkRpo(w.ports());
    expect(w.published.map((e) => [e.detailType, e.detail.server])).toEqual([
      [RPO_BREACHED, 'DB1'],
      [RPO_BREACHED, 'DB2'],
    ]);
    w.plans = w.plans.filter((p) => p.name === 'web-nightly');
    const result = await checkRpo(w.ports());
    expect(result).toMatchObject({ watched: 0, breached: 0 });
    expect(w.published.slice(2)).toEqual([
      {
        detailType: RPO_UNWATCHED,
        detail: {
          server: 'DB1',
          plan: 'db1-strict',
          targetMinutes: 30,
          breachedSince: '2026-03-02T01:20:00.000Z',
          why: 'no-rpo-plan',
          lastRecoveryPointId: 'rp-b1',
          lastRecoveryPointAt: '2026-03-02T00:10:00.000Z',
        },
      },
      {
        detailType: RPO_UNWATCHED,
        detail: {
          server: 'DB2',
          plan: 'db-hourly',
          targetMinutes: 60,
          breachedSince: '2026-03-02T01:20:00.000Z',
          why: 'no-rpo-plan',
          lastRecoveryPointId: 'rp-b2',
          lastRecoveryPointAt: '2026-03-02T00:10:00.000Z',
        },
      },
    ]);
    expect(w.state.size).toBe(0);
    // Once: the records are gone, the next check says nothing.
    expect((await checkRpo(w.ports())).events).toEqual([]);
  });

  it('announces a server in breach whose replica volumes vanished as Unwatched, naming its last point', async () => {
    const w = world().at('2026-03-02T01:20:00.000Z');
    w.points.add('DB3', 'rp-b3-old', '2026-03-01T22:00:00.000Z');
    w.servers = [...w.servers, server('DB3')];
    await checkRpo(w.ports());
    expect(w.published.map((e) => [e.detailType, e.detail.server])).toEqual([
      [RPO_BREACHED, 'DB1'],
      [RPO_BREACHED, 'DB2'],
      [RPO_BREACHED, 'DB3'],
    ]);
    // DB3's replica volumes are deleted: the directory no longer lists it.
    w.servers = w.servers.filter((s) => s.name !== 'DB3');
    w.at('2026-03-02T01:25:00.000Z');
    const result = await checkRpo(w.ports());
    expect(result).toEqual({
      watched: 2,
      breached: 2,
      events: [
        {
          detailType: RPO_UNWATCHED,
          detail: {
            server: 'DB3',
            plan: 'db-hourly',
            targetMinutes: 60,
            breachedSince: '2026-03-02T01:20:00.000Z',
            why: 'no-replica-volumes',
            lastRecoveryPointId: 'rp-b3-old',
            lastRecoveryPointAt: '2026-03-01T22:00:00.000Z',
          },
        },
      ],
    });
    expect([...w.state.keys()].sort()).toEqual(['DB1', 'DB2']);
  });

  it('announces an unwatched server without any recovery point with no last point, and lists servers only for it', async () => {
    const w = world().at('2026-03-02T01:20:00.000Z');
    w.state.set('OLD1', {
      server: 'OLD1',
      plan: 'gone',
      targetMinutes: 15,
      since: '2026-03-01T00:00:00.000Z',
    });
    w.plans = [];
    let listings = 0;
    const ports = w.ports();
    const counted = {
      ...ports,
      servers: {
        list: () => {
          listings += 1;
          return ports.servers.list();
        },
      },
    };
    const result = await checkRpo(counted);
    expect(listings).toBe(1);
    expect(result.events).toEqual([
      {
        detailType: RPO_UNWATCHED,
        detail: {
          server: 'OLD1',
          plan: 'gone',
          targetMinutes: 15,
          breachedSince: '2026-03-01T00:00:00.000Z',
          why: 'no-replica-volumes',
        },
      },
    ]);
    // Nothing recorded and no plan with an RPO: the directory is not listed at all.
    await checkRpo(counted);
    expect(listings).toBe(1);
  });

  it('writes no record when publishing fails, so the next check announces the breach again', async () => {
    const w = world().at('2026-03-02T01:20:00.000Z');
    w.failPublish = true;
    await expect(checkRpo(w.ports())).rejects.toThrow('PutEvents throttled');
    expect(w.state.size).toBe(0);
    w.failPublish = false;
    await checkRpo(w.ports());
    expect(w.published.map((e) => e.detail.server)).toEqual(['DB1', 'DB2']);
  });

  it('a server with no point is in breach once the plan is older than its target', async () => {
    const w = world();
    w.servers = [...w.servers, server('DB9')];
    w.at('2026-03-02T00:40:00.000Z');
    await checkRpo(w.ports());
    expect(w.published).toEqual([]);
    w.at('2026-03-02T01:00:01.000Z');
    await checkRpo(w.ports());
    expect(w.published.map((e) => e.detail)).toContainEqual({
      server: 'DB9',
      plan: 'db-hourly',
      targetMinutes: 60,
    });
  });

  it('reads no servers and no points when no plan sets an RPO', async () => {
    const w = new RpoWorld();
    w.plans = [planRecord({ name: 'web-nightly', activities: [{ servers: 'WEB1' }] })];
    let serverReads = 0;
    const ports = w.ports();
    const result = await checkRpo({
      ...ports,
      servers: {
        list: () => {
          serverReads += 1;
          return Promise.resolve(w.servers);
        },
      },
    });
    expect(result).toEqual({ watched: 0, breached: 0, events: [] });
    expect([serverReads, w.points.calls]).toEqual([0, 0]);
  });
});

describe('pointGapSeconds: the RPO a task achieved', () => {
  it('is the gap to the point before, also across a page boundary, and absent for the first point', async () => {
    const points = new FakePoints();
    for (let n = 0; n <= POINT_GAP_PAGE_SIZE; n += 1) {
      points.add('DB1', `rp-${n}`, new Date(Date.parse(T0) + n * 900_000).toISOString());
    }
    // Newest first: rp-10 … rp-1 on the first page, rp-0 on the second.
    expect(await pointGapSeconds(points, 'DB1', 'rp-10')).toBe(900);
    points.calls = 0;
    expect(await pointGapSeconds(points, 'DB1', 'rp-1')).toBe(900);
    expect(points.calls).toBe(2);
    expect(await pointGapSeconds(points, 'DB1', 'rp-0')).toBeUndefined();
    expect(await pointGapSeconds(points, 'DB1', 'rp-unknown')).toBeUndefined();
  });
});

describe('advancePlanRun: a task that committed a recovery point records rpoAchievedSeconds', () => {
  it('records the gap to the server previous point, none for a first point, and shows it in the run view', async () => {
    const world = new FakePlanWorld('2026-03-02T01:00:00.000Z');
    world.servers = [server('QA1'), server('QA2')];
    const points = new FakePoints();
    points.add('QA1', 'rp-older', '2026-03-01T01:00:00.000Z');
    // The backup commits its point when the fake reports success.
    world.backupScript = (start) => {
      points.add(start.server, `rp-${start.backupId}`, '2026-03-02T01:00:15.000Z');
      return { polls: 1, outcome: { state: 'succeeded', imageIds: [`img-${start.backupId}`] } };
    };
    let run = newPlanRun({
      runId: 'run1',
      plan: parsePlanDocument({ name: 'qa', rpoMinutes: 1_440, activities: [{ servers: ['QA1', 'QA2'] }] }),
      trigger: 'manual',
      startedAt: world.clock.now(),
    });
    for (let n = 0; n < 20 && run.phase !== 'Finished'; n += 1) {
      const result = await advancePlanRun(run, { ...world.ports(), recoveryPoints: points });
      run = result.run;
      world.clock.advance(result.waitSeconds ?? 0);
    }
    expect(run.status).toBe('Succeeded');
    expect(run.tasks.map((t) => [t.server, t.rpoAchievedSeconds])).toEqual([
      ['QA1', 86_415],
      ['QA2', undefined],
    ]);
    expect(planRunViewOf(run).tasks.map((t) => t.rpoAchievedSeconds)).toEqual([86_415, undefined]);
    // The --json summary keeps its documented fields.
    expect(Object.keys(summariseRun(run).tasks[0]!)).toEqual([
      'server',
      'status',
      'source',
      'backupId',
      'imageIds',
    ]);
  });
});
