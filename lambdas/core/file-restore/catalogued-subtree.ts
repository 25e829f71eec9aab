/**
 * What the catalog knows of a subdirectory's size, for refusing a directory restore before any job
 * starts. The image's catalog record holds each partition's root tree summary (catalog-trees.ts),
 * and every directory's tree pages hold, for each subdirectory, a summary of its whole subtree with
 * its counts; so the subtree's bytes are read along the path alone: one directory per path
 * component, and in a directory of several pages (name order) a binary search over them. Nothing
 * below the directory is read, whatever the tree's size.
 *
 * Undecided (undefined) when the catalog cannot say cheaply: no catalog record or tree (an older
 * catalog), no single listable filesystem to default to, a name not found exactly as given, or
 * MAX_SUBTREE_LOOKUP_PAGES pages read before the directory is reached. The restore is then admitted
 * and the worker's own limit stops it (RestoreTooLargeError, resumable-upload.ts).
 */
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { decodeTreePage, type SubtreeSummary, type TreeEntry } from '../catalog/catalog-trees.ts';
import { compareCodePoints, versionKeyOf, type ImageCatalogRecord } from '../catalog/catalog-types.ts';

/**
 * Tree pages read, at most, to reach a directory's summary: one page per level for directories of
 * one page (1,024 entries), about log2(pages) + 1 for wider ones; 64 covers any path an operator
 * names by hand and bounds the lookup to a few hundred milliseconds of GetItem in the API's request.
 */
export const MAX_SUBTREE_LOOKUP_PAGES = 64;

/** Catalog states whose trees can be trusted (partial: some damaged files were skipped). */
const LISTABLE_STATES = new Set(['complete', 'partial']);

export interface SubtreeBytes {
  /** Regular files' bytes below the directory, as catalogued (CatalogCounts.bytes, whole bytes). */
  readonly bytes: number;
  /** Tree pages read to find it. */
  readonly pagesRead: number;
}

/** The sort order of a directory's entries in its tree pages (the catalog's sort keys). */
function byName(a: string, b: string): number {
  return compareCodePoints(`${a}/`, `${b}/`);
}

/** The partition a restore names, or the only listable one; undefined when that is not one. */
function treeOf(record: ImageCatalogRecord, partition: number | undefined): SubtreeSummary | undefined {
  const listable = record.partitions.filter((p) => LISTABLE_STATES.has(p.status));
  const chosen =
    partition === undefined
      ? listable.length === 1
        ? listable[0]
        : undefined
      : listable.find((p) => p.index === partition);
  return chosen?.tree?.root;
}

/**
 * The bytes below directory `path` (stored form, absolute, not "/") of the image's filesystem
 * `partition` (undefined: its only one), or undefined when undecided (see the file comment).
 */
export async function cataloguedSubtreeBytes(
  store: Pick<CatalogStore, 'getImageCatalog' | 'getTreePages'>,
  image: { readonly volumeId: string; readonly imageId: string; readonly createdAt: string },
  partition: number | undefined,
  path: string,
  maxPages = MAX_SUBTREE_LOOKUP_PAGES,
): Promise<SubtreeBytes | undefined> {
  const record = await store.getImageCatalog(image.volumeId, versionKeyOf(image));
  let dir = record === undefined ? undefined : treeOf(record, partition);
  let pagesRead = 0;
  const readPage = async (hash: string): Promise<TreeEntry[] | undefined> => {
    pagesRead += 1;
    const body = (await store.getTreePages(image.volumeId, [hash])).get(hash);
    return body === undefined ? undefined : decodeTreePage(hash, body);
  };
  for (const name of path.split('/').filter((part) => part !== '')) {
    if (dir === undefined) return undefined;
    let entry: TreeEntry | undefined;
    let low = 0;
    let high = dir.refs.length - 1;
    while (low <= high && entry === undefined) {
      if (pagesRead >= maxPages) return undefined;
      const middle = Math.floor((low + high) / 2);
      const entries = await readPage(dir.refs[middle]!);
      if (entries === undefined || entries.length === 0) return undefined;
      if (byName(name, entries[0]!.name) < 0) high = middle - 1;
      else if (byName(name, entries.at(-1)!.name) > 0) low = middle + 1;
      else {
        entry = entries.find((e) => e.name === name);
        if (entry === undefined) return undefined;
      }
    }
    dir = entry?.type === 'directory' ? entry.sub : undefined;
  }
  return dir === undefined ? undefined : { bytes: Math.floor(dir.counts.bytes), pagesRead };
}
