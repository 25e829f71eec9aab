/**
 * `GET /volumes` reads the replica volumes from EC2 a page at a time (RecordDirectories over a
 * source with pages: core/api/record-directories.ts): every volume listed exactly once across the
 * pages, whatever EC2's order and however its filters thin its pages, and a page costs the same
 * requests at 10 and at 1,000 replica volumes, in memory and on the local stack (DescribeVolumes).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { Ec2ReplicaVolumes, ReplicaVolumesWithRegistered } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { queryScope } from '../../lambdas/core/api/cursor.ts';
import {
  MAX_SOURCE_PAGES_PER_PAGE,
  RecordDirectories,
  REPLICA_GONE,
  type ReplicaVolume,
  type ReplicaVolumeSource,
  type ReplicaVolumeSourcePage,
} from '../../lambdas/core/api/record-directories.ts';
import type { ImageRecordPage, ImageRecordQuery } from '../../lambdas/core/image/image-records.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { memoryApi } from '../fakes/memory-api-ports.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { answerOf, proxyEvent, type EventSpec } from './api-events.ts';
import { countedEc2OnLocalStack, createReplicaVolume } from '../support/counted-ec2.ts';

/**
 * Volumes in EC2's order, paged as DescribeVolumes pages a filtered listing: `limit` volumes are
 * cut from every volume, then the ones that are not replicas are left out (a page can be short,
 * even empty, with a next token). The token is an offset; requests are counted.
 */
class MemoryReplicaPages implements ReplicaVolumeSource {
  readonly requests: string[] = [];
  constructor(
    private readonly volumes: readonly { readonly volume: ReplicaVolume; readonly replica: boolean }[],
  ) {}

  listReplicaVolumes(): Promise<readonly ReplicaVolume[]> {
    return Promise.reject(new Error('GET /volumes must not read every replica volume'));
  }

  pageReplicaVolumes(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage> {
    this.requests.push(`page ${page.limit}`);
    expect(page.limit).toBeGreaterThanOrEqual(5);
    expect(page.limit).toBeLessThanOrEqual(500);
    const at = page.token === undefined ? 0 : Number(page.token);
    const volumes = this.volumes
      .slice(at, at + page.limit)
      .filter((v) => v.replica)
      .map((v) => v.volume);
    const next = at + page.limit;
    return Promise.resolve(next < this.volumes.length ? { volumes, nextToken: String(next) } : { volumes });
  }
}

/** Image records in memory; the count and page reads counted. */
class CountedRecords extends MemoryImageRecordStore {
  readonly requests: string[] = [];
  override countImageRecords(volumeId: string): Promise<number> {
    this.requests.push('count');
    return super.countImageRecords(volumeId);
  }
  override pageImageRecords(volumeId: string, query: ImageRecordQuery): Promise<ImageRecordPage> {
    this.requests.push('page');
    return super.pageImageRecords(volumeId, query);
  }
}

const volumeId = (n: number) => `vol-${n.toString(16).padStart(17, '0')}`;

function directoriesOf(replicas: ReplicaVolumeSource, records = new MemoryImageRecordStore()) {
  return new RecordDirectories({ replicas, records, cataloged: () => Promise.resolve(false) });
}

/** The API with `directories` as its volume directory. */
function volumesApi(directories: RecordDirectories) {
  const api = memoryApi();
  const handler = createApiHandler({ ...api.deps, volumes: directories }, () => undefined);
  const call = async (spec: EventSpec) => answerOf(await handler(proxyEvent(spec)));
  return { api, call };
}

/** Every page of GET /volumes from the first, following the cursor. */
async function followCursor(
  call: (spec: EventSpec) => Promise<{ status: number; body: Record<string, unknown> }>,
  limit: number,
): Promise<{ volumeId: string }[][]> {
  const pages: { volumeId: string }[][] = [];
  let cursor: string | undefined;
  do {
    const query: Record<string, string> = { limit: String(limit) };
    if (cursor !== undefined) query.cursor = cursor;
    const answer = await call({ method: 'GET', path: '/volumes', query });
    expect(answer.status).toBe(200);
    const items = answer.body.items as { volumeId: string }[];
    expect(items.length).toBeLessThanOrEqual(limit);
    pages.push(items);
    cursor = answer.body.nextCursor as string | undefined;
  } while (cursor !== undefined);
  return pages;
}

describe('GET /volumes pages in EC2', () => {
  it('lists every replica volume exactly once, by id within a page, for any EC2 order, filter and page size (fast-check)', async () => {
    const fleet = fc
      .uniqueArray(fc.integer({ min: 0, max: 10_000 }), { maxLength: 60 })
      .chain((ids) =>
        fc.tuple(
          fc.shuffledSubarray(ids, { minLength: ids.length }),
          fc.array(fc.boolean(), { minLength: ids.length, maxLength: ids.length }),
        ),
      )
      .map(([ids, replica]) =>
        ids.map((n, i) => ({ volume: { volumeId: volumeId(n) }, replica: replica[i]! })),
      );
    await fc.assert(
      fc.asyncProperty(fleet, fc.integer({ min: 1, max: 12 }), async (volumes, limit) => {
        const source = new MemoryReplicaPages(volumes);
        const { call } = volumesApi(directoriesOf(source));
        const before = () => source.requests.length;
        let pages = 0;
        const start = before();
        const listed = (await followCursor(call, limit)).flatMap((page) => {
          pages += 1;
          const ids = page.map((v) => v.volumeId);
          expect(ids).toEqual([...ids].sort());
          return ids;
        });
        const replicas = volumes.filter((v) => v.replica).map((v) => v.volume.volumeId);
        expect(listed.sort()).toEqual(replicas.sort());
        expect(before() - start).toBeLessThanOrEqual(pages * MAX_SOURCE_PAGES_PER_PAGE);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the JSON of a volume, and the order by id of a fleet that fits in one page', async () => {
    const records = new MemoryImageRecordStore();
    await records.putImageRecord(fullImageRecord(volumeId(2), 'img-1', '2026-12-01T00:00:00.000Z'));
    await records.putImageRecord(fullImageRecord(volumeId(2), 'img-2', '2026-12-02T00:00:00.000Z'));
    const source = new MemoryReplicaPages([
      { volume: { volumeId: volumeId(3) }, replica: true },
      {
        volume: { volumeId: volumeId(2), serverId: 'web-01', device: '/dev/xvda', sizeGib: 8 },
        replica: true,
      },
      { volume: { volumeId: volumeId(1) }, replica: true },
    ]);
    const { call } = volumesApi(directoriesOf(source, records));
    const answer = await call({ method: 'GET', path: '/volumes' });
    expect(answer).toMatchObject({ status: 200 });
    expect(answer.body).toEqual({
      items: [
        { volumeId: volumeId(1), imageCount: 0 },
        {
          volumeId: volumeId(2),
          serverId: 'web-01',
          device: '/dev/xvda',
          sizeGib: 8,
          imageCount: 2,
          latestImageId: 'img-2',
          latestImageAt: '2026-12-02T00:00:00.000Z',
        },
        { volumeId: volumeId(3), imageCount: 0 },
      ],
    });
    expect(source.requests).toEqual(['page 100']);
  });

  it('a page of 5 costs the same at 10 and at 1,000 replica volumes: one volume page, two record reads per volume', async () => {
    const measured: { source: string[]; records: string[]; items: number; nextCursor: boolean }[] = [];
    for (const count of [10, 1_000]) {
      const records = new CountedRecords();
      const volumes = Array.from({ length: count }, (_, n) => ({
        volume: { volumeId: volumeId(n) },
        replica: true,
      }));
      for (const { volume } of volumes) {
        await records.putImageRecord(
          fullImageRecord(volume.volumeId, `img-${volume.volumeId}`, '2026-12-01T00:00:00.000Z'),
        );
      }
      const source = new MemoryReplicaPages(volumes);
      const { call } = volumesApi(directoriesOf(source, records));
      records.requests.length = 0;
      const answer = await call({ method: 'GET', path: '/volumes', query: { limit: '5' } });
      expect(answer.status).toBe(200);
      const items = answer.body.items as { volumeId: string; imageCount: number }[];
      expect(items.map((v) => v.volumeId)).toEqual(volumes.slice(0, 5).map((v) => v.volume.volumeId));
      for (const item of items) expect(item.imageCount).toBe(1);
      measured.push({
        source: source.requests,
        records: records.requests,
        items: items.length,
        nextCursor: typeof answer.body.nextCursor === 'string',
      });
    }
    const page = {
      source: ['page 5'],
      records: Array.from({ length: 5 }, () => ['count', 'page']).flat(),
      items: 5,
      nextCursor: true,
    };
    expect(measured).toEqual([page, page]);
  });

  it('a page of 2 stops inside a volume page of 5, and the next page reads it again and goes on, into the next volume page', async () => {
    const source = new MemoryReplicaPages(
      [4, 2, 0, 3, 1, 9, 5, 8, 6, 7].map((n) => ({ volume: { volumeId: volumeId(n) }, replica: true })),
    );
    const { call } = volumesApi(directoriesOf(source));
    const pages = await followCursor(call, 2);
    expect(pages.map((page) => page.map((v) => Number.parseInt(v.volumeId.slice(4), 16)))).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
    ]);
    // The third page takes vol-4, the last of the first volume page, then reads the second volume
    // page for vol-5: 6 volume pages read for 5 pages of 2.
    expect(source.requests).toEqual(['page 5', 'page 5', 'page 5', 'page 5', 'page 5', 'page 5']);
  });

  it('refuses a cursor whose position it did not write with the exact 400', async () => {
    const { api, call } = volumesApi(directoriesOf(new MemoryReplicaPages([])));
    for (const token of [volumeId(1), '{"s":-1,"n":10}', '{"s":0,"n":501}', '{"t":"","s":0,"n":5}']) {
      const cursor = api.deps.cursors.encode(queryScope('listVolumes', {}), { token });
      const answer = await call({ method: 'GET', path: '/volumes', query: { cursor } });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        code: 'InvalidRequest',
        message: 'invalid cursor: unreadable position',
      });
    }
  });
});

/** Registered volumes EC2 no longer has, paged by volume id (token: the last id read); requests counted. */
class MemoryGonePages extends MemoryReplicaPages {
  constructor(
    volumes: readonly { readonly volume: ReplicaVolume; readonly replica: boolean }[],
    private readonly gone: readonly ReplicaVolume[],
  ) {
    super(volumes);
  }

  pageGoneVolumes(page: {
    readonly limit: number;
    readonly token?: string;
  }): Promise<ReplicaVolumeSourcePage> {
    this.requests.push(`gone ${page.limit}`);
    const after = [...this.gone]
      .sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1))
      .filter((v) => page.token === undefined || v.volumeId > page.token);
    const read = after.slice(0, page.limit);
    const volumes = read.map((v) => ({ ...v, state: REPLICA_GONE }));
    return Promise.resolve(
      after.length > page.limit ? { volumes, nextToken: read.at(-1)!.volumeId } : { volumes },
    );
  }
}

describe('GET /volumes lists the registered volumes EC2 no longer has after its own, REPLICA GONE', () => {
  it('lists every replica and every gone volume exactly once, gone ones with their state, within the request bound (fast-check)', async () => {
    const fleet = fc
      .uniqueArray(fc.integer({ min: 0, max: 10_000 }), { maxLength: 40 })
      .chain((ids) =>
        fc
          .array(fc.boolean(), { minLength: ids.length, maxLength: ids.length })
          .map((g) => [ids, g] as const),
      );
    await fc.assert(
      fc.asyncProperty(fleet, fc.integer({ min: 1, max: 12 }), async ([ids, goneFlags], limit) => {
        const present = ids
          .filter((_, i) => !goneFlags[i])
          .map((n) => ({ volume: { volumeId: volumeId(n) }, replica: true }));
        const gone = ids
          .filter((_, i) => goneFlags[i])
          .map((n) => ({ volumeId: volumeId(n), serverId: 'srv-gone' }));
        const source = new MemoryGonePages(present, gone);
        const { call } = volumesApi(directoriesOf(source));
        const pages = await followCursor(call, limit);
        const listed = pages.flat() as { volumeId: string; state?: string }[];
        expect(listed.map((v) => v.volumeId).sort()).toEqual(ids.map(volumeId).sort());
        expect(
          listed
            .filter((v) => v.state === 'REPLICA GONE')
            .map((v) => v.volumeId)
            .sort(),
        ).toEqual(gone.map((v) => v.volumeId).sort());
        expect(source.requests.length).toBeLessThanOrEqual(pages.length * MAX_SOURCE_PAGES_PER_PAGE);
      }),
      { numRuns: 300 },
    );
  });

  it('answers the exact JSON: EC2’s volumes as before, then the gone one with its registered server and images', async () => {
    const records = new MemoryImageRecordStore();
    await records.putImageRecord(fullImageRecord(volumeId(9), 'img-g1', '2026-11-01T00:00:00.000Z'));
    const source = new MemoryGonePages(
      [
        {
          volume: { volumeId: volumeId(2), serverId: 'web-01', device: '/dev/xvda', sizeGib: 8 },
          replica: true,
        },
      ],
      [{ volumeId: volumeId(9), serverId: 'db-01' }],
    );
    const { call } = volumesApi(directoriesOf(source, records));
    const answer = await call({ method: 'GET', path: '/volumes' });
    expect(answer.body).toEqual({
      items: [
        { volumeId: volumeId(2), serverId: 'web-01', device: '/dev/xvda', sizeGib: 8, imageCount: 0 },
        {
          volumeId: volumeId(9),
          serverId: 'db-01',
          imageCount: 1,
          latestImageId: 'img-g1',
          latestImageAt: '2026-11-01T00:00:00.000Z',
          state: 'REPLICA GONE',
        },
      ],
    });
    expect(source.requests).toEqual(['page 100', 'gone 100']);
  });

  it('a page that ends with EC2’s last page hands over to the registry with a cursor; a gone-phase cursor without a registry is refused', async () => {
    const source = new MemoryGonePages(
      [1, 2].map((n) => ({ volume: { volumeId: volumeId(n) }, replica: true })),
      [{ volumeId: volumeId(3) }],
    );
    const { api, call } = volumesApi(directoriesOf(source));
    const pages = await followCursor(call, 2);
    expect(pages.map((page) => page.map((v) => v.volumeId))).toEqual([
      [volumeId(1), volumeId(2)],
      [volumeId(3)],
    ]);
    expect(source.requests).toEqual(['page 5', 'gone 5']);
    const { call: ec2Only } = volumesApi(directoriesOf(new MemoryReplicaPages([])));
    const cursor = api.deps.cursors.encode(queryScope('listVolumes', {}), { token: '{"g":1,"s":0,"n":5}' });
    const refused = await ec2Only({ method: 'GET', path: '/volumes', query: { cursor } });
    expect([refused.status, refused.body.message]).toEqual([400, 'invalid cursor: unreadable position']);
  });
});

describe('one replica volume is one lookup, not the whole list', () => {
  it('serverOfVolume and assertProtected (GET /volumes/{id}/images of a volume without images) read one volume', async () => {
    const volumes: ReplicaVolume[] = [
      { volumeId: volumeId(1), serverId: 'web-01' },
      { volumeId: volumeId(2) },
    ];
    const lookups: string[] = [];
    const source: ReplicaVolumeSource = {
      listReplicaVolumes: () =>
        Promise.reject(new Error('a lookup of one volume must not read every volume')),
      findReplicaVolume: (id) => {
        lookups.push(id);
        return Promise.resolve(volumes.find((v) => v.volumeId === id));
      },
    };
    const directories = directoriesOf(source);
    expect(await directories.serverOfVolume(volumeId(1))).toBe('web-01');
    expect(await directories.serverOfVolume(volumeId(2))).toBe(volumeId(2));
    expect(await directories.serverOfVolume(volumeId(3))).toBeUndefined();
    const { call } = volumesApi(directories);
    expect((await call({ method: 'GET', path: `/volumes/${volumeId(2)}/images` })).body).toEqual({
      items: [],
    });
    const unknown = await call({ method: 'GET', path: `/volumes/${volumeId(3)}/images` });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({
      message: `volume ${volumeId(3)} is not a protected replica volume`,
    });
    expect(lookups).toEqual([volumeId(1), volumeId(2), volumeId(3), volumeId(2), volumeId(3)]);
  });
});

describe('GET /volumes on the local stack', () => {
  const local = useLocalStack();
  const ec2Clients = countedEc2OnLocalStack(local);

  it(
    'sends one DescribeVolumes (MaxResults 10) for a page of 10 at 10 and at 1,000 replica volumes, lists each once, and finds one volume with one DescribeVolumes',
    { timeout: 240_000 },
    async () => {
      const { ec2, counted, sent } = ec2Clients();
      const create = () => createReplicaVolume(ec2);
      const measured: { requests: number; items: number; nextCursor: boolean }[] = [];
      let made = 0;
      for (const count of [10, 1_000]) {
        for (; made < count; made += 10) await Promise.all(Array.from({ length: 10 }, create));
        sent.length = 0;
        const { call } = volumesApi(directoriesOf(new Ec2ReplicaVolumes(counted)));
        const answer = await call({ method: 'GET', path: '/volumes', query: { limit: '10' } });
        expect(answer.status).toBe(200);
        measured.push({
          requests: sent.length,
          items: (answer.body.items as unknown[]).length,
          nextCursor: typeof answer.body.nextCursor === 'string',
        });
        expect(sent).toEqual([{ Filters: [{ Name: 'tag:rbp:replica', Values: ['true'] }], MaxResults: 10 }]);
      }
      expect(measured).toEqual([
        { requests: 1, items: 10, nextCursor: false },
        { requests: 1, items: 10, nextCursor: true },
      ]);
      // Following the cursor: 4 pages of 250, one DescribeVolumes each, every volume once.
      sent.length = 0;
      const { call } = volumesApi(directoriesOf(new Ec2ReplicaVolumes(counted)));
      const pages = await followCursor(call, 250);
      expect(pages.map((page) => page.length)).toEqual([250, 250, 250, 250]);
      expect(new Set(pages.flat().map((v) => v.volumeId)).size).toBe(1_000);
      expect(sent.map((input) => input.MaxResults)).toEqual([250, 250, 250, 250]);

      // One volume: one DescribeVolumes filtered on its id, whatever the account holds.
      const tagged = await createReplicaVolume(ec2, 'web-01');
      sent.length = 0;
      const volumes = new Ec2ReplicaVolumes(counted);
      expect(await volumes.findReplicaVolume(tagged.VolumeId!)).toEqual({
        volumeId: tagged.VolumeId,
        serverId: 'web-01',
        sizeGib: 1,
      });
      expect(await volumes.findReplicaVolume('vol-0000000000000dead')).toBeUndefined();
      expect(sent).toEqual([
        {
          Filters: [
            { Name: 'tag:rbp:replica', Values: ['true'] },
            { Name: 'volume-id', Values: [tagged.VolumeId] },
          ],
          MaxResults: 500,
        },
        {
          Filters: [
            { Name: 'tag:rbp:replica', Values: ['true'] },
            { Name: 'volume-id', Values: ['vol-0000000000000dead'] },
          ],
          MaxResults: 500,
        },
      ]);
    },
  );

  it(
    'finds the gone volumes of a registry page with one DescribeVolumes on its ids',
    { timeout: 60_000 },
    async () => {
      const { ec2, counted, sent } = ec2Clients();
      const table = 'rbp-volume-pages-registry';
      const documents = await createCatalogTable(local.clientConfig(), table);
      const store = new DynamoDbImageRecordStore(documents, table);
      const live = (await createReplicaVolume(ec2, 'web-02')).VolumeId!;
      const goneA = 'vol-00000000000000a01';
      const goneB = 'vol-00000000000000a02';
      for (const [id, serverId] of [
        [goneA, 'db-01'],
        [goneB, 'db-01'],
        [live, 'web-02'],
      ] as const) {
        await store.putImageRecord(
          fullImageRecord(id, `img-${id}`, '2026-11-01T00:00:00.000Z'),
          undefined,
          undefined,
          {
            serverId,
          },
        );
      }
      const registry = new DynamoDbLifecycleImageRecords(documents, table);
      const source = new ReplicaVolumesWithRegistered(
        new Ec2ReplicaVolumes(counted),
        () => registry.registeredVolumes(),
        (page) => registry.pageRegisteredVolumes(page),
      );
      sent.length = 0;
      const first = await source.pageGoneVolumes({ limit: 2 });
      expect(first).toEqual({
        volumes: [
          { volumeId: goneA, serverId: 'db-01', state: 'REPLICA GONE' },
          { volumeId: goneB, serverId: 'db-01', state: 'REPLICA GONE' },
        ],
        nextToken: goneB,
      });
      expect(sent).toEqual([
        {
          Filters: [
            { Name: 'tag:rbp:replica', Values: ['true'] },
            { Name: 'volume-id', Values: [goneA, goneB] },
          ],
          MaxResults: 500,
        },
      ]);
      // The live volume's id sorts after the gone ones ('vol-<17 hex>' from moto vs 'vol-000…a0n').
      expect(await source.pageGoneVolumes({ limit: 2, token: first.nextToken! })).toEqual({ volumes: [] });
      documents.destroy();
    },
  );
});
