/** Real images for the catalog and restore tests: generated trees, mke2fs -d, debugfs changes, oracles. */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { listDirectory } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogEntryView } from '../../lambdas/core/catalog/catalog-queries.ts';
import type { CatalogStore } from '../../lambdas/core/catalog/catalog-store.ts';
import type { ImageCatalogRecord, ImageRef } from '../../lambdas/core/catalog/catalog-types.ts';
import { openExt4, type FilesystemReader } from '../../lambdas/core/fs/index.ts';
import { CHUNK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import type { ByteRangeReader } from '../../lambdas/core/ports.ts';
import { buildCatalog } from '../../lambdas/core/catalog/build-catalog.ts';
import { MemoryByteRangeReader } from '../support/file-byte-range-reader.ts';
import { readSourceTree, type SourceEntry } from '../support/fs-images.ts';
import { imageAt } from './image-refs.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';

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
  return walkStatsOf(await openExt4(reader));
}

/** Every entry of an open filesystem (path → its stat fields but atime), walked. */
export async function walkStatsOf(fs: FilesystemReader): Promise<Map<string, string>> {
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

/** The 1 MiB chunks whose bytes differ between two images (what the engine's manifests say). */
export function changedChunks(a: Uint8Array, b: Uint8Array): Set<number> {
  const out = new Set<number>();
  for (let c = 0; c * CHUNK_SIZE_BYTES < a.length; c += 1) {
    const x = a.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES);
    const y = b.subarray(c * CHUNK_SIZE_BYTES, (c + 1) * CHUNK_SIZE_BYTES);
    if (!Buffer.from(x).equals(Buffer.from(y))) out.add(c);
  }
  return out;
}

/** Every directory's listing (without `since`, which differs by design) as of `image`. */
export async function listings(
  store: CatalogStore,
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

/** "/" and every directory of a walkStats map. */
export function directoriesOf(stats: Map<string, string>): string[] {
  return ['/', ...[...stats].filter(([, s]) => s.startsWith('["directory"')).map(([p]) => p)];
}

/** What an incremental and a full catalog of the same image must agree on in the record. */
export function countsOf(record: ImageCatalogRecord): unknown {
  return { counts: record.counts, status: record.status };
}

/** One incremental of a chain checked by expectIncrementalsEqualRebuilds. */
export interface CheckedIncremental {
  readonly n: number;
  readonly record: ImageCatalogRecord;
  /** walkStats of this image and of the one before. */
  readonly now: Map<string, string>;
  readonly before: Map<string, string>;
}

/**
 * Catalogs images[0] in full, then each later image as an incremental of the one before (that
 * image and the chunks that differ given, so unchanged subtrees are skipped), and checks each
 * against a catalog of the same image built from scratch: the record's counts and status, and the
 * listing of every directory of it and of the image before (gone ones must list empty). `each`
 * adds a caller's checks; `stats` walks an image (walkStats for ext).
 */
export async function expectIncrementalsEqualRebuilds(
  images: readonly Uint8Array[],
  options: {
    readonly volumeId: string;
    readonly treePageEntries: number | undefined;
    readonly stats: (reader: ByteRangeReader) => Promise<Map<string, string>>;
    readonly each?: (
      store: MemoryCatalogStore,
      refs: readonly ImageRef[],
      step: CheckedIncremental,
    ) => Promise<void>;
  },
): Promise<void> {
  const paging = options.treePageEntries === undefined ? {} : { treePageEntries: options.treePageEntries };
  const store = new MemoryCatalogStore();
  const refs = images.map((_, n) => imageAt(options.volumeId, n + 1));
  await buildCatalog({ store }, { image: refs[0]!, disk: new MemoryByteRangeReader(images[0]!), ...paging });
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
    const now = await options.stats(new MemoryByteRangeReader(images[n]!));
    const before = await options.stats(new MemoryByteRangeReader(images[n - 1]!));
    // Directories of this image, and those of the one before (now gone: must list empty).
    const dirs = new Set([...directoriesOf(now), ...directoriesOf(before)]);
    expect(await listings(store, refs[n]!, dirs)).toEqual(await listings(scratch, refs[n]!, dirs));
    await options.each?.(store, refs, { n, record, now, before });
  }
}

/**
 * The catalog record of `next` as an incremental of `base` (volume `volumeId`, base catalogued in
 * full first), with the store it was written to and the store's counters just before it.
 */
export async function incrementalOf(
  base: Uint8Array,
  next: Uint8Array,
  volumeId: string,
): Promise<{
  store: MemoryCatalogStore;
  record: ImageCatalogRecord;
  before: { readonly queries: number; readonly itemsPut: number };
}> {
  const store = new MemoryCatalogStore();
  const [a, b] = [imageAt(volumeId, 1), imageAt(volumeId, 2)];
  await buildCatalog({ store }, { image: a, disk: new MemoryByteRangeReader(base) });
  const before = { queries: store.queries, itemsPut: store.itemsPut };
  const record = await buildCatalog(
    { store },
    {
      image: b,
      disk: new MemoryByteRangeReader(next),
      previous: { image: a, disk: new MemoryByteRangeReader(base), changedChunks: changedChunks(base, next) },
    },
  );
  return { store, record, before };
}

/** A change of one existing file (an index into the image's files) or inside one directory. */
export type PathMutation<F extends string, D extends string> =
  | { readonly kind: F; readonly file: number }
  | { readonly kind: D; readonly dir: number; readonly n: number };

/** Random PathMutations of the given kinds (indexes are taken modulo the image's file and directory counts). */
export function pathMutation<F extends string, D extends string>(
  fileKinds: readonly [F, ...F[]],
  dirKinds: readonly [D, ...D[]],
): fc.Arbitrary<PathMutation<F, D>> {
  return fc.oneof(
    fc.record({ kind: fc.constantFrom(...fileKinds), file: fc.nat() }),
    fc.record({ kind: fc.constantFrom(...dirKinds), dir: fc.nat(), n: fc.nat(999) }),
  );
}

/** Mutations of two incrementals in a row: the first changes something, the second maybe nothing. */
export function twoSteps<M>(mutation: fc.Arbitrary<M>): fc.Arbitrary<[M[], M[]]> {
  return fc.tuple(
    fc.array(mutation, { minLength: 1, maxLength: 6 }),
    fc.array(mutation, { minLength: 0, maxLength: 4 }),
  );
}

/**
 * `base` and the images after each step: step n (1-based) copies the image before it to
 * `<dir>/step-n.img` and `apply` changes that file.
 */
export async function mutatedChain<M>(
  dir: string,
  base: Uint8Array,
  steps: readonly M[][],
  apply: (file: string, mutations: readonly M[], step: number) => Promise<void>,
): Promise<Uint8Array[]> {
  const images: Uint8Array[] = [base];
  for (const [step, mutations] of steps.entries()) {
    const file = path.join(dir, `step-${step + 1}.img`);
    await writeFile(file, images.at(-1)!);
    await apply(file, mutations, step + 1);
    images.push(new Uint8Array(await readFile(file)));
  }
  return images;
}
