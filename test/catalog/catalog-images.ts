/** Real images for the catalog and restore tests: generated trees, mke2fs -d, debugfs changes, oracles. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { listDirectory } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogEntryView } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import type { ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { openExt4 } from '../../lambdas/core/fs/index.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { readSourceTree, type SourceEntry } from '../support/fs-images.ts';

/** Every page of a directory listing as of `image`. */
export async function listAll(
  store: CatalogStore,
  image: ImageRef,
  partition: number,
  dir: string,
): Promise<CatalogEntryView[]> {
  const out: CatalogEntryView[] = [];
  let cursor: string | undefined;
  do {
    const page = await listDirectory(store, image, partition, dir, {
      limit: 1000,
      ...(cursor === undefined ? {} : { cursor }),
    });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return out;
}

function typeOf(entry: SourceEntry): string {
  const s = entry.stat;
  if (s.isFile()) return 'file';
  if (s.isDirectory()) return 'directory';
  if (s.isSymbolicLink()) return 'symlink';
  if (s.isCharacterDevice()) return 'char-device';
  if (s.isBlockDevice()) return 'block-device';
  if (s.isFIFO()) return 'fifo';
  return 'socket';
}

/**
 * The catalog as of `image` equals the source tree: the same names in every directory, with the
 * same types, sizes (files, symlinks), modes, owners, mtimes (seconds) and link targets.
 * Returns the number of entries compared.
 */
export async function expectCatalogEqualsSource(
  store: CatalogStore,
  image: ImageRef,
  partition: number,
  sourceRoot: string,
  extraRootNames: readonly string[] = ['lost+found'],
): Promise<number> {
  const source = await readSourceTree(sourceRoot);
  const childrenOf = new Map<string, string[]>();
  for (const p of source.keys()) {
    if (p === '/') continue;
    const dir = path.posix.dirname(p);
    childrenOf.set(dir, [...(childrenOf.get(dir) ?? []), path.posix.basename(p)]);
  }
  let compared = 0;
  for (const [p, entry] of source) {
    if (!entry.stat.isDirectory()) continue;
    const listed = await listAll(store, image, partition, p);
    const names = listed.map((e) => e.name).filter((n) => !(p === '/' && extraRootNames.includes(n)));
    expect(names.sort(), `names in ${p}`).toEqual([...(childrenOf.get(p) ?? [])].sort());
    for (const got of listed) {
      const want = source.get(got.path);
      if (want === undefined) continue;
      const actual = {
        type: got.type,
        mode: got.mode,
        uid: got.uid,
        gid: got.gid,
        mtime: got.mtime.seconds,
        ...(got.type === 'directory' ? {} : { size: got.size }),
        target: got.symlinkTarget,
      };
      const expected = {
        type: typeOf(want),
        mode: Number(want.stat.mode),
        uid: Number(want.stat.uid),
        gid: Number(want.stat.gid),
        mtime: Number(want.stat.mtimeNs / 1_000_000_000n),
        ...(want.stat.isDirectory() ? {} : { size: Number(want.stat.size) }),
        target: want.symlinkTarget,
      };
      expect(actual, got.path).toEqual(expected);
      compared += 1;
    }
  }
  return compared;
}

/** Every entry of an ext filesystem (path → its stat fields), walked with the fs reader. */
export async function walkStats(reader: ByteRangeReader): Promise<Map<string, string>> {
  const fs = await openExt4(reader);
  const out = new Map<string, string>();
  for await (const item of fs.walk()) {
    if (item.kind !== 'entry' || item.depth === 0) continue;
    out.set(
      item.path,
      JSON.stringify([
        item.type,
        item.inode,
        item.size,
        item.mode,
        item.uid,
        item.gid,
        item.nlink,
        item.mtime,
        item.ctime,
        item.crtime ?? null,
        item.symlinkTarget ?? null,
        item.device ?? null,
      ]),
    );
  }
  return out;
}

/** Paths added, changed (any stat field but atime) or removed between two walks. */
export function changedPaths(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [p, s] of after) if (before.get(p) !== s) out.push(p);
  for (const p of before.keys()) if (!after.has(p)) out.push(p);
  return out.sort();
}

export async function copyFileSparse(from: string, to: string): Promise<void> {
  const { run } = await import('../support/fs-images.ts');
  await run('cp', ['--sparse=always', from, to]);
}

export async function writeText(file: string, text: string): Promise<void> {
  await writeFile(file, text);
}

export async function readBytes(file: string): Promise<Buffer> {
  return readFile(file);
}
