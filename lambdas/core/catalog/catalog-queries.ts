/**
 * The catalog's read side, on top of the CatalogStore port. Each answer is one DynamoDB Query
 * (followed through its pages until a page of the caller's size is complete):
 * - listDirectory: a directory as it was in an image, sorted by name, with an opaque cursor;
 * - listVersions: every version of one path across the volume's images;
 * - entryAsOf: one path as of an image (one item read);
 * - findByName: every version of every path with a given name across the volume's images (GSI);
 * - previousDirectoryState: what the cataloguer compares a directory's new listing with.
 */
import { ValidationError } from '../errors.ts';
import {
  afterNameSortKey,
  decodeCursor,
  encodeCursor,
  isStoredName,
  normalizeCatalogPath,
  splitPath,
} from './catalog-keys.ts';
import type { CatalogStore, DirectoryQuery, NameIndexPosition, VersionBound } from './catalog-store.ts';
import type { CatalogItem, FileMeta, ImageRef } from './catalog-types.ts';
import { versionKeyOf } from './catalog-types.ts';
import { namePositionOf } from './catalog-item-keys.ts';

/** Items examined per store request: DynamoDB returns at most 1 MB per page anyway. */
export const QUERY_PAGE_ITEMS = 500;
/** Largest page a caller may ask for. */
export const MAX_PAGE_ENTRIES = 1000;
/** Default page size of listings. */
export const DEFAULT_PAGE_ENTRIES = 200;

export interface ImagePoint {
  readonly imageId: string;
  readonly createdAt: string;
}

/** An entry of a directory listing: the version current in the image asked about. */
export interface CatalogEntryView extends FileMeta {
  readonly partition: number;
  readonly name: string;
  readonly path: string;
  /** The image this version first appeared in. */
  readonly since: ImagePoint;
}

/** One version of one path: valid from `since` until (not including) `until`, or still current. */
export interface FileVersion {
  readonly partition: number;
  readonly path: string;
  readonly name: string;
  readonly since: ImagePoint;
  readonly until?: ImagePoint;
  /** True when the version ended because the path was removed (not replaced by a newer version). */
  readonly removedAtUntil: boolean;
  readonly meta: FileMeta;
}

export interface PageRequest {
  readonly cursor?: string;
  readonly limit?: number;
}

export interface Page<T> {
  readonly items: T[];
  /** Present when more may follow. */
  readonly cursor?: string;
}

export function pageLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_PAGE_ENTRIES;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_ENTRIES) {
    throw new ValidationError(`limit must be an integer from 1 to ${MAX_PAGE_ENTRIES}`, {
      context: { limit },
    });
  }
  return value;
}

function pointOf(item: CatalogItem): ImagePoint {
  return { imageId: item.imageId, createdAt: item.createdAt };
}

/**
 * Follows a store query's pages, grouping consecutive items, until `limit` groups are complete (a
 * group is complete when an item of another group follows it or the query ends).
 */
async function collectGroups<P>(
  fetch: (after: P | undefined) => Promise<{ items: CatalogItem[]; lastKey?: P }>,
  groupOf: (item: CatalogItem) => string,
  start: P | undefined,
  limit: number,
): Promise<{ groups: CatalogItem[][]; more: boolean }> {
  const groups: CatalogItem[][] = [];
  let after = start;
  for (;;) {
    const page = await fetch(after);
    for (const item of page.items) {
      const last = groups.at(-1);
      if (last !== undefined && groupOf(last[0]!) === groupOf(item)) last.push(item);
      else {
        if (groups.length === limit) return { groups, more: true }; // the limit-th group is complete
        groups.push([item]);
      }
    }
    if (page.lastKey === undefined) return { groups, more: false };
    after = page.lastKey;
  }
}

/** A directory as it was in `image`: the entries current at that image, by name. */
export async function listDirectory(
  store: CatalogStore,
  image: ImageRef,
  partition: number,
  dirPath: string,
  request: PageRequest = {},
): Promise<Page<CatalogEntryView>> {
  const dir = normalizeCatalogPath(dirPath);
  const limit = pageLimit(request.limit);
  const upTo: VersionBound = { version: versionKeyOf(image), inclusive: true };
  const start = request.cursor === undefined ? undefined : decodeCursor('dir', request.cursor);
  const items: CatalogEntryView[] = [];
  let after = start;
  // Groups whose current version is a removal produce no entry: keep going until the page is full.
  for (;;) {
    const { groups, more } = await collectGroups(
      (position) =>
        store.queryDirectory({
          volumeId: image.volumeId,
          partition,
          dir,
          upTo,
          pageSize: QUERY_PAGE_ITEMS,
          ...(position === undefined ? {} : { startAfter: position }),
        }),
      (item) => item.name,
      after,
      limit - items.length,
    );
    for (const group of groups) {
      const current = group.at(-1)!;
      if (current.removed !== true && current.meta !== undefined) {
        items.push({
          ...current.meta,
          partition,
          name: current.name,
          path: current.path,
          since: pointOf(current),
        });
      }
    }
    const lastName = groups.at(-1)?.[0]?.name;
    if (!more || lastName === undefined) return { items };
    after = afterNameSortKey(lastName);
    if (items.length >= limit) return { items, cursor: encodeCursor('dir', after) };
  }
}

export function versionsOfGroup(group: readonly CatalogItem[]): FileVersion[] {
  const out: FileVersion[] = [];
  group.forEach((item, i) => {
    if (item.removed === true || item.meta === undefined) return;
    const next = group[i + 1];
    out.push({
      partition: item.partition,
      path: item.path,
      name: item.name,
      since: pointOf(item),
      ...(next === undefined ? {} : { until: pointOf(next) }),
      removedAtUntil: next?.removed === true,
      meta: item.meta,
    });
  });
  return out;
}

/**
 * Every item `query` matches, in sort-key order, followed through all its pages of
 * QUERY_PAGE_ITEMS (each next page starts after the previous page's last key).
 */
async function* allDirectoryItems(
  store: CatalogStore,
  query: Omit<DirectoryQuery, 'pageSize' | 'startAfter'>,
): AsyncGenerator<CatalogItem> {
  let after: string | undefined;
  do {
    const page = await store.queryDirectory({
      ...query,
      pageSize: QUERY_PAGE_ITEMS,
      ...(after === undefined ? {} : { startAfter: after }),
    });
    yield* page.items;
    after = page.lastKey;
  } while (after !== undefined);
}

/** Every version of `path` across the volume's images, oldest first. */
export async function listVersions(
  store: CatalogStore,
  volumeId: string,
  partition: number,
  path: string,
): Promise<FileVersion[]> {
  const { dir, name } = splitPath(path);
  const items: CatalogItem[] = [];
  for await (const item of allDirectoryItems(store, { volumeId, partition, dir, name })) items.push(item);
  return versionsOfGroup(items);
}

/**
 * The metadata of `path` as of `image`, or undefined when it was not there: one Query of one item,
 * the path's newest version at or before the image (the bound is in the key range, so neither the
 * versions after the image nor the older ones are read: the cost does not grow with history).
 */
export async function entryAsOf(
  store: CatalogStore,
  image: ImageRef,
  partition: number,
  path: string,
): Promise<FileMeta | undefined> {
  const { dir, name } = splitPath(path);
  const page = await store.queryDirectory({
    volumeId: image.volumeId,
    partition,
    dir,
    name,
    upTo: { version: versionKeyOf(image), inclusive: true },
    newestFirst: true,
    pageSize: 1,
  });
  const current = page.items[0];
  return current === undefined || current.removed === true ? undefined : current.meta;
}

/** Every version of every path named `name` on the volume, by partition, path, then time. */
export async function findByName(
  store: CatalogStore,
  volumeId: string,
  name: string,
  request: PageRequest = {},
): Promise<Page<FileVersion>> {
  if (name === '' || name.includes('/') || (name.includes('\0') && !isStoredName(name))) {
    throw new ValidationError('name must be one path component', { context: { name } });
  }
  const limit = pageLimit(request.limit);
  const start =
    request.cursor === undefined ? undefined : (JSON.parse(decodeCursor('name', request.cursor)) as unknown);
  if (start !== undefined && !isPosition(start)) throw new ValidationError('invalid cursor');
  const { groups, more } = await collectGroups(
    (position: NameIndexPosition | undefined) =>
      store.queryName({
        volumeId,
        name,
        pageSize: QUERY_PAGE_ITEMS,
        ...(position === undefined ? {} : { startAfter: position }),
      }),
    (item) => `${item.partition}#${item.path}`,
    start,
    limit,
  );
  const versions = groups.flatMap(versionsOfGroup);
  if (!more) return { items: versions };
  const lastItem = groups.at(-1)!.at(-1)!;
  const cursor = encodeCursor('name', JSON.stringify(namePositionOf(lastItem)));
  return { items: versions, cursor };
}

function isPosition(value: unknown): value is NameIndexPosition {
  const v = value as Partial<NameIndexPosition> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.indexSk === 'string' &&
    typeof v.pk === 'string' &&
    typeof v.sk === 'string'
  );
}

/**
 * The directory as the catalog knew it just before `before`: for each name the latest item with
 * a smaller version, removals dropped. Sorted like the sort keys (name code points, "/"-ended).
 */
export async function previousDirectoryState(
  store: CatalogStore,
  volumeId: string,
  partition: number,
  dir: string,
  before: string,
): Promise<CatalogItem[]> {
  const out: CatalogItem[] = [];
  let pending: CatalogItem | undefined;
  const query = { volumeId, partition, dir, upTo: { version: before, inclusive: false } };
  for await (const item of allDirectoryItems(store, query)) {
    if (pending !== undefined && pending.name !== item.name && pending.removed !== true) out.push(pending);
    pending = item;
  }
  if (pending !== undefined && pending.removed !== true) out.push(pending);
  return out;
}
