/**
 * The XFS reader honours WalkOptions.descend (a subdirectory the caller declines is yielded but not
 * listed) and rootInode (the walk starts at that inode without resolving the path), as the ext4
 * reader does; with its range source (fs/xfs/metadata-ranges.ts) the incremental catalog of an XFS
 * volume skips unchanged subtrees, and must answer every listing exactly like a catalog built from
 * scratch. Real mkfs.xfs images, changed through a loop mount by the kernel's XFS driver.
 */
import {
  chmod,
  chown,
  link,
  mkdir,
  readFile,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WalkItem, WalkOptions } from '../../lambdas/core/fs/filesystem.ts';
import { openXfs } from '../../lambdas/core/fs/xfs/filesystem.ts';
import {
  directoriesOf,
  expectIncrementalsEqualRebuilds,
  incrementalOf,
  mutatedChain,
  pathMutation,
  twoSteps,
  walkStatsOf,
} from '../catalog/catalog-images.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { generateTree, removeDir, run, scratchDir } from '../support/fs-images.ts';
import { makeXfsImage } from './xfs-images.ts';

const MIB = 1024 * 1024;
/** Property runs: each mounts the image once or twice and builds three or five catalogs. */
const RUNS = 6;

let work: string;
let baseBytes: Uint8Array;
let files: string[];
let dirs: string[];

beforeAll(async () => {
  work = await scratchDir('xfs-descend');
  const src = path.join(work, 'src');
  await generateTree(src, { seed: 31, files: 200, deepChain: 6, maxFileBytes: 3000, specialFiles: false });
  const image = path.join(work, 'base.img');
  await makeXfsImage(image, { sizeBytes: 64 * MIB, sourceDir: src });
  baseBytes = new Uint8Array(await readFile(image));
  const stats = await walkStatsOf(await openXfs(new MemoryByteRangeReader(baseBytes)));
  files = [...stats]
    .filter(([, s]) => s.startsWith('["file"'))
    .map(([p]) => p)
    .sort();
  dirs = directoriesOf(stats).sort();
}, 120_000);

afterAll(async () => {
  await removeDir(work);
});

async function walked(bytes: Uint8Array, options?: WalkOptions): Promise<WalkItem[]> {
  const fs = await openXfs(new MemoryByteRangeReader(bytes));
  const out: WalkItem[] = [];
  for await (const item of fs.walk(options)) out.push(item);
  return out;
}

const pathsOf = (items: readonly WalkItem[]): string[] => items.map((item) => `${item.kind} ${item.path}`);

describe('XFS walk options', () => {
  it('does not list a directory that descend declines, and asks once per directory reached', async () => {
    const full = await walked(baseBytes);
    const declined = new Set(['/many-entries', '/level-0/level-1/level-2']);
    const below = (p: string): boolean => [...declined].some((d) => p.startsWith(`${d}/`));
    const asked: string[] = [];
    const partial = await walked(baseBytes, {
      // Answered asynchronously, as the incremental catalog does.
      descend: async (entry) => {
        asked.push(entry.path);
        await Promise.resolve();
        return !declined.has(entry.path);
      },
    });
    expect(pathsOf(partial)).toEqual(pathsOf(full.filter((item) => !below(item.path))));
    expect(partial.length).toBeLessThan(full.length - 40); // many-entries alone holds 40 files
    expect(asked).toEqual(
      full
        .filter(
          (item) => item.kind === 'entry' && item.depth > 0 && item.type === 'directory' && !below(item.path),
        )
        .map((item) => item.path),
    );
  });

  it('starts at rootInode without resolving the path', async () => {
    const fs = await openXfs(new MemoryByteRangeReader(baseBytes));
    const inode = await fs.lookup('/level-0/level-1');
    const real = await walked(baseBytes, { root: '/level-0/level-1' });
    const elsewhere = await walked(baseBytes, { root: '/not-there', rootInode: inode });
    expect(elsewhere.map((item) => item.path)).toEqual(
      real.map((item) => item.path.replace('/level-0/level-1', '/not-there')),
    );
    const unresolved = await walked(baseBytes, { root: '/not-there' });
    expect(unresolved.map((item) => item.kind)).toEqual(['error']);
  });
});

const mutation = pathMutation(
  ['touch', 'rewrite', 'replace', 'remove', 'chmod', 'chown', 'rename', 'hardlink'],
  ['add', 'mkdir', 'symlink', 'remoteSymlink', 'dirToFile'],
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

/**
 * Applies the mutations to the image file through a loop mount, each on a path nothing earlier
 * touched (`used` is shared by the steps of one run).
 */
async function mutate(
  image: string,
  mutations: readonly Mutation[],
  step: number,
  used: Set<string>,
): Promise<void> {
  const mnt = `${image}.mnt`;
  await mkdir(mnt, { recursive: true });
  await run('mount', ['-o', 'loop', image, mnt]);
  try {
    const free = (p: string): boolean =>
      ![...used].some((u) => p === u || p.startsWith(`${u}/`) || u.startsWith(`${p}/`));
    for (const [i, m] of mutations.entries()) {
      if ('file' in m) {
        const file = files[m.file % files.length]!;
        if (!free(file)) continue;
        used.add(file);
        const at = path.join(mnt, file);
        switch (m.kind) {
          case 'touch':
            await utimes(at, new Date(Date.UTC(2030, 0, step)), new Date(Date.UTC(2030, 0, step)));
            break;
          case 'rewrite':
            await writeFile(at, `rewritten in step ${step}\n`);
            break;
          case 'replace':
            await rm(at);
            await writeFile(at, `replaced in step ${step}\n`);
            break;
          case 'remove':
            await rm(at);
            break;
          case 'chmod':
            await chmod(at, 0o600);
            break;
          case 'chown':
            await chown(at, 4242, 4242);
            break;
          case 'rename':
            await rename(at, `${at}-moved${step}`);
            break;
          case 'hardlink':
            await link(at, `${at}-link${step}`);
            break;
        }
        continue;
      }
      const dir = dirs[m.dir % dirs.length]!;
      if (used.has(dir) || (!free(dir) && m.kind === 'dirToFile')) continue;
      const name = path.join(mnt, dir, `new-${step}-${i}-${m.n}`);
      switch (m.kind) {
        case 'add':
          await writeFile(name, 'new\n');
          break;
        case 'mkdir':
          await mkdir(name);
          await writeFile(path.join(name, 'inside'), 'inside\n');
          break;
        case 'symlink':
          await symlink(`target-${m.n}`, name);
          break;
        case 'remoteSymlink':
          // Longer than the inode's fork: the target goes to a block of its own.
          await symlink(`${'long-target/'.repeat(60)}${m.n}`, name);
          break;
        case 'dirToFile': {
          const leaf = dirs.find(
            (d) =>
              d !== '/' &&
              d.startsWith(`${dir === '/' ? '' : dir}/`) &&
              !dirs.some((e) => e.startsWith(`${d}/`)),
          );
          if (leaf === undefined || !free(leaf)) break;
          used.add(leaf);
          await rm(path.join(mnt, leaf), { recursive: true });
          await writeFile(path.join(mnt, leaf), 'was a directory\n');
          break;
        }
      }
    }
  } finally {
    await run('umount', [mnt]);
  }
}

describe('incremental catalog of XFS', () => {
  it('answers every listing exactly like a catalog built from scratch (random kernel changes)', async () => {
    await fc.assert(
      fc.asyncProperty(
        twoSteps(mutation),
        // Pages of 3 entries: most directories span several pages, each with its own summary.
        fc.constantFrom(undefined, 3),
        async (steps, pageEntries) => {
          const used = new Set<string>();
          const images = await mutatedChain(work, baseBytes, steps, (file, mutations, step) =>
            mutate(file, mutations, step, used),
          );
          await expectIncrementalsEqualRebuilds(images, {
            volumeId: 'vol-xfs',
            treePageEntries: pageEntries,
            stats: async (reader) => walkStatsOf(await openXfs(reader)),
            each: (_store, _refs, { record }) => {
              expect(record.partitions[0]!.skipped).toBeDefined(); // the range source was used
              return Promise.resolve();
            },
          });
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);

  it('skips unchanged subtrees: one touched file writes one version item', async () => {
    const file = path.join(work, 'one.img');
    await writeFile(file, baseBytes);
    const touched = files.find((f) => f.split('/').length > 4)!;
    await mutate(file, [{ kind: 'touch', file: files.indexOf(touched) }], 1, new Set());
    const next = new Uint8Array(await readFile(file));
    const { record } = await incrementalOf(baseBytes, next, 'vol-xfs-one');
    expect(record.changes).toEqual({ added: 0, changed: 1, removed: 0, itemsWritten: 1 });
    const skipped = record.partitions[0]!.skipped!;
    expect(skipped.subtrees).toBeGreaterThan(0);
    expect(skipped.entriesWalked).toBeLessThan(files.length / 4);
  }, 120_000);
});
