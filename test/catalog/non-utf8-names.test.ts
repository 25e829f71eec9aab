/**
 * Names that are not valid UTF-8 (issue 14, defect 5), on a real ext4 image made by `mke2fs -d`
 * from a directory holding Latin-1 names: `caf\xe9.txt` and `caf\xe8.txt` differ only in a byte
 * that is not UTF-8 (a lossy decoding made both `caf\uFFFD.txt`: one hid the other), a directory
 * `d\xff` holding `inner\xfe.bin`, a symlink whose target is such a name, and valid names with
 * é and a backslash beside them. Both Latin-1 files are catalogued apart, are listed, versioned,
 * searched and restored through the API by their escaped form, restore byte for byte, and GNU tar
 * extracts a directory restore with the original byte names.
 */
import { mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogPathSchema } from '../../lambdas/core/api/schemas.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { listDirectory } from '../../lambdas/core/catalog/catalog-queries.ts';
import { versionKeyOf } from '../../lambdas/core/catalog/catalog-types.ts';
import {
  createRestoreJob,
  runRestoreJob,
  type RestoreDeps,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import type { ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from '../api/api-events.ts';
import { memoryRestoreDeps, type MemoryRestoreObjects } from '../file-restore/memory-restore.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, run, scratchDir } from '../support/fs-images.ts';
import { catalogApiHandler, catalogedApiImage, imageAt } from './catalog-fixtures.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const MIB = 1024 * 1024;
const ref = imageAt('vol-0123456789abcdef0', 1);
const bytes = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

/** caf + é in Latin-1, caf + è in Latin-1: invalid UTF-8, equal under a lossy decoding. */
const CAFE_E9 = bytes('caf', [0xe9], '.txt');
const CAFE_E8 = bytes('caf', [0xe8], '.txt');
const DIR_FF = bytes('d', [0xff]);
const INNER_FE = bytes('inner', [0xfe], '.bin');
const CONTENT = new Map<string, Buffer>([
  [CAFE_E9.toString('hex'), Buffer.from('written by a Latin-1 tool: e acute\n')],
  [CAFE_E8.toString('hex'), Buffer.from('written by a Latin-1 tool: e grave, longer\n'.repeat(3))],
]);

let work: string;
let source: Buffer;
let reader: FileByteRangeReader;
let catalog: MemoryCatalogStore;
let handler: ApiProxyHandler;
let deps: RestoreDeps & { objects: MemoryRestoreObjects };
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));
const join = (...parts: Buffer[]): Buffer =>
  Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('/'), p])));

beforeAll(async () => {
  work = await scratchDir('non-utf8-names');
  source = Buffer.from(path.join(work, 'src'));
  const data = join(source, Buffer.from('data'));
  await mkdir(data, { recursive: true });
  await writeFile(join(data, CAFE_E9), CONTENT.get(CAFE_E9.toString('hex'))!);
  await writeFile(join(data, CAFE_E8), CONTENT.get(CAFE_E8.toString('hex'))!);
  await writeFile(join(data, Buffer.from('café.txt')), 'valid UTF-8\n');
  await writeFile(join(data, Buffer.from('a\\b.txt')), 'a backslash in a valid name\n');
  await mkdir(join(data, DIR_FF));
  await writeFile(join(data, DIR_FF, INNER_FE), Buffer.alloc(70_000, 0xab));
  await symlink(CAFE_E9, join(data, Buffer.from('link')));
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: 32 * MIB, sourceDir: source.toString('latin1') });
  reader = await FileByteRangeReader.open(imageFile);
  catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image: ref, disk: reader });
  handler = catalogApiHandler(catalog, [catalogedApiImage(ref, 32 * MIB)]);
  deps = memoryRestoreDeps(catalog, reader);
}, 120_000);

afterAll(async () => {
  await reader?.close();
  if (work !== undefined) await removeDir(work);
});

/** A restore job run the way the worker runs it, for a path as the API took it (escaped form in). */
async function restore(kind: 'file' | 'directory', escapedPath: string, id: string) {
  await createRestoreJob(deps, {
    restoreId: id,
    volumeId: ref.volumeId,
    imageId: ref.imageId,
    kind,
    path: catalogPathSchema.parse(escapedPath),
    keyToken: `token-${id}`,
  });
  return runRestoreJob(deps, id);
}

describe('names that are not valid UTF-8 on a real ext4 image', () => {
  it('are catalogued apart, in the reversible stored form, without errors', async () => {
    const record = await catalog.getImageCatalog(ref.volumeId, versionKeyOf(ref));
    expect(record).toMatchObject({ status: 'complete', errorCount: 0, formatVersion: 3 });
    const listing = await listDirectory(catalog, ref, 0, '/data');
    expect(listing.items.map((e) => e.name)).toEqual([
      'a\\b.txt',
      'caf\u0000e8.txt',
      'caf\u0000e9.txt',
      'café.txt',
      'd\u0000ff',
      'link',
    ]);
    expect(listing.items.find((e) => e.name === 'link')?.symlinkTarget).toBe('caf\u0000e9.txt');
    expect(listing.items.find((e) => e.name === 'caf\u0000e8.txt')?.size).toBe(
      CONTENT.get(CAFE_E8.toString('hex'))!.length,
    );
  });

  it('are listed, versioned and found through the API in the escaped form', async () => {
    const listed = await call({
      method: 'GET',
      path: `/images/${ref.imageId}/files`,
      query: { path: '/data' },
    });
    expect(listed.status).toBe(200);
    const items = listed.body.items as { name: string; path: string; symlinkTarget?: string }[];
    expect(items.map((e) => e.name)).toEqual([
      'a\\\\b.txt',
      'caf\\xe8.txt',
      'caf\\xe9.txt',
      'café.txt',
      'd\\xff',
      'link',
    ]);
    expect(items.map((e) => e.path)).toContain('/data/caf\\xe9.txt');
    expect(items.find((e) => e.name === 'link')?.symlinkTarget).toBe('caf\\xe9.txt');

    const inner = await call({
      method: 'GET',
      path: `/images/${ref.imageId}/files`,
      query: { path: '/data/d\\xff' },
    });
    expect((inner.body.items as { path: string }[]).map((e) => e.path)).toEqual([
      '/data/d\\xff/inner\\xfe.bin',
    ]);

    const versions = await call({
      method: 'GET',
      path: `/volumes/${ref.volumeId}/files/versions`,
      query: { path: '/data/caf\\xe8.txt' },
    });
    expect(versions.status).toBe(200);
    expect(versions.body.items).toEqual([
      expect.objectContaining({
        path: '/data/caf\\xe8.txt',
        sizeBytes: CONTENT.get(CAFE_E8.toString('hex'))!.length,
      }),
    ]);

    const found = await call({
      method: 'GET',
      path: `/volumes/${ref.volumeId}/files/search`,
      query: { name: 'caf\\xe9.txt' },
    });
    expect((found.body.items as { path: string }[]).map((f) => f.path)).toEqual(['/data/caf\\xe9.txt']);

    // The typed "a\b.txt" (a lone backslash) means the valid name a\b.txt too.
    const typed = await call({
      method: 'GET',
      path: `/volumes/${ref.volumeId}/files/versions`,
      query: { path: '/data/a\\b.txt' },
    });
    expect((typed.body.items as { path: string }[]).map((v) => v.path)).toEqual(['/data/a\\\\b.txt']);
  });

  it('are accepted by POST /restores, which checks them against the catalog', async () => {
    for (const name of ['caf\\xe9.txt', 'caf\\xe8.txt']) {
      const answer = await call({
        method: 'POST',
        path: '/restores',
        body: { imageId: ref.imageId, kind: 'file', path: `/data/${name}` },
      });
      expect(answer.status, name).toBe(202);
    }
    const missing = await call({
      method: 'POST',
      path: '/restores',
      body: { imageId: ref.imageId, kind: 'file', path: '/data/caf\\xe7.txt' },
    });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({
      message: `/data/caf\\xe7.txt does not exist in image ${ref.imageId}`,
    });
  });

  it('restore byte for byte as files', async () => {
    for (const [id, name, raw] of [
      ['rs-e9', 'caf\\xe9.txt', CAFE_E9],
      ['rs-e8', 'caf\\xe8.txt', CAFE_E8],
    ] as const) {
      const job = await restore('file', `/data/${name}`, id);
      expect(job.status, job.failure?.reason).toBe('succeeded');
      const stored = deps.objects.objects.get(job.result!.key)!;
      expect(stored.body.equals(CONTENT.get(raw.toString('hex'))!)).toBe(true);
    }
    const inner = await restore('file', '/data/d\\xff/inner\\xfe.bin', 'rs-inner');
    expect(inner.status, inner.failure?.reason).toBe('succeeded');
    expect(deps.objects.objects.get(inner.result!.key)!.body.equals(Buffer.alloc(70_000, 0xab))).toBe(true);
    const gone = await restore('file', '/data/caf\\xe7.txt', 'rs-gone');
    expect(gone.failure?.reason).toBe(
      `/data/caf\\xe7.txt does not exist in image ${ref.imageId}: no such file or directory: /data/caf\\xe7.txt`,
    );
  });

  it('keep their original bytes in a directory restore: GNU tar extracts the same names', async () => {
    const job = await restore('directory', '/data', 'rs-dir');
    expect(job.status, job.failure?.reason).toBe('succeeded');
    expect(job.result!.problemCount).toBe(0);
    const tarFile = path.join(work, 'data.tar');
    await writeFile(tarFile, deps.objects.objects.get(job.result!.key)!.body);
    const out = path.join(work, 'out');
    await mkdir(out);
    await run('tar', ['-xf', tarFile, '-C', out]);
    const names = async (dir: Buffer): Promise<string[]> =>
      (await readdir(dir, { encoding: 'buffer' })).map((n) => n.toString('hex')).sort();
    const outData = join(Buffer.from(out), Buffer.from('data'));
    const srcData = join(source, Buffer.from('data'));
    expect(await names(outData)).toEqual(await names(srcData));
    expect(await names(join(outData, DIR_FF))).toEqual([INNER_FE.toString('hex')]);
    for (const raw of [CAFE_E9, CAFE_E8]) {
      expect((await readFile(join(outData, raw))).equals(await readFile(join(srcData, raw)))).toBe(true);
    }
    expect((await readFile(join(outData, DIR_FF, INNER_FE))).equals(Buffer.alloc(70_000, 0xab))).toBe(true);
    const target = await readlink(join(outData, Buffer.from('link')), { encoding: 'buffer' });
    expect(target.equals(CAFE_E9)).toBe(true);
    // GNU tar lists the names with the bytes it cannot print as octal escapes.
    const listing = await run('tar', ['-tf', tarFile]);
    expect(listing).toContain('data/caf\\351.txt');
    expect(listing).toContain('data/caf\\350.txt');
  });
});
