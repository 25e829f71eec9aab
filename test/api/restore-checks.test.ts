/**
 * POST /restores checks what it names before any job starts, against a catalog built by
 * buildCatalog from a real ext4 image: a missing path or application is a 404, a path of the
 * wrong kind a 400, an image with two filesystems and no partition a 400 naming them, a partition
 * without a catalogued filesystem a 404 naming those there are (for listings too). An
 * application whose metadata lists a missing path is catalogued with a warning and restores what
 * exists, with the missing path in the job result.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageCatalogOf } from '../../lambdas/core/api/catalog-reader.ts';
import type { ImageCatalog } from '../../lambdas/core/api/schemas.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import { createRestoreJob, runRestoreJob } from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { catalogApiHandler, catalogedApiImage, imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { seededMemoryApi, type MemoryApi } from '../fakes/memory-api-ports.ts';
import { memoryRestoreDeps } from '../file-restore/memory-restore.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, run, scratchDir } from '../support/fs-images.ts';
import { answerOf, notProtectedVolume, proxyEvent, type Answer, type EventSpec } from './api-events.ts';

const MIB = 1024 * 1024;
const ref = imageAt('vol-0123456789abcdef0', 1);
/** A second image of the same volume whose catalog record has two ext4 filesystems. */
const twoFs = imageAt('vol-0123456789abcdef0', 2);
const APPLICATIONS = JSON.stringify({
  formatVersion: 1,
  applications: [
    { name: 'web', type: 'generic', paths: ['/srv/web', '/srv/gone'], databases: [] },
    { name: 'cache', type: 'generic', paths: ['/var/cache/redis'], databases: [] },
  ],
});

let work: string;
let reader: FileByteRangeReader;
let catalog: MemoryCatalogStore;
let api: MemoryApi;
let handler: ApiProxyHandler;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

const apiImage = catalogedApiImage;

beforeAll(async () => {
  work = await scratchDir('restore-checks');
  const source = path.join(work, 'src');
  await mkdir(path.join(source, 'srv/web'), { recursive: true });
  await mkdir(path.join(source, '.rbp'));
  await writeFile(path.join(source, 'srv/web/index.html'), '<p>hello</p>\n');
  await writeFile(path.join(source, 'notes.txt'), 'a regular file\n');
  await writeFile(path.join(source, '.rbp/applications.json'), APPLICATIONS);
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: 64 * MIB, sourceDir: source });
  reader = await FileByteRangeReader.open(imageFile);
  catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image: ref, disk: reader });
  const record = (await catalog.getImageCatalog(ref.volumeId, versionKeyOf(ref)))!;
  const [only] = record.partitions;
  await catalog.putImageCatalog({
    ...record,
    ...twoFs,
    version: versionKeyOf(twoFs),
    partitions: [
      { ...only!, index: 0 },
      { ...only!, index: 5 },
    ],
  });
  api = seededMemoryApi();
  handler = catalogApiHandler(catalog, [apiImage(ref), apiImage(twoFs)], api.deps);
}, 60_000);

afterAll(async () => {
  await reader?.close();
  await removeDir(work);
});

async function restore(body: Record<string, unknown>): Promise<Answer> {
  return call({ method: 'POST', path: '/restores', body: { imageId: ref.imageId, ...body } });
}

describe('POST /restores checks at once', () => {
  it.each([
    [
      { kind: 'file', path: '/no/such/file' },
      404,
      'NotFound',
      `/no/such/file does not exist in image ${ref.imageId}`,
    ],
    [
      { kind: 'directory', path: '/srv/missing' },
      404,
      'NotFound',
      `/srv/missing does not exist in image ${ref.imageId}`,
    ],
    [
      { kind: 'application', application: 'mail' },
      404,
      'NotFound',
      `image ${ref.imageId} has no application named "mail"`,
    ],
    [
      { kind: 'directory', path: '/notes.txt' },
      400,
      'InvalidRequest',
      '/notes.txt is a file; only directories can be restored as a directory',
    ],
    [
      { kind: 'file', path: '/srv/web' },
      400,
      'InvalidRequest',
      '/srv/web is a directory; only regular files can be restored as a file',
    ],
    [
      { kind: 'file', path: '/notes.txt', partition: 7 },
      404,
      'NotFound',
      `image ${ref.imageId} has no catalogued filesystem in partition 7 (catalogued: partition 0)`,
    ],
  ])('refuses %j with %i and starts no job', async (body, status, code, message) => {
    const answer = await restore(body);
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ code, message });
    expect(api.restores.startCalls).toBe(0);
  });

  it('refuses a file restore from an image with two filesystems and no partition, naming them (400)', async () => {
    const answer = await restore({ imageId: twoFs.imageId, kind: 'file', path: '/notes.txt' });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({
      code: 'InvalidRequest',
      message: `image ${twoFs.imageId} has 2 filesystems (partitions 0, 5); name one with partition`,
    });
    expect(api.restores.startCalls).toBe(0);
    const named = await restore({ imageId: twoFs.imageId, kind: 'file', path: '/notes.txt', partition: 0 });
    expect(named.status).toBe(202);
  });

  it.each([
    { kind: 'file', path: '/notes.txt' },
    { kind: 'directory', path: '/srv/web' },
    { kind: 'directory', path: '/' },
    { kind: 'application', application: 'web' },
  ])('accepts %j', async (body) => {
    expect((await restore(body)).status).toBe(202);
  });
});

describe('an application whose metadata lists a missing path', () => {
  it('is catalogued with a warning naming the path', async () => {
    const record = await catalog.getImageCatalog(ref.volumeId, versionKeyOf(ref));
    expect(record!.warnings).toEqual([
      {
        partition: 0,
        path: '/srv/gone',
        message: 'application "web" lists /srv/gone, which does not exist in the image',
      },
      {
        partition: 0,
        path: '/var/cache/redis',
        message: 'application "cache" lists /var/cache/redis, which does not exist in the image',
      },
    ]);
  });

  it('restores what exists and reports the missing path; an application with nothing there fails', async () => {
    const deps = memoryRestoreDeps(catalog, reader);
    const { objects } = deps;
    for (const [restoreId, application] of [
      ['rs-web', 'web'],
      ['rs-cache', 'cache'],
    ] as const) {
      await createRestoreJob(deps, {
        restoreId,
        volumeId: ref.volumeId,
        imageId: ref.imageId,
        kind: 'application',
        application,
        keyToken: 'token',
      });
    }
    const web = await runRestoreJob(deps, 'rs-web');
    expect(web.status).toBe('succeeded');
    expect(web.result!.missing).toEqual(['/srv/gone']);
    expect(web.result!.files).toBe(1);
    const tar = path.join(work, 'web.tar');
    await writeFile(tar, objects.objects.get(web.result!.key)!.body);
    expect((await run('tar', ['-tf', tar])).split('\n').filter(Boolean)).toEqual([
      'srv/web',
      'srv/web/index.html',
    ]);
    const cache = await runRestoreJob(deps, 'rs-cache');
    expect(cache.status).toBe('failed');
    expect(cache.failure!.reason).toBe(
      `none of the paths of application "cache" exists in image ${ref.imageId}: no such file or directory: /var/cache/redis`,
    );
  });
});

describe('GET /images/{imageId}/files with a partition', () => {
  it.each(['/', '/srv'])(
    'answers %s of a partition without a catalogued filesystem with a 404 naming those there are',
    async (path) => {
      const answer = await call({
        method: 'GET',
        path: `/images/${ref.imageId}/files`,
        query: { path, partition: '1' },
      });
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({
        code: 'NotFound',
        message: `image ${ref.imageId} has no catalogued filesystem in partition 1 (catalogued: partition 0)`,
        details: { imageId: ref.imageId, partition: 1 },
      });
    },
  );

  it('names every catalogued partition of an image with several', async () => {
    const answer = await call({
      method: 'GET',
      path: `/images/${twoFs.imageId}/files`,
      query: { path: '/', partition: '2' },
    });
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({
      message: `image ${twoFs.imageId} has no catalogued filesystem in partition 2 (catalogued: partitions 0, 5)`,
    });
  });

  it('lists a catalogued partition named as such', async () => {
    const answer = await call({
      method: 'GET',
      path: `/images/${ref.imageId}/files`,
      query: { path: '/srv', partition: '0' },
    });
    expect(answer.status).toBe(200);
    expect((answer.body as { items: { name: string }[] }).items.map((e) => e.name)).toEqual(['web']);
  });
});

describe('an unknown volume', () => {
  it.each([
    ['/files/versions', { path: '/notes.txt' }],
    ['/files/versions', { path: '/notes.txt', partition: '0' }],
    ['/files/search', { name: 'notes.txt' }],
    ['/images', {}],
  ])('is a 404 on %s %j, as on every volume route', async (route, query) => {
    const answer = await call({
      method: 'GET',
      path: `/volumes/vol-0aaaaaaaaaaaaaaaa${route}`,
      query,
    });
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual(notProtectedVolume('vol-0aaaaaaaaaaaaaaaa'));
  });
});

describe('GET /images/{imageId}', () => {
  it('carries what the catalog found: status, filesystems with type, label, partition and counts, warnings', async () => {
    const answer = await call({ method: 'GET', path: `/images/${ref.imageId}` });
    expect(answer.status).toBe(200);
    const catalog = answer.body.catalog as ImageCatalog;
    expect(catalog.status).toBe('complete');
    expect(catalog.filesystems).toEqual([
      expect.objectContaining({
        partition: 0,
        type: 'ext4',
        status: 'complete',
        files: 3,
        errorCount: 0,
      }),
    ]);
    expect(catalog.warnings.map((w) => w.path)).toEqual(['/srv/gone', '/var/cache/redis']);
  });

  it('tells "unsupported" from "no filesystem"', () => {
    const record = {
      volumeId: ref.volumeId,
      imageId: ref.imageId,
      createdAt: ref.createdAt,
      version: versionKeyOf(ref),
      formatVersion: 2,
      status: 'unsupported' as const,
      counts: { files: 0, directories: 0, symlinks: 0, others: 0, bytes: 0 },
      changes: { added: 0, changed: 0, removed: 0, itemsWritten: 0 },
      errorCount: 0,
      errors: [],
      warnings: [],
      applicationCount: 0,
    };
    const part = (index: number, fsType: string, reason: string) => ({
      index,
      fsType,
      status: 'unsupported' as const,
      reason,
      counts: record.counts,
      changes: record.changes,
      errorCount: 0,
    });
    const random = imageCatalogOf({
      ...record,
      partitions: [part(0, 'unknown', 'no known filesystem signature')],
    });
    expect(random.status).toBe('no-filesystem');
    expect(random.filesystems[0]!.status).toBe('no-filesystem');
    const btrfs = imageCatalogOf({
      ...record,
      partitionScheme: 'gpt',
      partitions: [
        part(1, 'btrfs', 'btrfs filesystems are not read'),
        part(2, 'unknown', 'no known filesystem signature'),
      ],
    });
    expect(btrfs.status).toBe('unsupported');
    expect(btrfs.filesystems.map((f) => f.status)).toEqual(['unsupported', 'no-filesystem']);
  });
});
