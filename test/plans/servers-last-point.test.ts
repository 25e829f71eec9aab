/**
 * `GET /servers` shows each server's newest live recovery point (`lastRecoveryPoint`: its time,
 * `lastRecoveryPointId`), read per page of servers: one point per server (a Query of one in
 * DynamoDB) and one liveness read for the page, so the requests follow the page, not the history.
 * Each server's `rpo` (target from the plans selecting it, achieved from that point) costs no
 * further read.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { PlanApiDeps } from '../../lambdas/core/api/plan-routes.ts';
import {
  imageRefKey,
  type ImageLiveness,
  type RecoveryPoint,
  type RecoveryPointImageRef,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from '../api/api-events.ts';
import { FIXED_NOW, memoryApi, memoryRecoveryPoints, type MemoryApi } from '../fakes/memory-api-ports.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { server } from './fake-plan-ports.ts';
import { MemoryPlanScheduler, MemoryPlanStore, MemorySettingsStore } from './memory-plan-store.ts';

function point(serverId: string, backupId: string, createdAt: string): RecoveryPoint {
  const volumeId = `vol-${serverId.toLowerCase()}`;
  const image = { volumeId, device: '/dev/xvda', imageId: `img-${backupId}`, snapshotId: 'snap-0a' };
  const images = [{ ...image, kind: 'full' as const }];
  return { serverId, backupId, createdAt, version: 1, recoveryPointId: `rp-${backupId}`, images };
}

/** The store with every pageByServer call recorded as `server limit`. */
class CountingPoints extends MemoryRecoveryPointStore {
  readonly pages: string[] = [];
  override pageByServer(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ) {
    this.pages.push(`${serverId} ${page.limit}`);
    return super.pageByServer(serverId, page);
  }
}

/** Every image live except `gone`, recording how many references each call asked about. */
function liveness(gone: Set<string>): ImageLiveness & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    liveImages: (images: readonly RecoveryPointImageRef[]) => {
      calls.push(images.length);
      return Promise.resolve(new Set(images.map(imageRefKey).filter((key) => !gone.has(key))));
    },
  };
}

let api: MemoryApi;
let handler: ApiProxyHandler;
let points: CountingPoints;
let images: ReturnType<typeof liveness>;
let planStore: MemoryPlanStore;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

beforeEach(async () => {
  api = memoryApi();
  points = new CountingPoints();
  images = liveness(new Set(['vol-db-01/img-bk-4']));
  await points.put(point('WEB-01', 'bk-1', '2026-11-01T00:00:00.000Z'));
  await points.put(point('WEB-01', 'bk-3', '2026-11-03T00:00:00.000Z'));
  await points.put(point('DB-01', 'bk-2', '2026-11-02T00:00:00.000Z'));
  // DB-01's newest point names an image that is gone (a commit that raced its deletion).
  await points.put(point('DB-01', 'bk-4', '2026-11-04T00:00:00.000Z'));
  const servers = [server('DB-01'), server('IDLE-01'), server('WEB-01')];
  planStore = new MemoryPlanStore();
  const plans = {
    store: planStore,
    scheduler: new MemoryPlanScheduler(),
    settings: new MemorySettingsStore(),
    servers: {
      list: () => Promise.resolve(servers),
      get: (name: string) => Promise.resolve(servers.find((s) => s.name === name)),
    },
    clock: api.clock,
  } as unknown as PlanApiDeps; // the listing reads only the plans and the servers
  const recoveryPoints = memoryRecoveryPoints(api, points, images);
  handler = createApiHandler({ ...api.deps, plans, recoveryPoints }, () => undefined);
});

const row = (name: string, last?: { at: string; id: string }) => ({
  name,
  replication: 'in-sync',
  lagSeconds: 0,
  volumes: [{ volumeId: `vol-${name.toLowerCase()}` }],
  applications: [],
  hasPrimary: false,
  ...(last === undefined ? {} : { lastRecoveryPoint: last.at, lastRecoveryPointId: last.id }),
  plans: [],
  // No plan selects the servers: no target, never breached; achieved = seconds since the point.
  rpo:
    last === undefined
      ? { breached: false }
      : { achievedSeconds: (FIXED_NOW.getTime() - Date.parse(last.at)) / 1000, breached: false },
});

describe('GET /servers: the last recovery point', () => {
  it("is each server's newest point with a live image, read with one point per server and one liveness read", async () => {
    const answer = await call({ method: 'GET', path: '/servers' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      items: [
        row('DB-01', { at: '2026-11-02T00:00:00.000Z', id: 'rp-bk-2' }),
        row('IDLE-01'),
        row('WEB-01', { at: '2026-11-03T00:00:00.000Z', id: 'rp-bk-3' }),
      ],
    });
    // One point per server; DB-01's was not live, so it read on (one more page) in a second round.
    expect(points.pages).toEqual(['DB-01 1', 'IDLE-01 1', 'WEB-01 1', 'DB-01 10']);
    expect(images.calls).toEqual([2, 1]);
  });

  it('costs the same requests when the history grows a hundredfold', async () => {
    for (let n = 0; n < 200; n += 1) {
      const day = String(1 + (n % 28)).padStart(2, '0');
      await points.put(point('WEB-01', `old-${n}`, `2026-10-${day}T00:00:00.000Z`));
    }
    const answer = await call({ method: 'GET', path: '/servers' });
    expect(
      (answer.body.items as { lastRecoveryPointId?: string }[]).map((s) => s.lastRecoveryPointId),
    ).toEqual(['rp-bk-2', undefined, 'rp-bk-3']);
    expect(points.pages).toEqual(['DB-01 1', 'IDLE-01 1', 'WEB-01 1', 'DB-01 10']);
    expect(images.calls).toEqual([2, 1]);
  });

  it("reads only the page's servers", async () => {
    const first = await call({ method: 'GET', path: '/servers', query: { limit: '1' } });
    expect(first.body.items).toEqual([row('DB-01', { at: '2026-11-02T00:00:00.000Z', id: 'rp-bk-2' })]);
    expect(points.pages).toEqual(['DB-01 1', 'DB-01 10']);
    points.pages.length = 0;
    const last = await call({
      method: 'GET',
      path: '/servers',
      query: { limit: '2', cursor: first.body.nextCursor as string },
    });
    expect(last.body.items).toEqual([
      row('IDLE-01'),
      row('WEB-01', { at: '2026-11-03T00:00:00.000Z', id: 'rp-bk-3' }),
    ]);
    expect(points.pages).toEqual(['IDLE-01 1', 'WEB-01 1']);
  });

  it("shows each server's RPO against the smallest rpoMinutes of the plans selecting it, with no further read", async () => {
    const plan = (name: string, rpoMinutes: number, servers: string, createdAt: string) => ({
      formatVersion: 1 as const,
      name,
      document: parsePlanDocument({ name, rpoMinutes, activities: [{ servers }] }),
      revision: 1,
      createdAt,
      updatedAt: createdAt,
    });
    // FIXED_NOW is 2026-11-20T12:00Z: WEB-01's point (11-03) is 17.5 days old, DB-01's (11-02) 18.5.
    await planStore.create(plan('daily', 1_440, '*', '2026-11-01T00:00:00.000Z'));
    await planStore.create(plan('five-days', 7_200, 'WEB-*', '2026-11-01T00:00:00.000Z'));
    await planStore.create(plan('idle', 10_080, 'IDLE-*', '2026-11-19T00:00:00.000Z'));
    const answer = await call({ method: 'GET', path: '/servers' });
    const rpo = (answer.body.items as { name: string; plans: string[]; rpo: unknown }[]).map((s) => [
      s.name,
      s.plans,
      s.rpo,
    ]);
    expect(rpo).toEqual([
      ['DB-01', ['daily'], { targetMinutes: 1_440, achievedSeconds: 1_598_400, breached: true }],
      // No point yet: breached only once the selecting plan is older than the target (a day and a half
      // against a day: 'daily' selects it too, and it is the smaller target).
      ['IDLE-01', ['daily', 'idle'], { targetMinutes: 1_440, breached: true }],
      // The smaller of 1,440 and 7,200.
      [
        'WEB-01',
        ['daily', 'five-days'],
        { targetMinutes: 1_440, achievedSeconds: 1_512_000, breached: true },
      ],
    ]);
    expect(points.pages).toEqual(['DB-01 1', 'IDLE-01 1', 'WEB-01 1', 'DB-01 10']);
    expect(images.calls).toEqual([2, 1]);
  });

  it('is not breached while the newest point is within the target', async () => {
    await points.put(point('WEB-01', 'bk-5', '2026-11-20T11:00:00.000Z'));
    await planStore.create({
      formatVersion: 1,
      name: 'two-hourly',
      document: parsePlanDocument({
        name: 'two-hourly',
        rpoMinutes: 120,
        activities: [{ servers: 'WEB-*' }],
      }),
      revision: 1,
      createdAt: '2026-11-01T00:00:00.000Z',
      updatedAt: '2026-11-01T00:00:00.000Z',
    });
    const answer = await call({ method: 'GET', path: '/servers' });
    const web = (answer.body.items as { name: string; rpo: unknown }[]).find((s) => s.name === 'WEB-01');
    // An hour against two: met, whatever the plan's age.
    expect(web?.rpo).toEqual({ targetMinutes: 120, achievedSeconds: 3_600, breached: false });
  });
});
