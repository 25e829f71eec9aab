/**
 * End to end on an exFAT volume (a removable-style whole-disk filesystem): built by mkfs.exfat and
 * exfat-fuse from a real tree of several thousand files (/usr/share/perl5 and /usr/lib/python3)
 * plus Unicode names (one outside the Basic Multilingual Plane) and a file over 100 MiB.
 * exFAT has no sparse files and no hard links, so the tree has neither: the large file's bytes are
 * all written. Catalogued through buildCatalog with the in-memory store; every entry The Sleuth
 * Kit's `fls -r -p` lists is in the catalog; every regular file restores byte for byte; then
 * changed through the mounted filesystem and catalogued again: the incremental gives the right
 * versions (changed, added, removed).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { copyTree, makeExfatImage, sourceFiles } from '../support/fat-images.ts';
import { prng, randomBytes, run, writeSparseFile } from '../support/fs-images.ts';
import { catalogDisk, catalogEntries, expectFatListingInCatalog, restoreAndCompare } from './end-to-end.ts';
import { useScratchDir } from '../support/scratch-dir.ts';

const MIB = 1024 * 1024;
/** 512 MiB: mkfs.exfat picks 32 KiB clusters above 256 MiB, so ~4,000 small files take ~130 MiB. */
const VOLUME_BYTES = 512 * MIB;
/** Over 100 MiB, as the issue asks (written whole: exFAT has no holes). */
const LARGE_FILE_BYTES = 110 * MIB + 4321;
const work = useScratchDir('exfat-volume');
let source: string;
let image: string;

/** Mounts the image through exfat-fuse on a loop device for `change`, and unmounts. */
async function throughMount(change: (dir: string) => Promise<void>): Promise<void> {
  const dir = path.join(work(), 'mnt');
  await mkdir(dir, { recursive: true });
  const loop = (await run('losetup', ['-f', '--show', image])).trim();
  try {
    await run('mount.exfat-fuse', [loop, dir]);
    try {
      await change(dir);
    } finally {
      await run('umount', [dir]);
    }
  } finally {
    await run('losetup', ['-d', loop]);
  }
}

function catalog(store: MemoryCatalogStore, n: number) {
  return catalogDisk(store, image, 'vol-exfat', n);
}

async function restoreAll(): Promise<number> {
  const files = [...(await sourceFiles(source))].filter(([, size]) => size >= 0).map(([file]) => file);
  const restored = await restoreAndCompare(image, undefined, source, files);
  expect(restored.partition).toBe(0);
  return restored.files;
}

beforeAll(async () => {
  source = path.join(work(), 'src');
  await copyTree('/usr/share/perl5', path.join(source, 'perl5'));
  await copyTree('/usr/lib/python3', path.join(source, 'python3'));
  await writeFile(path.join(source, 'Photos – 2026.txt'), 'first\n');
  await writeFile(path.join(source, 'remove-me.txt'), 'bye\n');
  await mkdir(path.join(source, 'Ünïcode – Ωmega'));
  for (const name of ['日本語のファイル.txt', 'emoji-🎉-party.txt', 'café au lait.md'])
    await writeFile(path.join(source, 'Ünïcode – Ωmega', name), `${name}\n`);
  const rand = prng(5);
  await writeSparseFile(path.join(source, 'video.mp4'), LARGE_FILE_BYTES, [
    { offset: 0, data: randomBytes(rand, 65_536) },
    { offset: 50 * MIB + 3, data: randomBytes(rand, 100_000) },
    { offset: LARGE_FILE_BYTES - 4096, data: randomBytes(rand, 4096) },
  ]);
  image = path.join(work(), 'exfat.img');
  await makeExfatImage(image, VOLUME_BYTES, source, 'USB STICK');
}, 120_000);

describe('an exFAT volume', () => {
  it('is catalogued, restored byte for byte, and an incremental after changes gives the right versions', async () => {
    const store = new MemoryCatalogStore();
    const first = await catalog(store, 1);
    expect(first.partitions).toEqual([
      expect.objectContaining({ index: 0, fsType: 'exfat', status: 'complete', label: 'USB STICK' }),
    ]);
    expect(first.errorCount).toBe(0);
    const held = await catalogEntries(store, imageAt('vol-exfat', 1), 0);
    expect(await expectFatListingInCatalog(image, 0, held)).toBeGreaterThan(4300);
    expect(held.get('/video.mp4')?.size).toBe(LARGE_FILE_BYTES);
    expect(held.get('/Ünïcode – Ωmega/emoji-🎉-party.txt')?.type).toBe('file');
    expect(await restoreAll()).toBeGreaterThan(3900);

    await throughMount(async (dir) => {
      await writeFile(path.join(dir, 'Photos – 2026.txt'), 'second, longer\n');
      await writeFile(path.join(dir, 'added.txt'), 'added\n');
      await rm(path.join(dir, 'remove-me.txt'));
    });
    await writeFile(path.join(source, 'Photos – 2026.txt'), 'second, longer\n');
    await writeFile(path.join(source, 'added.txt'), 'added\n');
    await rm(path.join(source, 'remove-me.txt'));
    const second = await catalog(store, 2);
    expect(second.errorCount).toBe(0);
    expect(second.changes).toMatchObject({ added: 1, removed: 1 });
    const photos = await listVersions(store, 'vol-exfat', 0, '/Photos – 2026.txt');
    expect(photos.map((v) => v.meta.size)).toEqual([6, 15]);
    const removed = await listVersions(store, 'vol-exfat', 0, '/remove-me.txt');
    expect(removed.map((v) => v.removedAtUntil)).toEqual([true]);
    expect(await restoreAll()).toBeGreaterThan(3900);
  }, 180_000);
});
