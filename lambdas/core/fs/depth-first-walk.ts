/**
 * The one depth-first walk loop of the filesystem readers (ext4, XFS, FAT/exFAT, NTFS). A reader
 * says how a directory is listed and what an item of a listing becomes; this loop keeps the stack
 * of open listings, turns a listing that fails into a WalkError for its directory, refuses a
 * directory reached twice or nested too deep (refuseDescent), asks `descend`, and goes on after
 * damage. Memory is bounded by the depth (one listing per level) plus one number per directory.
 *
 * It allocates nothing per entry itself (one reused output array; a listing may hand over a
 * directory block of items at a time), and awaits a reader's visit only when it returned a
 * promise: an await per entry costs a turn of the microtask queue, a large share of a fast walk.
 */
import type { ErrorContext } from '../errors.ts';
import {
  copyUnixStat,
  normalizeImagePath,
  refuseDescent,
  walkError,
  type FileType,
  type InodeStat,
  type WalkEntry,
  type WalkItem,
  type WalkOptions,
} from './filesystem.ts';
import { FileNotFoundInImageError, FilesystemLimitError } from './errors.ts';
import { decodeName, encodeName, escapeName, plainAsciiName, storedName } from './name-encoding.ts';

/** The directory whose listing the walk is reading. */
export interface WalkDirectory {
  readonly path: string;
  /** Its inode (or record) number: the parentInode of its entries, reported with its errors. */
  readonly inode: number;
  /** 0 for the start directory. */
  readonly depth: number;
}

/** How a reader refuses a directory: see refuseDescent. */
export interface WalkDescent {
  /** The number that identifies the directory's contents (an inode, a record, a first cluster). */
  readonly key: number;
  readonly inode: number;
  /** Context of the depth-limit error. */
  readonly context: ErrorContext;
  readonly reachedTwice: { readonly message: string; readonly context: ErrorContext };
}

/** What one reader contributes to a walk; `N` is its directory handle, `I` an item of a listing. */
export interface DepthFirstSource<N, I> {
  readonly maxDirectoryDepth: number;
  /** The directory's listing: items one at a time, or a block of them at a time. */
  list(dir: N): AsyncIterator<I | readonly I[]>;
  /**
   * What the walk yields for `item` of `parent`'s listing, pushed onto `out`: the entry; or an
   * error then the entry (a symlink whose target cannot be read); or an error. Returns the child
   * when the walk may descend into it (its entry is then the last one pushed), else undefined.
   * Return a plain value when nothing had to be awaited.
   */
  visit(item: I, parent: WalkDirectory, out: WalkItem[]): N | undefined | Promise<N | undefined>;
  /** Called for a child `visit` returned, before it is listed. */
  descent(dir: N): WalkDescent;
}

interface Frame<I> extends WalkDirectory {
  readonly items: AsyncIterator<I | readonly I[]>;
  /** The block of items being walked, and the next item of it. */
  batch: readonly I[];
  at: number;
}

const NO_ITEMS: readonly never[] = [];

function isBatch<I>(value: I | readonly I[]): value is readonly I[] {
  return Array.isArray(value);
}

/** Where a walk starts: its path, inode (parentInode of its entries) and WalkDescent key. */
export interface WalkRootAt {
  readonly path: string;
  readonly inode: number;
  readonly key: number;
}

/** What a walk yields before the loop (the start directory's own entry), and the directory to list. */
export interface WalkBegin<N> {
  readonly items: readonly WalkItem[];
  /** Absent when there is nothing to list (the start is not a directory, or could not be read). */
  readonly root?: { readonly node: N; readonly at: WalkRootAt };
}

/**
 * The walk below `root` (whose own entry the reader has yielded): each directory's entries, each
 * directory before its children. `rootAt.key` is the root's WalkDescent key.
 */
export function walkDepthFirst<N, I>(
  source: DepthFirstSource<N, I>,
  root: N,
  rootAt: WalkRootAt,
  descend?: WalkOptions['descend'],
): AsyncGenerator<WalkItem> {
  return walkFrom(
    source,
    () => Promise.resolve({ items: NO_ITEMS, root: { node: root, at: rootAt } }),
    descend,
  );
}

/**
 * A whole walk: `begin`'s items (found asynchronously: the start directory's entry), then the walk
 * below its root. A reader returns this generator as its walk() rather than delegating to it from
 * a generator of its own: each generator an entry passes through costs promises and microtask
 * turns per entry.
 */
export async function* walkFrom<N, I>(
  source: DepthFirstSource<N, I>,
  begin: () => Promise<WalkBegin<N>>,
  descend?: WalkOptions['descend'],
): AsyncGenerator<WalkItem> {
  const start = await begin();
  for (const item of start.items) yield item;
  if (start.root === undefined) return;
  const { node: root, at: rootAt } = start.root;
  const seen = new Set<number>([rootAt.key]);
  const stack: Frame<I>[] = [
    { items: source.list(root), batch: NO_ITEMS, at: 0, path: rootAt.path, inode: rootAt.inode, depth: 0 },
  ];
  const out: WalkItem[] = [];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    let item: I;
    if (frame.at < frame.batch.length) {
      item = frame.batch[frame.at]!;
      frame.at += 1;
    } else {
      let next: IteratorResult<I | readonly I[]>;
      try {
        next = await frame.items.next();
      } catch (error) {
        stack.pop();
        yield walkError(frame.path, frame.inode, error);
        continue;
      }
      if (next.done === true) {
        stack.pop();
        continue;
      }
      if (isBatch(next.value)) {
        frame.batch = next.value;
        frame.at = 0;
        continue;
      }
      item = next.value;
    }
    out.length = 0;
    const visited = source.visit(item, frame, out);
    const child = visited instanceof Promise ? await visited : visited;
    for (let i = 0; i < out.length; i += 1) yield out[i]!;
    if (child === undefined) continue;
    const entry = out[out.length - 1] as WalkEntry;
    const depth = frame.depth + 1;
    const descent = source.descent(child);
    const refused = refuseDescent(
      seen,
      descent.key,
      source.maxDirectoryDepth,
      { path: entry.path, inode: descent.inode, depth, context: descent.context },
      descent.reachedTwice,
    );
    if (refused !== undefined) {
      yield refused;
      continue;
    }
    if (descend !== undefined && !(await descend(entry))) continue;
    stack.push({
      items: source.list(child),
      batch: NO_ITEMS,
      at: 0,
      path: entry.path,
      inode: descent.inode,
      depth,
    });
  }
}

/** The path of `name` in the directory at `parent`. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** The last component of a normalized absolute path ('' for the root). */
export function baseName(path: string): string {
  return path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1);
}

// ------------------------------------------------------------ what the Unix readers (ext, XFS) share

/** A name as a walk entry carries it. */
export interface EntryName {
  readonly name: string;
  readonly nameBytes: Uint8Array;
  readonly nameIsUtf8: boolean;
}

/** The entry name of stored bytes: UTF-8 as it is, other bytes in name-encoding.ts's stored form. */
export function entryNameOf(nameBytes: Uint8Array): EntryName {
  const { text, valid } = storedName(nameBytes);
  return { name: text, nameBytes, nameIsUtf8: valid };
}

/** A directory entry of ext or XFS: the inode it names and its name, ready to be a walk entry's. */
export interface UnixDirEntry extends EntryName {
  readonly inode: number;
  /** The type recorded in the entry, if the reader reads one; the inode's mode is authoritative. */
  readonly entryType?: FileType;
}

/**
 * The entry for stored name bytes: one object per entry (a walk makes one per file). ASCII names
 * are their own text; others go through storedName as entryNameOf does.
 */
export function unixDirEntry(inode: number, nameBytes: Uint8Array, entryType?: FileType): UnixDirEntry {
  const ascii = plainAsciiName(nameBytes);
  if (ascii !== undefined) return { inode, nameBytes, name: ascii, nameIsUtf8: true, entryType };
  const { text, valid } = storedName(nameBytes);
  return { inode, nameBytes, name: text, nameIsUtf8: valid, entryType };
}

/**
 * The inode number of `path` (absolute, in the stored form of name-encoding.ts; symlinks are not
 * followed, like lstat) in an ext or XFS filesystem: each component looked up by its bytes in the
 * entries of the directory before it, from `rootInode`.
 */
export async function unixLookup(
  path: string,
  rootInode: number,
  maxPathComponents: number,
  readDir: (inode: number) => AsyncIterable<{ readonly inode: number; readonly nameBytes: Uint8Array }>,
): Promise<number> {
  const components = path.split('/').filter((c) => c !== '' && c !== '.');
  if (components.length > maxPathComponents) {
    throw new FilesystemLimitError(`path has more than ${maxPathComponents} components`);
  }
  const trail: number[] = [rootInode];
  for (const component of components) {
    if (component === '..') {
      if (trail.length > 1) trail.pop();
      continue;
    }
    const wanted = decodeName(component);
    let found: number | undefined;
    for await (const entry of readDir(trail.at(-1)!)) {
      if (Buffer.compare(entry.nameBytes, wanted) === 0) {
        found = entry.inode;
        break;
      }
    }
    if (found === undefined) {
      throw new FileNotFoundInImageError(`no such file or directory: ${escapeName(path)}`, {
        path: escapeName(path),
      });
    }
    trail.push(found);
  }
  return trail.at(-1)!;
}

/** Reads a symbolic link's raw target (ext and XFS each have their own). */
export type SymlinkTargetReader<N> = (link: N) => Promise<Uint8Array>;

/**
 * DepthFirstSource.visit for a child (inode number `inode`) of a Unix filesystem, loaded or still
 * loading: its items (an inode that fails to load is an error for its path), and the child itself
 * when it is a directory.
 */
export function visitUnixChild<N extends InodeStat>(
  child: N | Promise<N>,
  inode: number,
  path: string,
  name: EntryName,
  parent: WalkDirectory,
  out: WalkItem[],
  symlinkTarget: SymlinkTargetReader<N>,
): N | undefined | Promise<N | undefined> {
  if (child instanceof Promise) {
    return child.then(
      (loaded) => visitLoaded(loaded, path, name, parent, out, symlinkTarget),
      (error: unknown) => {
        out.push(walkError(path, inode, error));
        return undefined;
      },
    );
  }
  return visitLoaded(child, path, name, parent, out, symlinkTarget);
}

function visitLoaded<N extends InodeStat>(
  child: N,
  path: string,
  name: EntryName,
  parent: WalkDirectory,
  out: WalkItem[],
  symlinkTarget: SymlinkTargetReader<N>,
): N | undefined | Promise<undefined> {
  const depth = parent.depth + 1;
  if (child.type === 'symlink') {
    return unixSymlinkEntry(child, path, name, parent.inode, depth, symlinkTarget).then((items) => {
      out.push(...items);
      return undefined;
    });
  }
  out.push(unixEntry(child, path, name, parent.inode, depth));
  return child.type === 'directory' ? child : undefined;
}

/**
 * The start of a walk of ext or XFS from `rootPath`: the start's entry (its target first when it
 * is a symlink), or the error that it cannot be read; and the directory to list, when it is one.
 */
export async function unixWalkBegin<N extends InodeStat>(
  rootPath: string,
  rootName: EntryName,
  load: () => Promise<N>,
  symlinkTarget: SymlinkTargetReader<N>,
): Promise<WalkBegin<N>> {
  let root: N;
  try {
    root = await load();
  } catch (error) {
    return { items: [walkError(rootPath, undefined, error)] };
  }
  const items =
    root.type === 'symlink'
      ? await unixSymlinkEntry(root, rootPath, rootName, 0, 0, symlinkTarget)
      : [unixEntry(root, rootPath, rootName, 0, 0)];
  if (root.type !== 'directory') return { items };
  return { items, root: { node: root, at: { path: rootPath, inode: root.inode, key: root.inode } } };
}

/** What ext and XFS each give unixWalk: `N` is the reader's inode record. */
export interface UnixWalkReader<N extends InodeStat> {
  readonly maxDirectoryDepth: number;
  /** The root directory's inode number. */
  readonly rootInode: number;
  /** The entry name of the start (`rootPath`'s last component, '' for the root). */
  rootName(rootPath: string): EntryName;
  lookup(path: string): Promise<number>;
  load(inode: number): Promise<N>;
  /**
   * The child inode an entry names: loaded, or still loading (from the cache, read-ahead or a
   * fresh read). It may throw: that is an error for the child's path.
   */
  child(inode: number): N | Promise<N>;
  /** The directory's listing: entries, and errors for its damaged parts. */
  list(
    dir: N,
  ): AsyncIterator<
    UnixDirEntry | { readonly error: Error } | readonly (UnixDirEntry | { readonly error: Error })[]
  >;
  readonly readTarget: SymlinkTargetReader<N>;
}

/**
 * The walk() of ext and XFS: from `options.root` (default "/", or `options.rootInode` when the
 * caller already knows it), its start entry, then each directory's entries depth first.
 */
export function unixWalk<N extends InodeStat>(
  reader: UnixWalkReader<N>,
  options: WalkOptions,
): AsyncGenerator<WalkItem> {
  const begin = (): Promise<WalkBegin<N>> => {
    const rootPath = normalizeImagePath(options.root ?? '/');
    return unixWalkBegin(
      rootPath,
      reader.rootName(rootPath),
      async () =>
        reader.load(
          rootPath === '/' ? reader.rootInode : (options.rootInode ?? (await reader.lookup(rootPath))),
        ),
      reader.readTarget,
    );
  };
  const source: DepthFirstSource<N, UnixDirEntry | { readonly error: Error }> = {
    maxDirectoryDepth: reader.maxDirectoryDepth,
    list: (dir) => reader.list(dir),
    visit: (item, parent, out) => {
      if ('error' in item) {
        out.push(walkError(parent.path, parent.inode, item.error));
        return undefined;
      }
      const path = childPath(parent.path, item.name);
      let child: N | Promise<N>;
      try {
        child = reader.child(item.inode);
      } catch (error) {
        out.push(walkError(path, item.inode, error));
        return undefined;
      }
      return visitUnixChild(child, item.inode, path, item, parent, out, reader.readTarget);
    },
    descent: inodeDescent,
  };
  return walkFrom(source, begin, options.descend);
}

/** A symlink's entry with its target; a target that cannot be read is an error before the entry. */
export async function unixSymlinkEntry<N extends InodeStat>(
  inode: N,
  path: string,
  name: EntryName,
  parentInode: number,
  depth: number,
  symlinkTarget: SymlinkTargetReader<N>,
): Promise<WalkItem[]> {
  try {
    return [unixEntry(inode, path, name, parentInode, depth, await symlinkTarget(inode))];
  } catch (error) {
    return [walkError(path, inode.inode, error), unixEntry(inode, path, name, parentInode, depth)];
  }
}

/** The walk entry of a Unix inode (its InodeStat fields), with the symlink's target when given. */
export function unixEntry(
  inode: InodeStat,
  path: string,
  name: EntryName,
  parentInode: number,
  depth: number,
  target?: Uint8Array,
): WalkEntry {
  return new UnixWalkEntry(inode, path, name, parentInode, depth, target);
}

/** A WalkEntry being filled in (UnixWalkEntry's constructor): its fields writable. */
type WalkEntryFields = { -readonly [K in keyof WalkEntry]: WalkEntry[K] };

// A class, as filesystem.ts's UnixStat and for the same reason: one object per entry with its
// fields inside, the stat fields copied by copyUnixStat (an object literal would need its own copy
// of them, a spread of unixStat an intermediate object per entry, a walk's largest share of garbage).
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type -- see above
interface UnixWalkEntry extends WalkEntryFields {}
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- see above
class UnixWalkEntry {
  constructor(
    inode: InodeStat,
    path: string,
    name: EntryName,
    parentInode: number,
    depth: number,
    target: Uint8Array | undefined,
  ) {
    this.kind = 'entry';
    copyUnixStat(this, inode);
    this.path = path;
    this.name = name.name;
    this.nameBytes = name.nameBytes;
    this.nameIsUtf8 = name.nameIsUtf8;
    this.parentInode = parentInode;
    this.depth = depth;
    if (target !== undefined) {
      this.symlinkTarget = encodeName(target);
      this.symlinkTargetBytes = target;
    }
  }
}

/** How ext and XFS refuse a directory: by its inode number. */
export function inodeDescent(dir: { readonly inode: number }): WalkDescent {
  return {
    key: dir.inode,
    inode: dir.inode,
    context: { inode: dir.inode },
    reachedTwice: {
      message: `directory inode ${dir.inode} is reachable twice (a cycle or a hard-linked directory)`,
      context: { inode: dir.inode },
    },
  };
}
