/**
 * `files find`: file versions whose name matches a glob, across the images of one or more
 * volumes, narrowed by size, modification time and whether the file is still there, newest first
 * (docs/api.md, "Searching files").
 *
 * Each volume is one key-range query on the name-search index (GSI3: partition key `volumeId`,
 * sort key `name`, both attributes every version item already has, so DynamoDB fills the index for
 * catalogs written before it existed): `begins_with(name, <the glob's literal start>)`. A glob that
 * starts with a wildcard reads the volume's whole index (the bounded scan), which is why every
 * search is capped at MAX_SEARCH_INDEX_ITEMS index items read.
 */
import { ValidationError } from '../errors.ts';
import type { FileType, Timestamp } from '../fs/index.ts';
import type { CatalogStore, NameSearchHit, NameSearchPosition } from './catalog-store.ts';
import { compareCodePoints } from './catalog-types.ts';
import { compileGlob } from './glob.ts';

/**
 * Index items a search reads at most, over all its volumes: a leading-wildcard search of a volume
 * with a million catalogued versions would otherwise read them all on every page.
 */
export const MAX_SEARCH_INDEX_ITEMS = 200_000;
/** Index items asked for per Query (DynamoDB stops earlier at 1 MB of projected items). */
export const SEARCH_QUERY_PAGE_ITEMS = 1_000;

export interface SearchFilters {
  /** Only this filesystem of each volume. */
  readonly partition?: number;
  readonly minSize?: number;
  readonly maxSize?: number;
  /** Epoch milliseconds, inclusive. */
  readonly modifiedAfter?: number;
  /** Epoch milliseconds, inclusive. */
  readonly modifiedBefore?: number;
  /** deleted: versions that ended because the file was removed; present: versions current in the newest image. */
  readonly state?: 'deleted' | 'present';
  /** Compare names as NTFS and FAT do (case-insensitively). */
  readonly caseInsensitive?: boolean;
}

export interface SearchVolume {
  readonly volumeId: string;
  readonly serverId?: string;
  /**
   * Filesystems of the volume whose names compare case-insensitively (NTFS, FAT, exFAT, as Windows
   * looks names up): the glob matches their names regardless of case.
   */
  readonly caseInsensitivePartitions?: readonly number[];
}

/** Filesystems whose names Windows compares case-insensitively. */
export const CASE_INSENSITIVE_FS_TYPES: ReadonlySet<string> = new Set(['ntfs', 'vfat', 'exfat']);

export interface ImageAt {
  readonly imageId: string;
  readonly createdAt: string;
}

/** One version of one matching file: valid from `since` until (not including) `until`. */
export interface FoundVersion {
  readonly volumeId: string;
  readonly serverId?: string;
  readonly partition: number;
  readonly path: string;
  readonly name: string;
  readonly type: FileType;
  readonly size: number;
  readonly mtime: Timestamp;
  readonly since: ImageAt;
  readonly until?: ImageAt;
  readonly removedAtUntil: boolean;
}

export interface SearchOutcome {
  /** Newest first: versions still current, then by the image they ended at, newest first. */
  readonly versions: FoundVersion[];
  /** True when MAX_SEARCH_INDEX_ITEMS were read before every volume was searched. */
  readonly truncated: boolean;
  /** Index items read and store requests made (what docs/api.md's cost figures count). */
  readonly indexItemsRead: number;
  readonly queries: number;
}

function mtimeMs(t: Timestamp): number {
  return t.seconds * 1000 + Math.floor(t.nanoseconds / 1e6);
}

function passes(version: FoundVersion, filters: SearchFilters): boolean {
  if (filters.minSize !== undefined && version.size < filters.minSize) return false;
  if (filters.maxSize !== undefined && version.size > filters.maxSize) return false;
  const at = mtimeMs(version.mtime);
  if (filters.modifiedAfter !== undefined && at < filters.modifiedAfter) return false;
  if (filters.modifiedBefore !== undefined && at > filters.modifiedBefore) return false;
  if (filters.state === 'present' && version.until !== undefined) return false;
  if (filters.state === 'deleted' && !version.removedAtUntil) return false;
  return true;
}

/** The versions of one path from its index items (any order): removal markers end versions. */
function versionsOf(hits: NameSearchHit[], serverId: string | undefined): FoundVersion[] {
  hits.sort((a, b) => compareCodePoints(a.version, b.version));
  const out: FoundVersion[] = [];
  hits.forEach((hit, i) => {
    if (hit.removed === true || hit.type === undefined) return;
    const next = hits[i + 1];
    out.push({
      volumeId: hit.volumeId,
      ...(serverId === undefined ? {} : { serverId }),
      partition: hit.partition,
      path: hit.path,
      name: hit.name,
      type: hit.type,
      size: hit.size ?? 0,
      mtime: hit.mtime ?? { seconds: 0, nanoseconds: 0 },
      since: { imageId: hit.imageId, createdAt: hit.createdAt },
      ...(next === undefined ? {} : { until: { imageId: next.imageId, createdAt: next.createdAt } }),
      removedAtUntil: next?.removed === true,
    });
  });
  return out;
}

/** Newest first: still current before ended; then the later end, the later start, then by place. */
export function compareNewestFirst(a: FoundVersion, b: FoundVersion): number {
  const endA = a.until?.createdAt ?? '\uffff';
  const endB = b.until?.createdAt ?? '\uffff';
  return (
    compareCodePoints(endB, endA) ||
    compareCodePoints(b.since.createdAt, a.since.createdAt) ||
    compareCodePoints(a.volumeId, b.volumeId) ||
    a.partition - b.partition ||
    compareCodePoints(a.path, b.path)
  );
}

/** Every version matching `glob` and `filters` in the volumes' catalogs, newest first. */
export async function searchFiles(
  store: CatalogStore,
  volumes: readonly SearchVolume[],
  glob: string,
  filters: SearchFilters = {},
): Promise<SearchOutcome> {
  if (filters.minSize !== undefined && filters.maxSize !== undefined && filters.minSize > filters.maxSize) {
    throw new ValidationError('minSize must not be above maxSize');
  }
  const sensitive = compileGlob(glob, { caseInsensitive: filters.caseInsensitive === true });
  const insensitive = compileGlob(glob, { caseInsensitive: true });
  let read = 0;
  let queries = 0;
  let truncated = false;
  const versions: FoundVersion[] = [];
  for (const volume of volumes) {
    const folded = new Set(volume.caseInsensitivePartitions ?? []);
    // A case-insensitive filesystem needs every case of the literal start: the prefix stops at its first letter.
    const keyPrefix = folded.size > 0 ? insensitive.keyPrefix : sensitive.keyPrefix;
    const byPath = new Map<string, NameSearchHit[]>();
    let after: NameSearchPosition | undefined;
    do {
      if (read >= MAX_SEARCH_INDEX_ITEMS) {
        truncated = true;
        break;
      }
      const page = await store.searchNames({
        volumeId: volume.volumeId,
        prefix: keyPrefix,
        pageSize: Math.min(SEARCH_QUERY_PAGE_ITEMS, MAX_SEARCH_INDEX_ITEMS - read),
        ...(after === undefined ? {} : { startAfter: after }),
      });
      queries += 1;
      read += page.items.length;
      for (const hit of page.items) {
        if (filters.partition !== undefined && hit.partition !== filters.partition) continue;
        if (!(folded.has(hit.partition) ? insensitive : sensitive).matches(hit.name)) continue;
        const key = `${hit.partition}#${hit.path}`;
        const group = byPath.get(key);
        if (group === undefined) byPath.set(key, [hit]);
        else group.push(hit);
      }
      after = page.lastKey;
    } while (after !== undefined);
    for (const hits of byPath.values()) {
      for (const version of versionsOf(hits, volume.serverId))
        if (passes(version, filters)) versions.push(version);
    }
    if (truncated) break;
  }
  versions.sort(compareNewestFirst);
  return { versions, truncated, indexItemsRead: read, queries };
}
