/**
 * GET /files/search: files whose name matches a glob, across one server's, one volume's or every
 * visible volume's images, with size, time and state filters, newest first (docs/api.md,
 * "Searching files"). The search itself is lambdas/core/catalog/file-search.ts.
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { escapeName } from '../fs/name-encoding.ts';
import {
  CASE_INSENSITIVE_FS_TYPES,
  searchFiles,
  type FoundVersion,
  type SearchFilters,
  type SearchVolume,
} from '../catalog/file-search.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { MAX_GLOB_CHARS } from '../catalog/glob.ts';
import { isoOf } from './catalog-reader.ts';
import { queryScope } from './cursor.ts';
import { pageOfList } from './pagination.ts';
import { configured, route, type Route } from './route-definition.ts';
import { foundFileSchema, pageOnlyQuery, pageSchema, volumeIdSchema, type Volume } from './schemas.ts';
import type { ApiDeps } from './api-ports.ts';

/** Largest partition number accepted (as the other file routes). */
const MAX_PARTITION = 1_000_000;

/** What the search route needs: the catalog store the search queries. */
export interface FileSearchPort {
  readonly store: CatalogStore;
}

const sizeQuery = z.coerce.number().int('must be an integer').min(0).optional();
const instantQuery = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), 'must be an ISO 8601 instant')
  .optional();

export const fileSearchQuery = pageOnlyQuery.extend({
  glob: z
    .string()
    .min(1)
    .max(MAX_GLOB_CHARS)
    .describe(
      "File-name glob: * any run, ? one character, [a-z] / [!a-z] one of (not of) a set; names in the escaped form (\\xNN, \\\\); \\*, \\?, \\[ for the characters themselves. E.g. '*.bin', 'report-2026*'",
    ),
  server: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe('Only this server’s volumes (its rbp:source-server tag)'),
  volumeId: volumeIdSchema.optional().describe('Only this volume'),
  partition: z.coerce.number().int().min(0).max(MAX_PARTITION).optional().describe('Only this filesystem'),
  minSize: sizeQuery.describe('Smallest size in bytes (inclusive)'),
  maxSize: sizeQuery.describe('Largest size in bytes (inclusive)'),
  modifiedAfter: instantQuery.describe('Modified at or after this instant'),
  modifiedBefore: instantQuery.describe('Modified at or before this instant'),
  state: z
    .enum(['deleted', 'present'])
    .optional()
    .describe(
      'present: versions in the newest image; deleted: versions that ended because the file was removed',
    ),
});

export const foundVersionSchema = foundFileSchema.extend({
  volumeId: volumeIdSchema,
  serverId: z.string().optional(),
});
export type FoundVersionView = z.infer<typeof foundVersionSchema>;

const searchAnswerSchema = pageSchema(foundVersionSchema).extend({
  truncated: z
    .boolean()
    .describe('True when the search stopped at its index-read cap (MAX_SEARCH_INDEX_ITEMS): narrow the glob'),
});

function viewOf(found: FoundVersion): FoundVersionView {
  return {
    volumeId: found.volumeId,
    ...(found.serverId === undefined ? {} : { serverId: found.serverId }),
    name: escapeName(found.name),
    path: escapeName(found.path),
    partition: found.partition,
    type: found.type,
    sizeBytes: found.size,
    modifiedAt: isoOf(found.mtime),
    firstImageId: found.since.imageId,
    firstImageAt: found.since.createdAt,
    ...(found.until === undefined
      ? {}
      : {
          untilImageId: found.until.imageId,
          untilImageAt: found.until.createdAt,
          removedAtUntil: found.removedAtUntil,
        }),
  };
}

const searchOf = (deps: ApiDeps): FileSearchPort => configured(deps.fileSearch, 'file search', 'is');

/** The volumes a search covers, newest image first; 404 for a server or volume the caller cannot see. */
function volumesOf(all: readonly Volume[], query: { server?: string; volumeId?: string }): SearchVolume[] {
  const chosen = all.filter(
    (v) =>
      (query.server === undefined || v.serverId === query.server) &&
      (query.volumeId === undefined || v.volumeId === query.volumeId),
  );
  if (chosen.length === 0 && query.volumeId !== undefined) {
    throw new NotFoundError(`volume ${query.volumeId} is not a protected replica volume`, {
      context: { volumeId: query.volumeId },
    });
  }
  if (chosen.length === 0 && query.server !== undefined) {
    throw new NotFoundError(`server ${query.server} has no protected volumes`, {
      context: { serverId: query.server },
    });
  }
  return [...chosen]
    .sort(
      (a, b) =>
        (b.latestImageAt ?? '').localeCompare(a.latestImageAt ?? '') || a.volumeId.localeCompare(b.volumeId),
    )
    .map((v) => ({ volumeId: v.volumeId, ...(v.serverId === undefined ? {} : { serverId: v.serverId }) }));
}

/** A version key after every image's (they start with an ISO timestamp). */
const AFTER_EVERY_IMAGE = '\uffff';

/**
 * Each volume with the filesystems its newest catalog found that compare names case-insensitively
 * (NTFS, FAT, exFAT): one Query per volume for its latest catalog record.
 */
async function withFilesystems(store: CatalogStore, volumes: SearchVolume[]): Promise<SearchVolume[]> {
  return Promise.all(
    volumes.map(async (volume) => {
      const record = await store.latestImageCatalogBefore(volume.volumeId, AFTER_EVERY_IMAGE);
      const folded = (record?.partitions ?? [])
        .filter((p) => CASE_INSENSITIVE_FS_TYPES.has(p.fsType))
        .map((p) => p.index);
      return folded.length === 0 ? volume : { ...volume, caseInsensitivePartitions: folded };
    }),
  );
}

export const FILE_SEARCH_ROUTES: readonly Route[] = [
  route('GET /files/search', 'findFiles', {
    summary:
      'Files whose name matches a glob in the images of one server, one volume or every volume, filtered by size, time and state; newest first',
    query: fileSearchQuery,
    answer: searchAnswerSchema,
    errors: [404],
    async serve(deps, { query }) {
      const search = searchOf(deps);
      const volumes = await withFilesystems(search.store, volumesOf(await deps.volumes.listVolumes(), query));
      const filters: SearchFilters = {
        ...(query.partition === undefined ? {} : { partition: query.partition }),
        ...(query.minSize === undefined ? {} : { minSize: query.minSize }),
        ...(query.maxSize === undefined ? {} : { maxSize: query.maxSize }),
        ...(query.modifiedAfter === undefined ? {} : { modifiedAfter: Date.parse(query.modifiedAfter) }),
        ...(query.modifiedBefore === undefined ? {} : { modifiedBefore: Date.parse(query.modifiedBefore) }),
        ...(query.state === undefined ? {} : { state: query.state }),
      };
      // Read whole and paged in memory: the answer is ordered over the whole search (newest
      // first across volumes), which no index order gives, and the search reads at most
      // MAX_SEARCH_INDEX_ITEMS index items before it answers `truncated` (docs/api.md, Searching
      // files), so a page costs at most that many items whatever the catalog's size.
      const outcome = await searchFiles(search.store, volumes, query.glob, filters);
      const scope = queryScope('findFiles', { ...query });
      const page = pageOfList(outcome.versions.map(viewOf), query, scope, deps.cursors);
      return { ...page, truncated: outcome.truncated };
    },
  }),
];
