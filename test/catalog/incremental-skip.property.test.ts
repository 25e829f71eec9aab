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
import { listVersions } from '../../lambdas/core/catalog/catalog-queries.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { debugfs, generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import {
  expectIncrementalsEqualRebuilds,
  incrementalOf,
  mutatedChain,
  pathMutation,
  twoSteps,
  walkStats,
} from './catalog-images.ts';

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

const mutation = pathMutation(
  ['touch', 'remove', 'rewrite', 'chmod', 'chown', 'rename', 'hardlink', 'reuse'],
  ['add', 'mkdir', 'symlink', 'slowSymlink', 'dirToFile'],
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

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

describe('incremental catalog with skipped subtrees', () => {
  it('answers every listing exactly like a catalog built from scratch (random debugfs mutations)', async () => {
    await fc.assert(
      fc.asyncProperty(
        twoSteps(mutation),
        // Tree pages of 2 or 5 entries make most directories span several pages (each with its
        // own summary, read again only where something changed); undefined: the production size.
        fc.constantFrom(undefined, 2, 5),
        async (steps, pageEntries) => {
          const used = new Set<string>();
          const images = await mutatedChain(work, baseBytes, steps, async (file, mutations, step) => {
            const requests = requestsFor(mutations, step, used);
            if (requests.length > 0) await debugfs(file, requests);
          });
          await expectIncrementalsEqualRebuilds(images, {
            volumeId: 'vol-skip',
            treePageEntries: pageEntries,
            stats: walkStats,
            each: async (store, refs, { n, now, before }) => {
              // The version history of every path that changed ends in this image's state.
              for (const [p, s] of now) {
                if (before.get(p) === s) continue;
                const versions = await listVersions(store, 'vol-skip', 0, p);
                expect(versions.at(-1)?.since.imageId, p).toBe(refs[n]!.imageId);
              }
            },
          });
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
    const { store, record, before } = await incrementalOf(baseBytes, next, 'vol-one');
    const queriesBefore = before.queries;
    const itemsBefore = before.itemsPut;
    expect(store.itemsPut - itemsBefore).toBe(1);
    expect(store.queries - queriesBefore).toBe(0); // previous state came from tree pages, not Queries
    expect(record.partitions[0]!.skipped!.subtrees).toBeGreaterThan(0);
    expect(record.changes).toEqual({ added: 0, changed: 1, removed: 0, itemsWritten: 1 });
  }, 60_000);
});
