/**
 * The API's CatalogReader over the catalog (lambdas/core/catalog): directory listings as of an
 * image, versions of a path, find by name, and application records. The catalog's own page
 * cursors become store tokens behind the API's signed cursors; a partition that is not named is
 * the image's only catalogued filesystem. Paths come in already in the stored form (the path schema
 * turns the escaped form into it); names, paths and link targets go out escaped (fs/name-encoding.ts).
 */
import { NotFoundError, ValidationError, type RbpErrorOptions } from '../errors.ts';
import type { Timestamp } from '../fs/index.ts';
import { escapeName, unescapeName } from '../fs/name-encoding.ts';
import type { ApplicationRecord } from '../catalog/applications.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import {
  findByName,
  listDirectory,
  entryAsOf,
  MAX_PAGE_ENTRIES,
  type FileVersion as CatalogVersion,
} from '../catalog/catalog-queries.ts';
import {
  versionKeyOf,
  type FileMeta,
  type ImageCatalogRecord,
  type ImageRef,
} from '../catalog/catalog-types.ts';
import { CASE_INSENSITIVE_FS_TYPES } from '../catalog/file-search.ts';
import { pageVersions } from '../catalog/version-pages.ts';
import type {
  CataloguedBytes,
  CatalogReader,
  ImageDirectory,
  PageRequest,
  RestoreTarget,
  StorePage,
} from './api-ports.ts';
import type { Application, DirectoryEntry, FileVersion, FoundFile, Image, ImageCatalog } from './schemas.ts';

/** A version key above every image's (they start with the creation time's digits). */
const LATEST_VERSION_BOUND = '\uffff';

/**
 * Pages of one directory read, at most, to find a path component in another case: a bound on the
 * lookup (MAX_PAGE_ENTRIES each), far above any directory an operator names by hand.
 */
const MAX_CASE_LOOKUP_PAGES = 100;

/** Catalog states whose listings can be trusted (partial: some damaged files were skipped). */
const LISTABLE_STATES = new Set(['complete', 'partial']);

/**
 * A path a directory listing names that is not a directory of the image: `problem` says whether it
 * is missing or something else, so a caller showing the image under another name (a recovery
 * point's tree) can say the same in its own terms.
 */
export class CatalogPathNotFoundError extends NotFoundError {
  constructor(
    message: string,
    readonly problem: 'does not exist' | 'is not a directory',
    options: RbpErrorOptions = {},
  ) {
    super(message, options);
  }
}

export function isoOf(time: Timestamp): string {
  return new Date(time.seconds * 1000 + Math.floor(time.nanoseconds / 1e6)).toISOString();
}

function metaFields(meta: FileMeta) {
  return {
    type: meta.type,
    sizeBytes: meta.size,
    modifiedAt: isoOf(meta.mtime),
    mode: meta.mode,
    uid: meta.uid,
    gid: meta.gid,
    ...(meta.symlinkTarget === undefined ? {} : { symlinkTarget: escapeName(meta.symlinkTarget) }),
  };
}

function versionOf(version: CatalogVersion): FileVersion {
  return {
    path: escapeName(version.path),
    partition: version.partition,
    type: version.meta.type,
    sizeBytes: version.meta.size,
    modifiedAt: isoOf(version.meta.mtime),
    firstImageId: version.since.imageId,
    firstImageAt: version.since.createdAt,
    ...(version.until === undefined
      ? {}
      : {
          untilImageId: version.until.imageId,
          untilImageAt: version.until.createdAt,
          removedAtUntil: version.removedAtUntil,
        }),
  };
}

function applicationOf(record: ApplicationRecord): Application {
  return {
    name: record.name,
    type: record.type,
    ...(record.version === undefined ? {} : { version: record.version }),
    partition: record.partition,
    databases: record.databases.map((database) => ({ name: database.name, paths: [...database.paths] })),
    paths: [...record.paths],
  };
}

export class CatalogStoreReader implements CatalogReader {
  constructor(private readonly deps: { readonly store: CatalogStore; readonly images: ImageDirectory }) {}

  async listDirectory(
    image: Image,
    path: string,
    partition: number | undefined,
    page: PageRequest,
  ): Promise<StorePage<DirectoryEntry>> {
    const chosen = partition ?? (await this.onlyPartition(image));
    const listing = await listDirectory(this.deps.store, image, chosen, path, {
      limit: page.limit,
      ...(page.pageToken === undefined ? {} : { cursor: page.pageToken }),
    });
    if (listing.items.length === 0 && partition !== undefined && page.pageToken === undefined) {
      // An empty listing of a named partition may be a partition without a catalogued filesystem.
      cataloguedPartition(await this.catalogOf(image), image, partition);
    }
    if (listing.items.length === 0 && path !== '/') {
      const stored = await this.storedCaseOf(image, chosen, path);
      if (stored !== undefined && stored !== path) return this.listDirectory(image, stored, chosen, page);
      if (page.pageToken === undefined) await this.assertDirectory(image, chosen, path);
    }
    const items = listing.items.map((entry): DirectoryEntry => ({
      name: escapeName(entry.name),
      path: escapeName(entry.path),
      ...metaFields(entry),
      partition: entry.partition,
    }));
    return listing.cursor === undefined ? { items } : { items, nextToken: listing.cursor };
  }

  async listVersions(
    volumeId: string,
    path: string,
    partition: number | undefined,
    page: PageRequest,
  ): Promise<StorePage<FileVersion>> {
    let chosen = partition;
    if (chosen === undefined) {
      const latest = await this.latestListableCatalog(volumeId);
      if (latest === undefined) return { items: [] };
      chosen = onlyPartitionOf(latest, { imageId: latest.imageId });
    } else if (page.pageToken === undefined) {
      // Only for NotFoundError: a volume with no catalog record must at least be protected.
      const any = await this.deps.store.latestImageCatalogBefore(volumeId, LATEST_VERSION_BOUND);
      if (any === undefined) await this.deps.images.listImages(volumeId);
    }
    if (path === '/') return { items: [] };
    // One page from the store (the path's versions from the cursor on), never the whole history.
    const versions = await pageVersions(this.deps.store, volumeId, chosen, path, {
      limit: page.limit,
      ...(page.pageToken === undefined ? {} : { cursor: page.pageToken }),
    });
    if (versions.items.length === 0) {
      const latest = await this.latestListableCatalog(volumeId);
      const stored = latest === undefined ? undefined : await this.storedCaseOf(latest, chosen, path);
      if (stored !== undefined && stored !== path) return this.listVersions(volumeId, stored, chosen, page);
    }
    const items = versions.items.map(versionOf);
    return versions.cursor === undefined ? { items } : { items, nextToken: versions.cursor };
  }

  /**
   * The stored form of `path` on a filesystem that compares names case-insensitively (NTFS, FAT,
   * exFAT: Windows finds `C:\WINDOWS\system32` at `\Windows\System32`), as of `image`: each
   * component matched among its parent's entries, the exact name first, else the first entry
   * equal to it in lower case. Undefined on a case-sensitive filesystem or when a component is not
   * there. Costs a listing of each parent on the path, and only runs when the path as given found
   * nothing.
   */
  private async storedCaseOf(image: ImageRef, partition: number, path: string): Promise<string | undefined> {
    const record = await this.deps.store.getImageCatalog(image.volumeId, versionKeyOf(image));
    const fsType = record?.partitions.find((p) => p.index === partition)?.fsType;
    if (fsType === undefined || !CASE_INSENSITIVE_FS_TYPES.has(fsType)) return undefined;
    let resolved = '';
    for (const component of path.split('/').filter((part) => part !== '')) {
      const found = await this.entryNamed(image, partition, resolved === '' ? '/' : resolved, component);
      if (found === undefined) return undefined;
      resolved = `${resolved}/${found}`;
    }
    return resolved === '' ? '/' : resolved;
  }

  /** The name in `dir` (as of `image`) that is `name`, or equal to it in lower case. */
  private async entryNamed(
    image: ImageRef,
    partition: number,
    dir: string,
    name: string,
  ): Promise<string | undefined> {
    const folded = name.toLowerCase();
    let otherCase: string | undefined;
    let cursor: string | undefined;
    for (let pages = 0; pages < MAX_CASE_LOOKUP_PAGES; pages += 1) {
      const listing = await listDirectory(this.deps.store, image, partition, dir, {
        limit: MAX_PAGE_ENTRIES,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const entry of listing.items) {
        if (entry.name === name) return name;
        if (otherCase === undefined && entry.name.toLowerCase() === folded) otherCase = entry.name;
      }
      cursor = listing.cursor;
      if (cursor === undefined) break;
    }
    return otherCase;
  }

  /**
   * The newest catalog record of the volume that can be listed (complete or partial), one Limit-1
   * Query per record looked at; undefined when there is none. NotFoundError (as GET .../images)
   * for a volume with no catalog record that is not protected either.
   */
  private async latestListableCatalog(volumeId: string): Promise<ImageCatalogRecord | undefined> {
    let before = LATEST_VERSION_BOUND;
    for (;;) {
      const record = await this.deps.store.latestImageCatalogBefore(volumeId, before);
      if (record === undefined) {
        if (before === LATEST_VERSION_BOUND) await this.deps.images.listImages(volumeId);
        return undefined;
      }
      if (LISTABLE_STATES.has(record.status)) return record;
      before = record.version;
    }
  }

  async findByName(volumeId: string, name: string, page: PageRequest): Promise<StorePage<FoundFile>> {
    if (page.pageToken === undefined) await this.deps.images.listImages(volumeId);
    const found = await findByName(this.deps.store, volumeId, unescapeName(name), {
      limit: page.limit,
      ...(page.pageToken === undefined ? {} : { cursor: page.pageToken }),
    });
    const items = found.items.map((version): FoundFile => ({
      name: escapeName(version.name),
      ...versionOf(version),
    }));
    return found.cursor === undefined ? { items } : { items, nextToken: found.cursor };
  }

  async listApplications(image: Image): Promise<readonly Application[]> {
    return (await this.deps.store.listApplications(image.volumeId, image.imageId)).map(applicationOf);
  }

  private async catalogOf(image: Image): Promise<ImageCatalogRecord> {
    const record = await this.deps.store.getImageCatalog(image.volumeId, versionKeyOf(image));
    if (record === undefined) {
      throw new NotFoundError(`image ${image.imageId} has no catalog yet`, {
        context: { imageId: image.imageId },
      });
    }
    return record;
  }

  async catalogOfImage(image: Image): Promise<ImageCatalog | undefined> {
    const record = await this.deps.store.getImageCatalog(image.volumeId, versionKeyOf(image));
    return record === undefined ? undefined : imageCatalogOf(record);
  }

  async checkRestoreTarget(image: Image, target: RestoreTarget): Promise<CataloguedBytes | void> {
    const record = await this.deps.store.getImageCatalog(image.volumeId, versionKeyOf(image));
    if (record === undefined) return;
    if (target.kind === 'application') {
      const apps = await this.deps.store.listApplications(image.volumeId, image.imageId);
      if (!apps.some((app) => app.name === target.application)) {
        throw new NotFoundError(`image ${image.imageId} has no application named "${target.application}"`, {
          context: { imageId: image.imageId, application: target.application },
        });
      }
      return;
    }
    const partition = target.partition ?? onlyPartitionOf(record, image);
    const filesystem = cataloguedPartition(record, image, partition);
    const found = target.path === '/' ? undefined : await this.metaAt(image, partition, target.path);
    const type = target.path === '/' ? 'directory' : found?.type;
    const shown = escapeName(target.path);
    if (type === undefined) {
      throw new NotFoundError(`${shown} does not exist in image ${image.imageId}`, {
        context: { imageId: image.imageId, path: shown },
      });
    }
    const wanted = target.kind === 'file' ? 'file' : 'directory';
    if (type !== wanted) {
      throw new ValidationError(
        target.kind === 'file'
          ? `${shown} is a ${type}; only regular files can be restored as a file`
          : `${shown} is a ${type}; only directories can be restored as a directory`,
        { context: { imageId: image.imageId, path: shown, type } },
      );
    }
    // A file's bytes are its size (an NTFS stream's are not catalogued); a whole filesystem's
    // archive holds at least its regular files' bytes. A subdirectory's total is not looked up.
    if (target.kind === 'file')
      return found === undefined || found.stream ? undefined : { bytes: found.size };
    return target.path === '/' ? { bytes: filesystem.counts.bytes } : undefined;
  }

  /**
   * The type and size of `path` as of the image, or undefined when it is not there. A file restore
   * may name an NTFS stream as `path:stream`: when the path itself is not catalogued, its file is
   * (`stream`: the size is the file's, not the stream's).
   */
  private async metaAt(
    image: Image,
    partition: number,
    path: string,
  ): Promise<{ readonly type: string; readonly size: number; readonly stream: boolean } | undefined> {
    const current = await this.metaOfPath(image, partition, path);
    if (current !== undefined) return { type: current.type, size: current.size, stream: false };
    const name = path.slice(path.lastIndexOf('/') + 1);
    const colon = name.indexOf(':');
    if (colon <= 0 || colon === name.length - 1) return undefined;
    const file = await this.metaOfPath(image, partition, path.slice(0, path.length - name.length + colon));
    return file === undefined ? undefined : { type: file.type, size: file.size, stream: true };
  }

  /** The metadata of `path` as of the image (one single-item Query, catalog-queries.ts entryAsOf). */
  private metaOfPath(image: Image, partition: number, path: string): Promise<FileMeta | undefined> {
    return entryAsOf(this.deps.store, image, partition, path);
  }

  private async onlyPartition(image: Image): Promise<number> {
    return onlyPartitionOf(await this.catalogOf(image), image);
  }

  /** An empty listing of a path that is not a directory in the image is a 404, not an empty page. */
  private async assertDirectory(image: Image, partition: number, path: string): Promise<void> {
    const current = await this.metaOfPath(image, partition, path);
    const shown = escapeName(path);
    const problem =
      current === undefined
        ? 'does not exist'
        : current.type !== 'directory'
          ? 'is not a directory'
          : undefined;
    if (problem !== undefined) {
      throw new CatalogPathNotFoundError(`${shown} ${problem} in image ${image.imageId}`, problem, {
        context: { imageId: image.imageId, path: shown },
      });
    }
  }
}

/** Type the partition detector gives a region without a known filesystem signature (fs/volume.ts). */
const NO_FILESYSTEM_TYPE = 'unknown';

/** The catalog record as the API shows it: "unsupported" and "no filesystem" told apart. */
export function imageCatalogOf(record: ImageCatalogRecord): ImageCatalog {
  const filesystems = record.partitions.map((p) => ({
    partition: p.index,
    type: p.fsType,
    ...(p.label === undefined ? {} : { label: p.label }),
    ...(p.logicalVolume === undefined ? {} : { logicalVolume: p.logicalVolume }),
    status:
      p.status === 'unsupported' && p.fsType === NO_FILESYSTEM_TYPE ? ('no-filesystem' as const) : p.status,
    ...(p.reason === undefined ? {} : { reason: p.reason }),
    ...p.counts,
    errorCount: p.errorCount,
  }));
  const nothingFound =
    record.status === 'unsupported' && filesystems.every((f) => f.status === 'no-filesystem');
  return {
    status: nothingFound ? 'no-filesystem' : record.status,
    ...(record.partitionScheme === undefined ? {} : { partitionScheme: record.partitionScheme }),
    filesystems,
    errorCount: record.errorCount,
    warnings: record.warnings.map((w) => ({ ...w })),
  };
}

/** The image's only listable filesystem; ValidationError naming them when there are several. */
function onlyPartitionOf(record: ImageCatalogRecord, image: Pick<Image, 'imageId'>): number {
  const listable = record.partitions.filter((p) => LISTABLE_STATES.has(p.status));
  if (listable.length === 1) return listable[0]!.index;
  if (listable.length === 0) {
    throw new NotFoundError(`image ${image.imageId} has no catalogued filesystem`, {
      context: { imageId: image.imageId },
    });
  }
  throw new ValidationError(
    `image ${image.imageId} has ${listable.length} filesystems (partitions ${listable.map((p) => p.index).join(', ')}); name one with partition`,
    { context: { imageId: image.imageId } },
  );
}

/**
 * The record of `partition` when it holds a listable filesystem of the image; else NotFoundError
 * naming the partitions that do.
 */
function cataloguedPartition(
  record: ImageCatalogRecord,
  image: Pick<Image, 'imageId'>,
  partition: number,
): ImageCatalogRecord['partitions'][number] {
  const listable = record.partitions.filter((p) => LISTABLE_STATES.has(p.status));
  const found = listable.find((p) => p.index === partition);
  if (found !== undefined) return found;
  const indexes = listable.map((p) => p.index);
  const catalogued =
    indexes.length === 0
      ? 'none is catalogued'
      : `catalogued: partition${indexes.length === 1 ? '' : 's'} ${indexes.join(', ')}`;
  throw new NotFoundError(
    `image ${image.imageId} has no catalogued filesystem in partition ${partition} (${catalogued})`,
    { context: { imageId: image.imageId, partition } },
  );
}

/** Whether a committed image's catalog can be listed: the record exists and a filesystem is listable. */
export function catalogStateOf(
  store: CatalogStore,
): (image: { volumeId: string; imageId: string; createdAt: string }) => Promise<boolean> {
  return async (image) => {
    const record = await store.getImageCatalog(image.volumeId, versionKeyOf(image));
    return record !== undefined && LISTABLE_STATES.has(record.status);
  };
}
