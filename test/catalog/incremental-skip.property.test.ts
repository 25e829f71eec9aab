/**
 * An incremental catalog that skips unchanged subtrees (tree pages + changed bytes) must answer
 * every query exactly like a catalog built from scratch for the same image. Real ext4 images,
 * random mutations made with debugfs (which, unlike the kernel, does not touch the parent
 * directory's times, so only the bytes can tell): files rewritten, removed, added, renamed,
 * hard-linked, chmod/chown'ed, re-created in a freed inode, symlinks, new and removed
 * directories, and a directory replaced by a file. Two incrementals in a row, so that the second
 * starts from pages an incremental wrote; with tree pages of the production size and of a few
 * entries (directories of several pages, where only the changed pages are read again).
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { listDirectory, listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { ImageCatalogRecord, ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { debugfs, generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { walkStats } from './catalog-images.ts';
import { imageAt } from './catalog-fixtures.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

/** Property runs: each builds two mutated images and four catalogs (~0.5 s). */
const RUNS = 20;
const MIB = 1024 * 1024;

let work: string;
let baseBytes: Uint8Array;
let basePaths: { files: string[]; dirs: string[] };

beforeAll(async () => {
  work = await scratchDir('catalog-skip');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 77, files: 160, deepChain: 8, maxFileBytes: 3000, specialFiles: false });
  const image = path.join(work, 'base.img');
  await makeExtImage(image, { type: 'ext4', sizeBytes: 12 * MIB, blockSize: 1024, sourceDir: src });
  await writeFile(path.join(work, 'payload'), 'new content\n');
  baseBytes = new Uint8Array(await readFile(image));
  const stats = await walkStats(new MemoryByteRangeReader(baseBytes));
  const files: string[] = [];
  const dirs: string[] = [];
  for (const [p, s] of stats) {
    if (p.includes('"') || p.includes(' ')) continue; // debugfs quoting is not under test
    if (s.startsWith('["file"')) files.push(p);
    if (s.startsWith('["directory"')) dirs.push(p);
  }
  basePaths = { files: files.sort(), dirs: dirs.sort() };
}, 60_000);

afterAll(async () => {
  await removeDir(work);
});

type Mutation =
  | {
      kind: 'touch' | 'remove' | 'rewrite' | 'chmod' | 'chown' | 'rename' | 'hardlink' | 'reuse';
      file: number;
    }
  | { kind: 'add' | 'mkdir' | 'symlink' | 'slowSymlink' | 'dirToFile'; dir: number; n: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('touch', 'remove', 'rewrite', 'chmod', 'chown', 'rename', 'hardlink', 'reuse'),
    file: fc.nat(),
  }) as fc.Arbitrary<Mutation>,
  fc.record({
    kind: fc.constantFrom('add', 'mkdir', 'symlink', 'slowSymlink', 'dirToFile'),
    dir: fc.nat(),
    n: fc.nat(999),
  }) as fc.Arbitrary<Mutation>,
);

/**
 * debugfs requests for the mutations, each on a path nothing earlier touched: earlier in the list
 * or in an earlier step (`used` is shared by the steps of one run, so a second step never names a
 * path the first one removed, renamed or replaced).
 */
function requestsFor(mutations: readonly Mutation[], step: number, used: Set<string>): string[] {
  const { files, dirs } = basePaths;
  const free = (p: string): boolean =>
    ![...used].some((u) => p === u || p.startsWith(`${u}/`) || u.startsWith(`${p}/`));
  const out: string[] = [];
  const payload = path.join(work, 'payload');
  mutations.forEach((m, i) => {
    if ('file' in m) {
      const file = files[m.file % files.length]!;
      if (!free(file)) return;
      used.add(file);
      switch (m.kind) {
        case 'touch':
          out.push(`sif ${file} mtime 2030010${step}000000`);
          break;
        case 'remove':
          out.push(`rm ${file}`);
          break;
        case 'rewrite':
          out.push(`rm ${file}`, `write ${payload} ${file}`);
          break;
        case 'chmod':
          out.push(`sif ${file} mode 0100600`);
          break;
        case 'chown':
          out.push(`sif ${file} uid 4242`);
          break;
        case 'rename':
          out.push(`ln ${file} ${file}-moved${step}`, `unlink ${file}`);
          break;
        case 'hardlink':
          out.push(`ln ${file} ${file}-link${step}`, `sif ${file} links_count 2`);
          break;
        case 'reuse':
          // The freed inode is the lowest free one: the next write likely takes it, elsewhere.
          out.push(`rm ${file}`, `write ${payload} /reused-${step}-${i}`);
          break;
      }
      return;
    }
    const dir = dirs[m.dir % dirs.length]!;
    const name = `${dir}/new-${step}-${i}-${m.n}`;
    if (!free(dir) && m.kind === 'dirToFile') return;
    // A directory replaced by a file earlier (only dirToFile puts directories in `used`).
    if (used.has(dir)) return;
    switch (m.kind) {
      case 'add':
        out.push(`write ${payload} ${name}`);
        break;
      case 'mkdir':
        out.push(`mkdir ${name}`, `write ${payload} ${name}/inside`);
        break;
      case 'symlink':
        out.push(`symlink ${name} target-${m.n}`);
        break;
      case 'slowSymlink':
        out.push(`symlink ${name} ${'long-target/'.repeat(8)}${m.n}`);
        break;
      case 'dirToFile': {
        // A leaf directory replaced by a file of the same name (its entries are removed first).
        const leaf = dirs.find((d) => d.startsWith(`${dir}/`) && !dirs.some((e) => e.startsWith(`${d}/`)));
        if (leaf === undefined || !free(leaf)) return;
        used.add(leaf);
        const inside = files.filter(
          (f) => f.startsWith(`${leaf}/`) && !f.slice(leaf.length + 1).includes('/'),
        );
        if (inside.some((f) => used.has(f))) return;
        for (const f of inside) used.add(f);
        out.push(`kill_file ${leaf}`, `unlink ${leaf}`, `write ${payload} ${leaf}`);
        break;
      }
    }
  });
  return out;
}

function changedChunks(a: Uint8Array, b: Uint8Array): Set<number> {
  const out = new Set<number>();
  for (let c = 0; c * CHUNK_SIZE_BYTES < a.length; c += 1) {
    const x = a.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES);
    const y = b.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES);
    if (!Buffer.from(x).equals(Buffer.from(y))) out.add(c);
  }
  return out;
}

/** Every directory's listing (without `since`, which differs by design) as of `image`. */
async function listings(
  store: MemoryCatalogStore,
  image: ImageRef,
  dirs: Iterable<string>,
): Promise<Map<string, unknown[]>> {
  const out = new Map<string, unknown[]>();
  for (const dir of dirs) {
    const page = await listDirectory(store, image, 0, dir, { limit: 1000 });
    out.set(
      dir,
      page.items.map(({ since: _since, atime: _atime, ...rest }) => rest),
    );
  }
  return out;
}

function directoriesOf(stats: Map<string, string>): string[] {
  return ['/', ...[...stats].filter(([, s]) => s.startsWith('["directory"')).map(([p]) => p)];
}

function countsOf(record: ImageCatalogRecord): unknown {
  return { counts: record.counts, status: record.status };
}

describe('incremental catalog with skipped subtrees', () => {
  it('answers every listing exactly like a catalog built from scratch (random debugfs mutations)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.array(mutation, { minLength: 0, maxLength: 4 }),
        // Tree pages of 2 or 5 entries make most directories span several pages (each with its
        // own summary, read again only where something changed); undefined: the production size.
        fc.constantFrom(undefined, 2, 5),
        async (first, second, pageEntries) => {
          const paging = pageEntries === undefined ? {} : { treePageEntries: pageEntries };
          const images: Uint8Array[] = [baseBytes];
          const used = new Set<string>();
          for (const [step, mutations] of [first, second].entries()) {
            const file = path.join(work, `step-${step + 1}.img`);
            await writeFile(file, images.at(-1)!);
            const requests = requestsFor(mutations, step + 1, used);
            if (requests.length > 0) await debugfs(file, requests);
            images.push(new Uint8Array(await readFile(file)));
          }
          const store = new MemoryCatalogStore();
          const refs = images.map((_, n) => imageAt('vol-skip', n + 1));
          await buildCatalog(
            { store },
            { image: refs[0]!, disk: new MemoryByteRangeReader(images[0]!), ...paging },
          );
          for (let n = 1; n < images.length; n += 1) {
            const record = await buildCatalog(
              { store },
              {
                ...paging,
                image: refs[n]!,
                disk: new MemoryByteRangeReader(images[n]!),
                previous: {
                  image: refs[n - 1]!,
                  disk: new MemoryByteRangeReader(images[n - 1]!),
                  changedChunks: changedChunks(images[n - 1]!, images[n]!),
                },
              },
            );
            const scratch = new MemoryCatalogStore();
            const full = await buildCatalog(
              { store: scratch },
              { image: refs[n]!, disk: new MemoryByteRangeReader(images[n]!) },
            );
            expect(countsOf(record)).toEqual(countsOf(full));
            const now = await walkStats(new MemoryByteRangeReader(images[n]!));
            const before = await walkStats(new MemoryByteRangeReader(images[n - 1]!));
            // Directories of this image, and those of the one before (now gone: must list empty).
            const dirs = new Set([...directoriesOf(now), ...directoriesOf(before)]);
            expect(await listings(store, refs[n]!, dirs)).toEqual(await listings(scratch, refs[n]!, dirs));
            // The version history of every path that changed ends in this image's state.
            for (const [p, s] of now) {
              if (before.get(p) === s) continue;
              const versions = await listVersions(store, 'vol-skip', 0, p);
              expect(versions.at(-1)?.since.imageId, p).toBe(refs[n]!.imageId);
            }
          }
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 240_000);

  it('skips subtrees: one touched file reads a few regions and writes one version item', async () => {
    const file = path.join(work, 'one.img');
    await copyFile(path.join(work, 'base.img'), file);
    const touched = basePaths.files.find((f) => f.split('/').length > 3)!;
    await debugfs(file, [`sif ${touched} mtime 20300101000000`]);
    const next = new Uint8Array(await readFile(file));
    const store = new MemoryCatalogStore();
    const [a, b] = [imageAt('vol-one', 1), imageAt('vol-one', 2)];
    await buildCatalog({ store }, { image: a, disk: new MemoryByteRangeReader(baseBytes) });
    const queriesBefore = store.queries;
    const itemsBefore = store.itemsPut;
    const record = await buildCatalog(
      { store },
      {
        image: b,
        disk: new MemoryByteRangeReader(next),
        previous: {
          image: a,
          disk: new MemoryByteRangeReader(baseBytes),
          changedChunks: changedChunks(baseBytes, next),
        },
      },
    );
    expect(store.itemsPut - itemsBefore).toBe(1);
    expect(store.queries - queriesBefore).toBe(0); // previous state came from tree pages, not Queries
    expect(record.partitions[0]!.skipped!.subtrees).toBeGreaterThan(0);
    expect(record.changes).toEqual({ added: 0, changed: 1, removed: 0, itemsWritten: 1 });
  }, 60_000);
});
