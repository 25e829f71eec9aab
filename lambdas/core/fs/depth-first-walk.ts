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
import { refuseDescent, walkError, type WalkEntry, type WalkItem, type WalkOptions } from './filesystem.ts';

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

/**
 * The walk below `root` (whose own entry the reader has yielded): each directory's entries, each
 * directory before its children. `rootKey` is the root's WalkDescent key.
 */
export async function* walkDepthFirst<N, I>(
  source: DepthFirstSource<N, I>,
  root: N,
  rootAt: { readonly path: string; readonly inode: number; readonly key: number },
  descend?: WalkOptions['descend'],
): AsyncGenerator<WalkItem> {
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
    stack.push({ items: source.list(child), batch: NO_ITEMS, at: 0, path: entry.path, inode: descent.inode, depth });
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
