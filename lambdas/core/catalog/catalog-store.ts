/**
 * The catalog's storage port. Implementations: lambdas/aws/dynamodb-catalog.ts (the product) and
 * test/catalog/memory-catalog-store.ts (tests and benchmarks); both pass
 * test/catalog/catalog-store.contract.ts. The semantics of "as of an image" live in
 * catalog-queries.ts on top of these raw, paginated reads, so both stores behave identically.
 */
import type { ApplicationRecord } from './applications.ts';
import type { CatalogItem, ImageCatalogRecord, ImageRef } from './catalog-types.ts';
import type { TreePage } from './catalog-trees.ts';
import type { FileType, Timestamp } from '../fs/index.ts';

/** Only items whose version is below (or at, when inclusive) this one are returned. */
export interface VersionBound {
  readonly version: string;
  readonly inclusive: boolean;
}

export interface DirectoryQuery {
  readonly volumeId: string;
  readonly partition: number;
  readonly dir: string;
  /** Only the versions of this one name (begins_with "<name>/"). */
  readonly name?: string;
  /** Exclusive start: a sort key (need not exist). */
  readonly startAfter?: string;
  /**
   * With `name`, a bound on the sort key: the versions after it are never read (they cost no read
   * units). Without `name`, a filter over every item of the directory (versions of different names
   * interleave in sort-key order, so no key range holds exactly the items up to a version).
   */
  readonly upTo?: VersionBound;
  /** With `name`: newest version first (the sort key descending). */
  readonly newestFirst?: boolean;
  /** Items examined per page (DynamoDB Limit: counted before the version filter). */
  readonly pageSize: number;
}

export interface DirectoryPage {
  /** In sort-key order: by name (code points, "/"-terminated), then version. */
  readonly items: CatalogItem[];
  /** Sort key of the last item examined when more may follow (pass as startAfter). */
  readonly lastKey?: string;
}

/** Position in the name index: its sort key plus the table keys (GSI keys are not unique). */
export interface NameIndexPosition {
  readonly indexSk: string;
  readonly pk: string;
  readonly sk: string;
}

export interface NameQuery {
  readonly volumeId: string;
  readonly name: string;
  readonly startAfter?: NameIndexPosition;
  readonly pageSize: number;
}

export interface NamePage {
  /** By partition, then path, then version. */
  readonly items: CatalogItem[];
  readonly lastKey?: NameIndexPosition;
}

/** Position in the name-search index: the name plus the table keys (index keys are not unique). */
export interface NameSearchPosition {
  readonly name: string;
  readonly pk: string;
  readonly sk: string;
}

/** Version items of a volume whose stored name starts with `prefix`, in name order (file-search.ts). */
export interface NameSearchQuery {
  readonly volumeId: string;
  /** '' for every name of the volume. */
  readonly prefix: string;
  readonly startAfter?: NameSearchPosition;
  readonly pageSize: number;
}

/**
 * What the name-search index holds of a version item (its projection): enough to match, filter
 * and order a search without reading the items themselves.
 */
export interface NameSearchHit extends Pick<
  CatalogItem,
  'volumeId' | 'partition' | 'name' | 'path' | 'version' | 'imageId' | 'createdAt' | 'removed'
> {
  readonly type?: FileType;
  readonly size?: number;
  readonly mtime?: Timestamp;
}

export interface NameSearchPage {
  readonly items: NameSearchHit[];
  readonly lastKey?: NameSearchPosition;
}

export interface CatalogStore {
  queryDirectory(query: DirectoryQuery): Promise<DirectoryPage>;
  queryName(query: NameQuery): Promise<NamePage>;
  /** One page of the name-search index (GSI3: volumeId, name) for a name prefix. */
  searchNames(query: NameSearchQuery): Promise<NameSearchPage>;
  /** Writes (overwrites) version items; any number, the store batches them. Idempotent. */
  putItems(items: readonly CatalogItem[]): Promise<void>;
  /** Creates or replaces the image's catalog record. */
  putImageCatalog(record: ImageCatalogRecord): Promise<void>;
  getImageCatalog(volumeId: string, version: string): Promise<ImageCatalogRecord | undefined>;
  /** The catalog record of the latest image before `version` (any status), if any. */
  latestImageCatalogBefore(volumeId: string, version: string): Promise<ImageCatalogRecord | undefined>;
  /** Replaces the image's application records. */
  putApplications(image: ImageRef, applications: readonly ApplicationRecord[]): Promise<void>;
  /** By partition, then name. */
  listApplications(volumeId: string, imageId: string): Promise<ApplicationRecord[]>;
  /** Writes directory tree pages (content-addressed: writing one again changes nothing). */
  putTreePages(volumeId: string, pages: readonly TreePage[]): Promise<void>;
  /** Bodies of the pages asked for, by hash; an absent page is left out of the map. */
  getTreePages(volumeId: string, hashes: readonly string[]): Promise<Map<string, string>>;
}
