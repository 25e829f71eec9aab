/**
 * The routing table of the REST API: for every operation its method, path template, the schemas of
 * its path parameters, query and body, its answer, and the function that serves it. The router
 * (api-router.ts) validates against these schemas and openapi.ts documents them.
 */
import { z } from 'zod';
import { route, type Route, type RouteAnswer } from './route-definition.ts';
import { queryScope } from './cursor.ts';
import { LIFECYCLE_ROUTES } from './lifecycle-routes.ts';
import { PLAN_ROUTES } from './plan-routes.ts';
import { RECOVERY_POINT_ROUTES } from '../recovery-points/recovery-point-routes.ts';
import { recoveryPointsOf } from '../recovery-points/recovery-point-service.ts';
import { WORKFLOW_ROUTES } from './workflow-routes.ts';
import { HISTORY_ROUTES } from './history-routes.ts';
import { CANCEL_ROUTES } from './cancel-routes.ts';
import { FILE_SEARCH_ROUTES } from './file-search-routes.ts';
import { pageOfStore, storeTokenOf } from './pagination.ts';
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

const ok = (body: unknown): RouteAnswer => ({ status: 200, body });

export const ROUTES: readonly Route[] = [
  route({
    method: 'GET',
    path: '/volumes',
    operationId: 'listVolumes',
    summary: 'Protected replica volumes, by volume id',
    query: pageOnlyQuery,
    success: { status: 200, schema: pageSchema(volumeSchema) },
    async serve(deps, { query }) {
      const scope = queryScope('listVolumes', {});
      const pageToken = storeTokenOf(query, scope, deps.cursors);
      const page = await deps.volumes.pageVolumes({
        limit: query.limit,
        ...(pageToken === undefined ? {} : { pageToken }),
      });
      return ok(pageOfStore(page, scope, deps.cursors));
    },
  }),
  route({
    method: 'GET',
    path: '/volumes/{volumeId}/images',
    operationId: 'listImages',
    summary: 'Committed images of a volume, newest first, optionally within a time range and by status',
    params: volumePathParams,
    query: listImagesQuery,
    success: { status: 200, schema: pageSchema(imageSchema) },
    errorStatuses: [404],
    async serve(deps, { params, query }) {
      const scope = queryScope('listImages', { ...params, ...query });
      const pageToken = storeTokenOf(query, scope, deps.cursors);
      // The bounds in the records' own form (UTC, milliseconds), so they are key conditions.
      const utc = (instant: string | undefined) =>
        instant === undefined ? undefined : new Date(instant).toISOString();
      const page = await deps.volumes.pageImages(
        params.volumeId,
        { from: utc(query.from), to: utc(query.to), status: query.status, kind: query.kind },
        { limit: query.limit, ...(pageToken === undefined ? {} : { pageToken }) },
      );
      return ok(pageOfStore(page, scope, deps.cursors));
    },
  }),
  route({
    method: 'GET',
    path: '/images/{imageId}',
    operationId: 'getImage',
    summary: 'One image, with what its catalog found (filesystems, counts, warnings)',
    params: imagePathParams,
    success: { status: 200, schema: imageWithCatalogSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      const image = await deps.images.getImage(params.imageId);
      const catalog = await deps.catalog.catalogOfImage(image);
      return ok(catalog === undefined ? image : { ...image, catalog });
    },
  }),
  route({
    method: 'GET',
    path: '/images/{imageId}/files',
    operationId: 'listFiles',
    summary: 'A directory as it was in the image (default: the root)',
    params: imagePathParams,
    query: listFilesQuery,
    success: { status: 200, schema: pageSchema(directoryEntrySchema) },
    errorStatuses: [404],
    async serve(deps, { params, query }) {
      const image = await deps.images.getImage(params.imageId);
      const scope = queryScope('listFiles', { ...params, path: query.path, partition: query.partition });
      const pageToken = storeTokenOf(query, scope, deps.cursors);
      const page = await deps.catalog.listDirectory(image, query.path, query.partition, {
        limit: query.limit,
        ...(pageToken === undefined ? {} : { pageToken }),
      });
      return ok(pageOfStore(page, scope, deps.cursors));
    },
  }),
  route({
    method: 'GET',
    path: '/volumes/{volumeId}/files/versions',
    operationId: 'listFileVersions',
    summary: 'Every version of a path across the volume’s images, oldest first',
    params: volumePathParams,
    query: fileVersionsQuery,
    success: { status: 200, schema: pageSchema(fileVersionSchema) },
    errorStatuses: [404],
    async serve(deps, { params, query }) {
      const scope = queryScope('listFileVersions', {
        ...params,
        path: query.path,
        partition: query.partition,
      });
      const pageToken = storeTokenOf(query, scope, deps.cursors);
      const page = await deps.catalog.listVersions(params.volumeId, query.path, query.partition, {
        limit: query.limit,
        ...(pageToken === undefined ? {} : { pageToken }),
      });
      return ok(pageOfStore(page, scope, deps.cursors));
    },
  }),
  route({
    method: 'GET',
    path: '/volumes/{volumeId}/files/search',
    operationId: 'searchFiles',
    summary: 'Files with this exact name in any image of the volume',
    params: volumePathParams,
    query: searchFilesQuery,
    success: { status: 200, schema: pageSchema(foundFileSchema) },
    errorStatuses: [404],
    async serve(deps, { params, query }) {
      const scope = queryScope('searchFiles', { ...params, name: query.name });
      const pageToken = storeTokenOf(query, scope, deps.cursors);
      const page = await deps.catalog.findByName(params.volumeId, query.name, {
        limit: query.limit,
        ...(pageToken === undefined ? {} : { pageToken }),
      });
      return ok(pageOfStore(page, scope, deps.cursors));
    },
  }),
  route({
    method: 'GET',
    path: '/images/{imageId}/applications',
    operationId: 'listApplications',
    summary: 'Applications recorded in the image by the replication agent',
    params: imagePathParams,
    success: { status: 200, schema: z.object({ items: z.array(applicationSchema) }) },
    errorStatuses: [404],
    async serve(deps, { params }) {
      const image = await deps.images.getImage(params.imageId);
      return ok({ items: await deps.catalog.listApplications(image) });
    },
  }),
  route({
    method: 'POST',
    path: '/backups',
    operationId: 'startBackup',
    summary:
      'Start an on-demand backup of a volume, or of every volume of a server as one recovery point (409 when one is already running)',
    body: startBackupBody,
    success: { status: 202, schema: acceptedBackupSchema },
    errorStatuses: [404, 409],
    async serve(deps, { body, principal }) {
      const backupId = deps.ids.newId('bk');
      const trigger = `api:${principal ?? 'anonymous'}`;
      const backup =
        body.serverId !== undefined
          ? await recoveryPointsOf(deps).startServerBackup({
              backupId,
              serverId: body.serverId,
              full: body.full,
              trigger,
              ...(body.source === 'primary' ? { source: body.source } : {}),
            })
          : await deps.backups.start({
              backupId,
              volumeId: body.volumeId!,
              full: body.full,
              trigger,
              ...(body.source === 'primary' ? { source: body.source } : {}),
            });
      return {
        status: 202,
        body: { backupId: backup.backupId, status: backup.status },
        headers: { location: `/backups/${backup.backupId}` },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/backups/{backupId}',
    operationId: 'getBackup',
    summary: 'Status and progress of a backup',
    params: backupPathParams,
    success: { status: 200, schema: backupSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      return ok(await deps.backups.describe(params.backupId));
    },
  }),
  route({
    method: 'POST',
    path: '/restores',
    operationId: 'startRestore',
    summary:
      'Restore a file, a directory or an application to a download, or a whole volume to an EBS snapshot',
    body: startRestoreBody,
    success: { status: 202, schema: acceptedRestoreSchema },
    // 404: no such image, path or application; 400 also for a path of the wrong kind.
    errorStatuses: [404, 409],
    async serve(deps, { body }) {
      const image = await deps.images.getImage(body.imageId);
      if (body.kind !== 'volume') await deps.catalog.checkRestoreTarget(image, body);
      const restoreId = deps.ids.newId('rs');
      const restore = await deps.restores.start(restoreId, image, body);
      return {
        status: 202,
        body: { restoreId: restore.restoreId, status: restore.status },
        headers: { location: `/restores/${restore.restoreId}` },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/restores/{restoreId}',
    operationId: 'getRestore',
    summary: 'Status of a restore; when it succeeded, a presigned download URL or the new snapshot id',
    params: restorePathParams,
    success: { status: 200, schema: restoreSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      return ok(await deps.restores.get(params.restoreId));
    },
  }),
  ...LIFECYCLE_ROUTES,
  ...PLAN_ROUTES,
  ...RECOVERY_POINT_ROUTES,
  ...WORKFLOW_ROUTES,
  ...HISTORY_ROUTES,
  ...CANCEL_ROUTES,
  ...FILE_SEARCH_ROUTES,
];
