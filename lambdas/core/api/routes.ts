/**
 * The routing table of the REST API: for every operation its method, path template, the schemas of
 * its path parameters, query and body, its answer, and the function that serves it. The router
 * (api-router.ts) validates against these schemas and openapi.ts documents them.
 */
import { z } from 'zod';
import { route, type Route } from './route-definition.ts';
import { queryScope } from './cursor.ts';
import { LIFECYCLE_ROUTES } from './lifecycle-routes.ts';
import { RESTORE_TEST_ROUTES } from './restore-test-routes.ts';
import { PLAN_ROUTES } from './plan-routes.ts';
import { RECOVERY_POINT_ROUTES } from '../recovery-points/recovery-point-routes.ts';
import { recoveryPointsOf } from '../recovery-points/recovery-point-service.ts';
import { WORKFLOW_ROUTES } from './workflow-routes.ts';
import { HISTORY_ROUTES } from './history-routes.ts';
import { CANCEL_ROUTES } from './cancel-routes.ts';
import { FILE_SEARCH_ROUTES } from './file-search-routes.ts';
import { storePage } from './pagination.ts';
import {
  acceptedBackupSchema,
  acceptedRestoreSchema,
  applicationSchema,
  backupPathParams,
  backupSchema,
  directoryEntrySchema,
  fileVersionSchema,
  fileVersionsQuery,
  foundFileSchema,
  imagePathParams,
  imageSchema,
  imageWithCatalogSchema,
  listFilesQuery,
  listImagesQuery,
  pageOnlyQuery,
  pageSchema,
  restorePathParams,
  restoreSchema,
  searchFilesQuery,
  startBackupBody,
  startRestoreBody,
  volumePathParams,
  volumeSchema,
} from './schemas.ts';

export type { HttpMethod, Route, RouteAnswer, RouteInput } from './route-definition.ts';

export const ROUTES: readonly Route[] = [
  route('GET /volumes', 'listVolumes', {
    summary: 'Protected replica volumes, by volume id',
    query: pageOnlyQuery,
    answer: pageSchema(volumeSchema),
    serve: (deps, { query }) =>
      storePage(query, queryScope('listVolumes', {}), deps.cursors, (page) => deps.volumes.pageVolumes(page)),
  }),
  route('GET /volumes/{volumeId}/images', 'listImages', {
    summary: 'Committed images of a volume, newest first, optionally within a time range and by status',
    params: volumePathParams,
    query: listImagesQuery,
    answer: pageSchema(imageSchema),
    errors: [404],
    serve(deps, { params, query }) {
      // The bounds in the records' own form (UTC, milliseconds), so they are key conditions.
      const utc = (instant: string | undefined) =>
        instant === undefined ? undefined : new Date(instant).toISOString();
      const filter = { from: utc(query.from), to: utc(query.to), status: query.status, kind: query.kind };
      const scope = queryScope('listImages', { ...params, ...query });
      return storePage(query, scope, deps.cursors, (page) =>
        deps.volumes.pageImages(params.volumeId, filter, page),
      );
    },
  }),
  route('GET /images/{imageId}', 'getImage', {
    summary: 'One image, with what its catalog found (filesystems, counts, warnings)',
    params: imagePathParams,
    answer: imageWithCatalogSchema,
    errors: [404],
    async serve(deps, { params }) {
      const image = await deps.images.getImage(params.imageId);
      const catalog = await deps.catalog.catalogOfImage(image);
      return catalog === undefined ? image : { ...image, catalog };
    },
  }),
  route('GET /images/{imageId}/files', 'listFiles', {
    summary: 'A directory as it was in the image (default: the root)',
    params: imagePathParams,
    query: listFilesQuery,
    answer: pageSchema(directoryEntrySchema),
    errors: [404],
    async serve(deps, { params, query }) {
      const image = await deps.images.getImage(params.imageId);
      const scope = queryScope('listFiles', { ...params, path: query.path, partition: query.partition });
      return storePage(query, scope, deps.cursors, (page) =>
        deps.catalog.listDirectory(image, query.path, query.partition, page),
      );
    },
  }),
  route('GET /volumes/{volumeId}/files/versions', 'listFileVersions', {
    summary: 'Every version of a path across the volume’s images, oldest first',
    params: volumePathParams,
    query: fileVersionsQuery,
    answer: pageSchema(fileVersionSchema),
    errors: [404],
    serve(deps, { params, query }) {
      const scope = queryScope('listFileVersions', {
        ...params,
        path: query.path,
        partition: query.partition,
      });
      return storePage(query, scope, deps.cursors, (page) =>
        deps.catalog.listVersions(params.volumeId, query.path, query.partition, page),
      );
    },
  }),
  route('GET /volumes/{volumeId}/files/search', 'searchFiles', {
    summary: 'Files with this exact name in any image of the volume',
    params: volumePathParams,
    query: searchFilesQuery,
    answer: pageSchema(foundFileSchema),
    errors: [404],
    serve(deps, { params, query }) {
      const scope = queryScope('searchFiles', { ...params, name: query.name });
      return storePage(query, scope, deps.cursors, (page) =>
        deps.catalog.findByName(params.volumeId, query.name, page),
      );
    },
  }),
  route('GET /images/{imageId}/applications', 'listApplications', {
    summary: 'Applications recorded in the image by the replication agent',
    params: imagePathParams,
    answer: z.object({ items: z.array(applicationSchema) }),
    errors: [404],
    async serve(deps, { params }) {
      const image = await deps.images.getImage(params.imageId);
      return { items: await deps.catalog.listApplications(image) };
    },
  }),
  route('POST /backups', 'startBackup', {
    summary:
      'Start an on-demand backup of a volume, or of every volume of a server as one recovery point (409 when one is already running)',
    body: startBackupBody,
    answer: acceptedBackupSchema,
    errors: [404, 409],
    async serve(deps, { body, principal }) {
      const request = {
        backupId: deps.ids.newId('bk'),
        full: body.full,
        trigger: `api:${principal ?? 'anonymous'}`,
        ...(body.source === 'primary' ? { source: body.source } : {}),
      };
      const backup =
        body.serverId !== undefined
          ? await recoveryPointsOf(deps).startServerBackup({ ...request, serverId: body.serverId })
          : await deps.backups.start({ ...request, volumeId: body.volumeId! });
      return { backupId: backup.backupId, status: backup.status };
    },
    accepted: (backup) => `/backups/${backup.backupId}`,
  }),
  route('GET /backups/{backupId}', 'getBackup', {
    summary: 'Status and progress of a backup',
    params: backupPathParams,
    answer: backupSchema,
    errors: [404],
    serve: (deps, { params }) => deps.backups.describe(params.backupId),
  }),
  route('POST /restores', 'startRestore', {
    summary:
      'Restore a file, a directory or an application to a download, or a whole volume to an EBS snapshot',
    body: startRestoreBody,
    answer: acceptedRestoreSchema,
    // 404: no such image, path or application; 400 also for a path of the wrong kind.
    errors: [404, 409],
    async serve(deps, { body }) {
      const image = await deps.images.getImage(body.imageId);
      // What the catalog knows of the restore's size: one larger than a restore can write is a 400 now.
      const catalogued =
        body.kind === 'volume'
          ? undefined
          : ((await deps.catalog.checkRestoreTarget(image, body)) ?? undefined);
      const restore = await deps.restores.start(deps.ids.newId('rs'), image, body, catalogued);
      return { restoreId: restore.restoreId, status: restore.status };
    },
    accepted: (restore) => `/restores/${restore.restoreId}`,
  }),
  route('GET /restores/{restoreId}', 'getRestore', {
    summary: 'Status of a restore; when it succeeded, a presigned download URL or the new snapshot id',
    params: restorePathParams,
    answer: restoreSchema,
    errors: [404],
    serve: (deps, { params }) => deps.restores.get(params.restoreId),
  }),
  ...LIFECYCLE_ROUTES,
  ...RESTORE_TEST_ROUTES,
  ...PLAN_ROUTES,
  ...RECOVERY_POINT_ROUTES,
  ...WORKFLOW_ROUTES,
  ...HISTORY_ROUTES,
  ...CANCEL_ROUTES,
  ...FILE_SEARCH_ROUTES,
];
