/**
 * A directory restore that hands over resumes its walk where its stored bytes end (issue 12): the
 * job's progress names the entry in which they end (a TarCursor), and the next invocation walks
 * only the directories on that entry's path before reaching it, then what is left. Checked on a
 * real ext4 image (mke2fs -d of a generated tree: nested and deep directories, hard links, symlinks,
 * devices, a fifo and a socket) over many invocations on a manual clock: the archive is the one a
 * single invocation writes, byte for byte, with the same result; and each resumed invocation's
 * metadata reads before its cursor (walk items: one inode each; directory listings) are exactly
 * those of the directories on the cursor's path, not of the tree archived before it.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import {
  createRestoreJob,
  runRestoreJob,
  type RestoreDeps,
  type RestoreJob,
} from '../../lambdas/core/file-restore/restore-jobs.ts';
import { openImageFilesystem } from '../../lambdas/core/file-restore/open-filesystem.ts';
import type * as OpenFilesystem from '../../lambdas/core/file-restore/open-filesystem.ts';
import type { FilesystemReader, WalkItem } from '../../lambdas/core/fs/index.ts';
import { imageAt } from '../catalog/catalog-fixtures.ts';
import { MemoryCatalogStore } from '../catalog/memory-catalog-store.ts';
import { FileByteRangeReader } from '../support/file-byte-range-reader.ts';
import { generateTree, makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { Invocations, MultipartMemoryObjects } from './handover-fixture.ts';
import { MemoryRestoreJobs, MemoryRestoreObjects } from './memory-restore.ts';
import { expectArchiveEqualsSource } from './restore-fixture.ts';

type OpenFilesystemModule = typeof OpenFilesystem;

/** What each walk of the restores' filesystems yielded, and the directories it was allowed to list. */
const walks = vi.hoisted(() => [] as { items: string[]; listed: string[] }[]);

/** Every filesystem a restore opens counts its walks (the walk itself is the reader's). */
vi.mock('../../lambdas/core/file-restore/open-filesystem.ts', async (importOriginal) => {
  const original = await importOriginal<OpenFilesystemModule>();
  const counting = (fs: FilesystemReader): FilesystemReader =>
    new Proxy(fs, {
      get(target, property) {
        if (property !== 'walk') {
          const value = Reflect.get(target, property, target) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        }
        return (options: Parameters<FilesystemReader['walk']>[0] = {}) => {
          const log = { items: [] as string[], listed: [] as string[] };
          walks.push(log);
          const { descend } = options;
          const inner = target.walk({
            ...options,
            descend: async (directory) => {
              const yes = descend === undefined ? true : await descend(directory);
              if (yes) log.listed.push(directory.path);
              return yes;
            },
          });
          return (async function* () {
            for await (const item of inner) {
              log.items.push(item.kind === 'entry' ? item.path : `error:${item.path}`);
              yield item;
            }
          })();
        };
      },
    });
  return {
    ...original,
    openImageFilesystem: async (...args: Parameters<typeof original.openImageFilesystem>) => {
      const opened = await original.openImageFilesystem(...args);
      return { ...opened, fs: counting(opened.fs) };
    },
  };
});

const KIB = 1024;
const MIB = 1024 * KIB;
/** Parts of the in-memory store: small, so the archive of small files is dozens of parts. */
const PART_BYTES = 32 * KIB;
const PART_MS = 1_000;
const PARTS_PER_INVOCATION = 4;

const image = imageAt('vol-resume-walk', 1);
const clock = new ManualClock();
const invocations = new Invocations(clock, PARTS_PER_INVOCATION, PART_MS);
let work: string;
let source: string;
let disk: FileByteRangeReader;
let catalog: MemoryCatalogStore;
/** The full walk of `/` in order (entry paths; errors as `error:<path>`). */
let fullWalk: string[];

beforeAll(async () => {
  work = await scratchDir('resume-walk');
  source = path.join(work, 'src');
  // Many small files: the archive's cost is its metadata, which is what a resume must not repeat.
  await generateTree(source, { seed: 12, files: 700, deepChain: 12, maxFileBytes: 4 * KIB });
  const imageFile = path.join(work, 'disk.img');
  await makeExtImage(imageFile, { type: 'ext4', sizeBytes: 64 * MIB, blockSize: 4096, sourceDir: source });
  disk = await FileByteRangeReader.open(imageFile);
  catalog = new MemoryCatalogStore();
  await buildCatalog({ store: catalog }, { image, disk });
  const { fs } = await openImageFilesystem(disk);
  fullWalk = [];
  for await (const item of fs.walk({ root: '/' })) fullWalk.push(walkKey(item));
}, 180_000);

afterAll(async () => {
  await disk?.close();
  await removeDir(work);
});

function walkKey(item: WalkItem): string {
  return item.kind === 'entry' ? item.path : `error:${item.path}`;
}

function parentOf(p: string): string {
  const slash = p.lastIndexOf('/');
  return slash <= 0 ? '/' : p.slice(0, slash);
}

/** Whether `dir` is a directory strictly above `p`. */
function isAbove(dir: string, p: string): boolean {
  return dir !== p && (dir === '/' || p.startsWith(`${dir}/`));
}

/**
 * What a walk resumed at `cursor` yields before reaching it: the start's own entry and the entries
 * of the directories above the cursor that come before it; nothing of the subtrees before it.
 */
function expectedCatchUp(cursor: string): number {
  const at = fullWalk.indexOf(cursor);
  return fullWalk
    .slice(0, at)
    .filter((key) => !key.startsWith('error:') && (key === '/' || isAbove(parentOf(key), cursor))).length;
}

function depsWith(objects: RestoreDeps['objects']): RestoreDeps {
  return { jobs: new MemoryRestoreJobs(), objects, catalog, openImage: () => Promise.resolve(disk), clock };
}

async function create(deps: RestoreDeps, restoreId: string): Promise<void> {
  await createRestoreJob(deps, {
    restoreId,
    volumeId: image.volumeId,
    imageId: image.imageId,
    kind: 'directory',
    path: '/',
    keyToken: 'token',
  });
}

describe('a directory restore resumed at its cursor', () => {
  it('writes the same archive and result, and each resumed walk reads only the directories on its cursor’s path before it', async () => {
    const singleDeps = depsWith(new MemoryRestoreObjects());
    await create(singleDeps, 'rs-single');
    const single = await runRestoreJob(singleDeps, 'rs-single');
    expect(single.status, single.failure?.reason).toBe('succeeded');
    const singleBody = (singleDeps.objects as MemoryRestoreObjects).objects.get(single.result!.key)!.body;
    expect(single.result!.problemCount).toBe(1); // the socket

    const objects = new MultipartMemoryObjects(() => clock.advance(PART_MS), PART_BYTES);
    const deps = depsWith(objects);
    await create(deps, 'rs-resumed');
    const cursors: (string | undefined)[] = [];
    const firstWalk = walks.length;
    const after = await invocations.runToEnd(deps, 'rs-resumed', (job: RestoreJob) =>
      cursors.push(job.progress?.walk?.path),
    );

    const done = after.at(-1)!;
    expect(done.status, done.failure?.reason).toBe('succeeded');
    const body = objects.objects.get(done.result!.key)!.body;
    expect(body.equals(singleBody)).toBe(true);
    expect(done.result).toEqual({ ...single.result, key: done.result!.key });
    await expectArchiveEqualsSource(body, work, source, ['/']);

    // One walk per invocation; every invocation after the first resumed at a cursor.
    const resumed = walks.slice(firstWalk);
    expect(resumed).toHaveLength(after.length);
    expect(after.length).toBeGreaterThan(10);
    expect(cursors[0]).toBeUndefined();
    const paused = after.slice(0, -1);
    expect(paused.every((job) => job.progress?.walk !== undefined)).toBe(true);
    // Hard links archived before a cursor travel with it (the second path stays a link entry).
    expect(paused.some((job) => job.progress!.walk!.links.length > 0)).toBe(true);
    expect(paused.some((job) => job.progress!.walk!.problemCount === 1)).toBe(true);

    let catchUp = 0;
    let withoutCursor = 0;
    for (let i = 1; i < after.length; i += 1) {
      const cursor = cursors[i]!;
      const walk = resumed[i]!;
      const reachedAt = walk.items.indexOf(cursor);
      // Exactly the entries of the directories above the cursor, before it.
      expect(reachedAt, cursor).toBe(expectedCatchUp(cursor));
      // And the only directories listed before it are those above it (the start's listing is not asked).
      const listedBefore = walk.listed.filter((dir) => walk.items.indexOf(dir) < reachedAt);
      expect(listedBefore.sort(), cursor).toEqual(
        fullWalk.filter((key) => key !== '/' && isAbove(key, cursor)).sort(),
      );
      catchUp += reachedAt;
      withoutCursor += fullWalk.indexOf(cursor);
    }
    // The last invocation walks its catch-up and then what is left of the tree, nothing more.
    const last = resumed.at(-1)!;
    const lastCursor = cursors.at(-1)!;
    expect(last.items.length).toBe(
      expectedCatchUp(lastCursor) + fullWalk.length - fullWalk.indexOf(lastCursor),
    );
    // Walking from the start at every handover would read the archived tree again each time.
    expect(catchUp).toBeLessThan(withoutCursor / 4);
  }, 180_000);
});
