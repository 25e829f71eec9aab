/**
 * `GET /servers`' REPLICA GONE phase read from the registry's index by server (core/api/server-pages.ts
 * registeredServers) instead of the whole registry per page: for random fleets (servers of several
 * volumes spread over the registry, some with replicas left in EC2) and any page size, the pages
 * concatenated hold exactly the servers of one unpaged page (no duplicate, no gap), the REPLICA GONE
 * ones in the same (name) order, the same list, page for page, as the whole-registry path, and no page reads the whole registry; an index page holds at most
 * the page's servers (the reads follow the page).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  pageServers,
  type RegisteredServerPage,
  type ReplicaVolumePage,
  type ReplicaVolumePages,
} from '../../lambdas/core/api/server-pages.ts';
import type { ProtectedVolume } from '../../lambdas/core/lifecycle/protected-volumes.ts';
import type { ServerView, ServerVolume } from '../../lambdas/core/plans/servers.ts';

const REPLICA = { 'rbp:replica': 'true' };

/** EC2's replica volumes and the registry, with or without its index by server; reads counted. */
class RegistrySource implements ReplicaVolumePages {
  readonly requests: string[] = [];
  readonly registeredVolumes: () => Promise<readonly ProtectedVolume[]>;
  constructor(
    private readonly inEc2: readonly ServerVolume[],
    private readonly registry: readonly ProtectedVolume[],
    private readonly indexed: boolean,
  ) {
    this.registeredVolumes = () => {
      this.requests.push('registry');
      return Promise.resolve(registry);
    };
  }

  pageReplicaVolumes(page: { readonly limit: number; readonly token?: string }): Promise<ReplicaVolumePage> {
    this.requests.push('ec2 page');
    const at = page.token === undefined ? 0 : Number(page.token);
    const volumes = this.inEc2.slice(at, at + page.limit);
    const next = at + page.limit;
    return Promise.resolve(next < this.inEc2.length ? { volumes, nextToken: String(next) } : { volumes });
  }

  volumesOfServers(serverIds: readonly string[]): Promise<readonly ServerVolume[]> {
    const wanted = new Set(serverIds);
    return Promise.resolve(this.inEc2.filter((v) => wanted.has(v.tags['rbp:source-server'] ?? '')));
  }

  replicaVolumeIdsAmong(volumeIds: readonly string[]): Promise<ReadonlySet<string>> {
    const have = new Set(this.inEc2.map((v) => v.volumeId));
    return Promise.resolve(new Set(volumeIds.filter((id) => have.has(id))));
  }

  /** The index as DynamoDbLifecycleImageRecords.pageRegisteredServers answers it. */
  registeredServers(page: {
    readonly after?: string;
    readonly limit: number;
  }): Promise<RegisteredServerPage | undefined> {
    if (!this.indexed) return Promise.resolve(undefined);
    const byServer = new Map<string, string[]>();
    for (const volume of this.registry) {
      const name = volume.serverId ?? volume.volumeId;
      byServer.set(name, [...(byServer.get(name) ?? []), volume.volumeId].sort());
    }
    const names = [...byServer.keys()].sort().filter((name) => page.after === undefined || name > page.after);
    const servers = names.slice(0, page.limit).map((name) => ({ name, volumeIds: byServer.get(name)! }));
    this.requests.push(`index ${servers.length}`);
    return Promise.resolve({ servers, more: names.length > page.limit });
  }
}

/** Every page from the first, following the store's token, each with the source's reads for it. */
async function allPages(
  source: RegistrySource,
  limit: number,
): Promise<{ items: ServerView[]; requests: string[] }[]> {
  const pages: { items: ServerView[]; requests: string[] }[] = [];
  let pageToken: string | undefined;
  do {
    source.requests.length = 0;
    const page = await pageServers(source, pageToken === undefined ? { limit } : { limit, pageToken });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    pages.push({ items: [...page.items], requests: [...source.requests] });
    pageToken = page.nextToken;
  } while (pageToken !== undefined);
  return pages;
}

function byName(servers: readonly ServerView[]): ServerView[] {
  return [...servers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

const fleetArb = fc.array(
  fc.record({
    server: fc.integer({ min: 0, max: 14 }),
    named: fc.boolean(),
    inEc2: fc.boolean(),
  }),
  { maxLength: 40 },
);

describe('GET /servers REPLICA GONE pages from the registry index', () => {
  it('any page size holds exactly the unpaged servers, page for page as the whole-registry path, never reading the whole registry (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fleetArb, fc.integer({ min: 1, max: 9 }), async (specs, limit) => {
        // Volume ids in an order unrelated to the servers', so a server's volumes are spread.
        const volumes = specs.map((spec, n) => ({
          ...spec,
          volumeId: `vol-${String((n * 7919) % 1000).padStart(3, '0')}-${n}`,
        }));
        const inEc2 = volumes
          .filter((v) => v.inEc2)
          .map((v): ServerVolume => ({
            volumeId: v.volumeId,
            tags: v.named ? { ...REPLICA, 'rbp:source-server': `S${v.server}` } : REPLICA,
          }));
        const registry = volumes.map((v) =>
          v.named ? { volumeId: v.volumeId, serverId: `S${v.server}` } : { volumeId: v.volumeId },
        );
        const unpaged = (await allPages(new RegistrySource(inEc2, registry, true), 10_000)).flatMap(
          (p) => p.items,
        );
        const indexed = await allPages(new RegistrySource(inEc2, registry, true), limit);
        const whole = await allPages(new RegistrySource(inEc2, registry, false), limit);
        const listed = indexed.flatMap((p) => p.items);
        // A page is ordered by name and EC2's servers follow the volume pages' order, so one page
        // of everything and many pages hold the same servers; the gone ones in name order.
        expect(byName(listed)).toEqual(byName(unpaged));
        expect(new Set(listed.map((s) => s.name)).size).toBe(listed.length);
        const gone = (servers: ServerView[]) => servers.filter((s) => s.state === 'REPLICA GONE');
        expect(gone(listed)).toEqual(gone(unpaged));
        expect(indexed.map((p) => p.items)).toEqual(whole.map((p) => p.items));
        for (const page of indexed) {
          expect(page.requests).not.toContain('registry');
          // Index reads hold at most the volume page's size in servers (5..500: DescribeVolumes' range).
          for (const read of page.requests.filter((r) => r.startsWith('index '))) {
            expect(Number(read.slice('index '.length))).toBeLessThanOrEqual(Math.max(5, limit));
          }
        }
        // The whole-registry path reads the registry once on every page of the gone phase.
        for (const page of whole.filter((p) => p.items.some((s) => s.state === 'REPLICA GONE'))) {
          expect(page.requests.filter((r) => r === 'registry')).toHaveLength(1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
