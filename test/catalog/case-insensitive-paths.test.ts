/**
 * `files ls` and `files versions` on filesystems that compare names case-insensitively, as Windows
 * looks them up: on a real NTFS image (mkntfs + ntfs-3g) `/WINDOWS/system32` lists
 * `/Windows/System32` and the versions of `/windows/system32/DRIVERS/ETC/HOSTS` are those of
 * `/Windows/System32/drivers/etc/hosts`, shown in the stored case; on ext4 names stay exact (a
 * path in another case is a 404, as before).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import type { ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from '../api/api-events.ts';
import { makeNtfsImage, NtfsMount } from '../fs/ntfs-images.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { catalogApiHandler, catalogedApiImage, imageAt } from './catalog-fixtures.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

const MIB = 1024 * 1024;
const NTFS = imageAt('vol-0aaaaaaaaaaaaaaa1', 1);
const EXT4 = imageAt('vol-0bbbbbbbbbbbbbbb2', 2);
const HOSTS = '127.0.0.1 localhost\n';

let work: string;
const readers: FileByteRangeReader[] = [];
let handler: ApiProxyHandler;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

/** The source tree: Windows-style names with mixed case, and the same on ext4. */
async function writeTree(root: string): Promise<void> {
  await mkdir(path.join(root, 'Windows', 'System32', 'drivers', 'etc'), { recursive: true });
  await writeFile(path.join(root, 'Windows', 'System32', 'drivers', 'etc', 'hosts'), HOSTS);
  await writeFile(path.join(root, 'Windows', 'System32', 'Kernel32.dll'), Buffer.alloc(5000, 7));
  await writeFile(path.join(root, 'Windows', 'win.ini'), '[fonts]\n');
}

const apiImage = catalogedApiImage;

beforeAll(async () => {
  work = await scratchDir('case-insensitive-paths');
  const ntfsImage = path.join(work, 'ntfs.img');
  await makeNtfsImage(ntfsImage, { sizeBytes: 16 * MIB });
  const mount = await NtfsMount.mount(ntfsImage, path.join(work, 'mnt'));
  try {
    await writeTree(mount.dir);
  } finally {
    await mount.unmount();
  }
  const extSource = path.join(work, 'ext-src');
  await writeTree(extSource);
  const extImage = path.join(work, 'ext4.img');
  await makeExtImage(extImage, { type: 'ext4', sizeBytes: 16 * MIB, sourceDir: extSource });

  const store = new MemoryCatalogStore();
  for (const [ref, file] of [
    [NTFS, ntfsImage],
    [EXT4, extImage],
  ] as const) {
    const reader = await FileByteRangeReader.open(file);
    readers.push(reader);
    await buildCatalog({ store }, { image: ref, disk: reader });
  }
  handler = catalogApiHandler(store, [apiImage(NTFS), apiImage(EXT4)]);
}, 180_000);

afterAll(async () => {
  for (const reader of readers) await reader.close();
  if (work !== undefined) await removeDir(work);
});

describe('paths in another case on NTFS', () => {
  it('files ls finds /Windows/System32 as /WINDOWS/system32 and shows the stored names', async () => {
    const answer = await call({
      method: 'GET',
      path: `/images/${NTFS.imageId}/files`,
      query: { path: '/WINDOWS/system32' },
    });
    expect(answer.status).toBe(200);
    const items = answer.body['items'] as { path: string; type: string }[];
    // In the catalog's name order (code points: upper case first).
    expect(items.map((e) => [e.path, e.type])).toEqual([
      ['/Windows/System32/Kernel32.dll', 'file'],
      ['/Windows/System32/drivers', 'directory'],
    ]);
  });

  it('files versions of /windows/system32/DRIVERS/ETC/HOSTS are those of the stored path', async () => {
    const answer = await call({
      method: 'GET',
      path: `/volumes/${NTFS.volumeId}/files/versions`,
      query: { path: '/windows/system32/DRIVERS/ETC/HOSTS' },
    });
    expect(answer.status).toBe(200);
    const items = answer.body['items'] as { path: string; sizeBytes: number; firstImageId: string }[];
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      path: '/Windows/System32/drivers/etc/hosts',
      sizeBytes: HOSTS.length,
      firstImageId: NTFS.imageId,
    });
  });

  it('a path that is not there in any case is still a 404', async () => {
    const answer = await call({
      method: 'GET',
      path: `/images/${NTFS.imageId}/files`,
      query: { path: '/WINDOWS/system64' },
    });
    expect(answer.status).toBe(404);
    expect(answer.body['message']).toBe(`/WINDOWS/system64 does not exist in image ${NTFS.imageId}`);
  });
});

describe('paths in another case on ext4', () => {
  it('stay exact: files versions of /windows/win.ini is empty, /Windows/win.ini has its version', async () => {
    const other = await call({
      method: 'GET',
      path: `/volumes/${EXT4.volumeId}/files/versions`,
      query: { path: '/windows/win.ini' },
    });
    expect(other.status).toBe(200);
    expect(other.body['items']).toEqual([]);
    const exact = await call({
      method: 'GET',
      path: `/volumes/${EXT4.volumeId}/files/versions`,
      query: { path: '/Windows/win.ini' },
    });
    expect((exact.body['items'] as unknown[]).length).toBe(1);
  });
});
