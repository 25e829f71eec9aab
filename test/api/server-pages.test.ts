/**
 * `GET /servers` reads one page of servers from the replica volumes a page at a time
 * (core/api/server-pages.ts): every server listed once and whole across the pages, whatever the
 * order the volumes come in, and a page costs the same requests at 10 and at 1,000 servers, in
 * memory (volume pages and recovery points) and on moto (DescribeVolumes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ec2ReplicaVolumePages } from '../../lambdas/aws/ec2-server-pages.ts';
import type { PlanApiDeps } from '../../lambdas/core/api/plan-routes.ts';
import {
  pageServers,
  type ReplicaVolumePage,
  type ReplicaVolumePages,
} from '../../lambdas/core/api/server-pages.ts';
import { serversFromVolumes, type ServerView, type ServerVolume } from '../../lambdas/core/plans/servers.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import type { ProtectedVolume } from '../../lambdas/core/lifecycle/protected-volumes.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { memoryApi, memoryRecoveryPoints } from '../fakes/memory-api-ports.ts';
import { MemoryPlanScheduler, MemoryPlanStore, MemorySettingsStore } from '../plans/memory-plan-store.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { answerOf, proxyEvent, type EventSpec } from './api-events.ts';
import { countedEc2OnLocalStack, createReplicaVolume } from '../support/counted-ec2.ts';

const REPLICA = { 'rbp:replica': 'true' };

/** Volumes in the given order, paged as DescribeVolumes pages them (the token is an offset); requests counted. */
class MemoryVolumePages implements ReplicaVolumePages {
  readonly requests: string[] = [];
  constructor(private readonly volumes: readonly ServerVolume[]) {}

  pageReplicaVolumes(page: { readonly limit: number; readonly token?: string }): Promise<ReplicaVolumePage> {
    this.requests.push(`page ${page.limit}`);
    const at = page.token === undefined ? 0 : Number(page.token);
    const volumes = this.volumes.slice(at, at + page.limit);
    const next = at + page.limit;
    return Promise.resolve(next < this.volumes.length ? { volumes, nextToken: String(next) } : { volumes });
  }

  volumesOfServers(serverIds: readonly string[]): Promise<readonly ServerVolume[]> {
    this.requests.push(`servers ${serverIds.length}`);
    const wanted = new Set(serverIds);
    return Promise.resolve(this.volumes.filter((v) => wanted.has(v.tags['rbp:source-server'] ?? '')));
  }
}

const names = (servers: readonly ServerView[]) => servers.map((s) => s.name);

/** Every page from the first, following the store's token. */
async function allPages(source: ReplicaVolumePages, limit: number): Promise<ServerView[][]> {
  const pages: ServerView[][] = [];
  let pageToken: string | undefined;
  do {
    const page = await pageServers(source, pageToken === undefined ? { limit } : { limit, pageToken });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    pages.push([...page.items]);
    pageToken = page.nextToken;
  } while (pageToken !== undefined);
  return pages;
}

describe('pageServers', () => {
  it('lists every server once and whole, in any volume order and at any page size (fast-check)', async () => {
    const fleet = fc
      .array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.boolean()), { minLength: 0, maxLength: 40 })
      .map((specs) =>
        specs.map(([server, tagged], n): ServerVolume => {
          const volumeId = `vol-${String(n).padStart(4, '0')}`;
          return { volumeId, tags: tagged ? { ...REPLICA, 'rbp:source-server': `S${server}` } : REPLICA };
        }),
      );
    await fc.assert(
      fc.asyncProperty(
        fleet.chain((volumes) =>
          fc.tuple(fc.shuffledSubarray(volumes, { minLength: volumes.length }), fc.constant(volumes)),
        ),
        fc.integer({ min: 1, max: 12 }),
        async ([shuffled], limit) => {
          const pages = await allPages(new MemoryVolumePages(shuffled), limit);
          const listed = pages.flat();
          const expected = serversFromVolumes(shuffled);
          expect(listed.map((s) => s.name).sort()).toEqual(names(expected));
          expect([...listed].sort((a, b) => (a.name < b.name ? -1 : 1))).toEqual(expected);
          for (const page of pages) expect(names(page)).toEqual(names(page).sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps one page of a small fleet ordered by name, as the whole list was', async () => {
    const volumes: ServerVolume[] = [
      { volumeId: 'vol-3', tags: { ...REPLICA, 'rbp:source-server': 'WEB-01' } },
      { volumeId: 'vol-1', tags: { ...REPLICA, 'rbp:source-server': 'DB-01' } },
      { volumeId: 'vol-2', tags: REPLICA },
      { volumeId: 'vol-4', tags: { ...REPLICA, 'rbp:source-server': 'DB-01' } },
    ];
    const source = new MemoryVolumePages(volumes);
    expect(await pageServers(source, { limit: 100 })).toEqual({ items: serversFromVolumes(volumes) });
    expect(names(serversFromVolumes(volumes))).toEqual(['DB-01', 'WEB-01', 'vol-2']);
    // The first page with no next token is every volume: no read of the servers' volumes.
    expect(source.requests).toEqual(['page 100']);
  });

  it('refuses a token it did not make with the cursor message', async () => {
    const source = new MemoryVolumePages([]);
    for (const pageToken of ['x', '{"s":-1,"n":10}', '{"s":0,"n":501}', '{"t":"","s":0,"n":5}']) {
      await expect(pageServers(source, { limit: 10, pageToken })).rejects.toThrow(
        'invalid cursor: unreadable position',
      );
    }
  });
});

/** MemoryVolumePages with a protected-volume registry: its volumes EC2 no longer has are gone. */
class MemoryRegistryPages extends MemoryVolumePages {
  readonly registeredVolumes: () => Promise<readonly ProtectedVolume[]>;
  constructor(
    private readonly inEc2: readonly ServerVolume[],
    registry: readonly ProtectedVolume[],
  ) {
    super(inEc2);
    this.registeredVolumes = () => {
      this.requests.push('registry');
      return Promise.resolve(registry);
    };
  }

  replicaVolumeIdsAmong(volumeIds: readonly string[]): Promise<ReadonlySet<string>> {
    this.requests.push(`ids ${volumeIds.length}`);
    const have = new Set(this.inEc2.map((v) => v.volumeId));
    return Promise.resolve(new Set(volumeIds.filter((id) => have.has(id))));
  }
}

describe('pageServers and servers EC2 no longer has', () => {
  it('lists every server once: EC2’s whole, then every registered server with no replica left, REPLICA GONE (fast-check)', async () => {
    const fleet = fc.array(
      fc.record({ server: fc.integer({ min: 0, max: 9 }), inEc2: fc.boolean(), tagged: fc.boolean() }),
      { maxLength: 30 },
    );
    await fc.assert(
      fc.asyncProperty(fleet, fc.integer({ min: 1, max: 8 }), async (specs, limit) => {
        const volumes = specs.map((spec, n) => ({ ...spec, volumeId: `vol-${String(n).padStart(4, '0')}` }));
        const inEc2 = volumes
          .filter((v) => v.inEc2)
          .map((v): ServerVolume => ({
            volumeId: v.volumeId,
            tags: v.tagged ? { ...REPLICA, 'rbp:source-server': `S${v.server}` } : REPLICA,
          }));
        // Every volume was backed up, so registered with the server its commit named.
        const registry = volumes.map((v) =>
          v.tagged ? { volumeId: v.volumeId, serverId: `S${v.server}` } : { volumeId: v.volumeId },
        );
        const source = new MemoryRegistryPages(inEc2, registry);
        const listed = (await allPages(source, limit)).flat();
        const live = serversFromVolumes(inEc2);
        const liveNames = new Set(names(live));
        const liveIds = new Set(inEc2.map((v) => v.volumeId));
        const goneExpected = new Map<string, string[]>();
        for (const v of registry) {
          const name = v.serverId ?? v.volumeId;
          goneExpected.set(name, [...(goneExpected.get(name) ?? []), v.volumeId]);
        }
        for (const [name, ids] of [...goneExpected]) {
          if (liveNames.has(name) || ids.some((id) => liveIds.has(id))) goneExpected.delete(name);
        }
        expect(listed.map((s) => s.name).sort()).toEqual([...liveNames, ...goneExpected.keys()].sort());
        for (const server of listed.filter((s) => s.state === 'REPLICA GONE')) {
          expect(server.volumes.map((v) => v.volumeId)).toEqual([...goneExpected.get(server.name)!].sort());
          expect(server.replication).toBe('disconnected');
        }
        expect(listed.filter((s) => s.state === 'REPLICA GONE').length).toBe(goneExpected.size);
      }),
      { numRuns: 300 },
    );
  });

  it('answers a gone server exactly, and the requests of a page of a small fleet', async () => {
    const source = new MemoryRegistryPages(
      [{ volumeId: 'vol-1', tags: { ...REPLICA, 'rbp:source-server': 'WEB-01' } }],
      [
        { volumeId: 'vol-1', serverId: 'WEB-01' },
        { volumeId: 'vol-8', serverId: 'DB-01' },
        { volumeId: 'vol-9', serverId: 'DB-01' },
      ],
    );
    expect(await pageServers(source, { limit: 100 })).toEqual({
      items: [
        {
          name: 'DB-01',
          replication: 'disconnected',
          volumes: [
            { volumeId: 'vol-8', tags: {} },
            { volumeId: 'vol-9', tags: {} },
          ],
          applications: [],
          hasPrimary: false,
          state: 'REPLICA GONE',
        },
        ...serversFromVolumes([{ volumeId: 'vol-1', tags: { ...REPLICA, 'rbp:source-server': 'WEB-01' } }]),
      ],
    });
    expect(source.requests).toEqual(['page 100', 'registry', 'servers 2', 'ids 3']);
    // A gone-phase cursor where the deployment has no registry is refused as any unknown cursor.
    await expect(
      pageServers(new MemoryVolumePages([]), { limit: 10, pageToken: '{"g":1,"s":0,"n":10}' }),
    ).rejects.toThrow('invalid cursor: unreadable position');
  });
});

/** `servers` servers of two volumes each, in an order that splits every server across pages. */
function fleetOf(servers: number): ServerVolume[] {
  const volumes: ServerVolume[] = [];
  for (let copy = 0; copy < 2; copy += 1) {
    for (let n = 0; n < servers; n += 1) {
      const name = `SRV-${String(n).padStart(4, '0')}`;
      volumes.push({
        volumeId: `vol-${copy}${String(n).padStart(4, '0')}`,
        tags: { ...REPLICA, 'rbp:source-server': name },
      });
    }
  }
  return volumes;
}

/** The API over `source` with every server's recovery point in memory; pageByServer calls counted. */
async function serversApi(source: ReplicaVolumePages, serverNames: readonly string[]) {
  const api = memoryApi();
  const queries: string[] = [];
  const points = new (class extends MemoryRecoveryPointStore {
    override pageByServer(
      serverId: string,
      page: { readonly limit: number; readonly token?: string | undefined },
    ) {
      queries.push(serverId);
      return super.pageByServer(serverId, page);
    }
  })();
  for (const serverId of serverNames) {
    const point: RecoveryPoint = {
      serverId,
      backupId: `bk-${serverId}`,
      createdAt: '2026-12-01T00:00:00.000Z',
      version: 1,
      recoveryPointId: `rp-bk-${serverId}`,
      images: [
        {
          volumeId: 'vol-x',
          device: '/dev/xvda',
          imageId: `img-${serverId}`,
          snapshotId: 'snap-1',
          kind: 'full',
        },
      ],
    };
    await points.put(point);
  }
  const plans = {
    store: new MemoryPlanStore(),
    scheduler: new MemoryPlanScheduler(),
    settings: new MemorySettingsStore(),
    servers: {
      list: () => Promise.reject(new Error('the whole list is not read')),
      get: () => Promise.resolve(undefined),
    },
    serverPages: source,
    clock: api.clock,
  } as unknown as PlanApiDeps; // the listing reads the plans, the server pages and the points
  const recoveryPoints = memoryRecoveryPoints(api, points);
  const handler = createApiHandler({ ...api.deps, plans, recoveryPoints }, () => undefined);
  const call = async (spec: EventSpec) => answerOf(await handler(proxyEvent(spec)));
  return { call, queries };
}

describe('GET /servers: a page costs the same at 10 and at 1,000 servers', () => {
  it('in memory: the same volume-page, server and recovery-point reads', async () => {
    const measured: { requests: string[]; queries: number; items: number; nextCursor: boolean }[] = [];
    for (const count of [10, 1_000]) {
      const volumes = fleetOf(count);
      const source = new MemoryVolumePages(volumes);
      const serverNames = serversFromVolumes(volumes).map((s) => s.name);
      const { call, queries } = await serversApi(source, serverNames);
      const answer = await call({ method: 'GET', path: '/servers', query: { limit: '5' } });
      expect(answer.status).toBe(200);
      const items = answer.body.items as { name: string; volumes: unknown[]; lastRecoveryPointId?: string }[];
      expect(items.map((s) => s.name)).toEqual(serverNames.slice(0, 5));
      for (const item of items) {
        expect(item.volumes).toHaveLength(2);
        expect(item.lastRecoveryPointId).toBe(`rp-bk-${item.name}`);
      }
      measured.push({
        requests: source.requests,
        queries: queries.length,
        items: items.length,
        nextCursor: typeof answer.body.nextCursor === 'string',
      });
    }
    // The first 5 volumes are the first copies of SRV-0000..0004: one volume page, one read of
    // those five servers, one recovery-point Query per server of the page.
    const page = { requests: ['page 5', 'servers 5'], queries: 5, items: 5, nextCursor: true };
    expect(measured).toEqual([page, page]);
  });

  it('following the cursor through the API lists all 10 servers once, each whole', async () => {
    const volumes = fleetOf(10);
    const { call } = await serversApi(new MemoryVolumePages(volumes), []);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const answer = await call({
        method: 'GET',
        path: '/servers',
        query: cursor === undefined ? { limit: '3' } : { limit: '3', cursor },
      });
      expect(answer.status).toBe(200);
      for (const item of answer.body.items as { name: string; volumes: unknown[] }[]) {
        expect(item.volumes).toHaveLength(2);
        seen.push(item.name);
      }
      cursor = answer.body.nextCursor as string | undefined;
    } while (cursor !== undefined);
    expect(seen).toEqual(serversFromVolumes(volumes).map((s) => s.name));
  });
});

describe('GET /servers on moto', () => {
  const local = useLocalStack();
  const ec2Clients = countedEc2OnLocalStack(local);

  it(
    'sends the same DescribeVolumes requests for a page at 20 and at 1,000 servers (and one at 10, a single page)',
    { timeout: 240_000 },
    async () => {
      const { ec2, counted, sent } = ec2Clients();
      const create = (name: string) => createReplicaVolume(ec2, name);
      const measured: { requests: number; filters: number[]; items: number }[] = [];
      let made = 0;
      for (const count of [10, 20, 1_000]) {
        for (; made < count; made += 10) {
          await Promise.all(
            Array.from({ length: 10 }, (_, n) => create(`SRV-${String(made + n).padStart(4, '0')}`)),
          );
        }
        sent.length = 0;
        const { call } = await serversApi(new Ec2ReplicaVolumePages(counted), []);
        const answer = await call({ method: 'GET', path: '/servers', query: { limit: '10' } });
        expect(answer.status).toBe(200);
        const items = answer.body.items as { name: string; volumes: unknown[] }[];
        for (const item of items) expect(item.volumes).toHaveLength(1);
        measured.push({
          requests: sent.length,
          filters: sent.map((input) => input.Filters?.at(-1)?.Values?.length ?? 0),
          items: items.length,
        });
      }
      // The local stack's moto pages DescribeVolumes as EC2 does (local/moto/moto_patch.py, 12). At
      // 10 servers the page of 10 volumes is the whole fleet (no NextToken): no read of the servers'
      // volumes. At 20 and at 1,000: one volume page and one read filtered on its 10 servers' tags.
      expect(measured).toEqual([
        { requests: 1, filters: [1], items: 10 },
        { requests: 2, filters: [1, 10], items: 10 },
        { requests: 2, filters: [1, 10], items: 10 },
      ]);
      expect(sent[0]).toMatchObject({
        Filters: [{ Name: 'tag:rbp:replica', Values: ['true'] }],
        MaxResults: 10,
      });
    },
  );
});
