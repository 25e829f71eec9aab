/**
 * Routes of recovery points and server restores (docs/recovery-points.md), kept apart from
 * routes.ts like the plan and lifecycle routes. Served by ApiDeps.recoveryPoints; a deployment
 * without it answers 400 saying recovery points are not configured. `POST /backups` with a
 * `serverId` is in routes.ts (it shares the backup route).
 */
import { z } from 'zod';
import { queryScope } from '../api/cursor.ts';
import { storePage } from '../api/pagination.ts';
import { route, type Route } from '../api/route-definition.ts';
import {
  acceptedRestoreSchema,
  catalogPathSchema,
  directoryEntrySchema,
  pageOnlyQuery,
  pageSchema,
  restoreIdSchema,
} from '../api/schemas.ts';
import { RESTORED_VOLUME_TYPES } from '../restore/volume-restore-jobs.ts';
import {
  VOLUME_INITIALIZATION_RATE_MAX_MIBPS,
  VOLUME_INITIALIZATION_RATE_MIN_MIBPS,
} from '../restore/restored-volumes.ts';
import {
  recoveryPointDetailSchema,
  recoveryPointsOf,
  recoveryPointViewSchema,
  serverRestoreSchema,
} from './recovery-point-service.ts';

/** Recovery point ids: `rp-` and a backup id. */
export const RECOVERY_POINT_ID_PATTERN = /^rp-[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;
/** Server ids: the alphabet of `rbp:source-server` values and of the deployment config's serverId. */
export const SERVER_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const recoveryPointIdSchema = z
  .string()
  .regex(RECOVERY_POINT_ID_PATTERN, 'must be a recovery point id (rp- and a backup id)')
  .describe('Recovery point id: the images of every volume of a server from one backup run');
export const serverIdSchema = z
  .string()
  .regex(SERVER_ID_PATTERN, 'must be a server id (1-128 of A-Z a-z 0-9 . _ : -)')
  .describe('Protected server id (the rbp:source-server tag of its replica volumes)');

const serverPathParams = z.object({ serverId: serverIdSchema }).strict();
const recoveryPointPathParams = z.object({ recoveryPointId: recoveryPointIdSchema }).strict();
const serverRestorePathParams = z.object({ restoreId: restoreIdSchema }).strict();
const recoveryPointFilesQuery = pageOnlyQuery.extend({
  path: catalogPathSchema
    .default('/')
    .describe('A path in the recovery point’s tree: /, /dev, a filesystem such as /dev/xvdb1, or below it'),
});
/** What an out-of-range volumeInitializationRate is told (EC2's range, restored-volumes.ts). */
const INITIALIZATION_RATE_RANGE = `must be between ${VOLUME_INITIALIZATION_RATE_MIN_MIBPS} and ${VOLUME_INITIALIZATION_RATE_MAX_MIBPS} MiB/s (EBS Provisioned Rate for Volume Initialization)`;

/** Availability Zone names: region, then a digit and a letter (us-east-1a, us-gov-west-1b, us-west-2-lax-1a). */
export const AVAILABILITY_ZONE_PATTERN = /^[a-z]{2}(-[a-z0-9]+)*-\d+[a-z]$/;

export const startServerRestoreBody = z
  .object({
    recoveryPointId: recoveryPointIdSchema,
    availabilityZone: z
      .string()
      .max(64)
      .regex(AVAILABILITY_ZONE_PATTERN, 'must be an Availability Zone name such as us-east-1a')
      .optional()
      .describe(
        'Also make a volume from each restored snapshot in this Availability Zone (one EC2 knows in this region)',
      ),
    volumeType: z
      .enum(RESTORED_VOLUME_TYPES)
      .optional()
      .describe('EBS type of the new volumes (default gp3); needs availabilityZone'),
    volumeInitializationRate: z
      .number()
      .int('must be a whole number of MiB/s')
      .min(VOLUME_INITIALIZATION_RATE_MIN_MIBPS, INITIALIZATION_RATE_RANGE)
      .max(VOLUME_INITIALIZATION_RATE_MAX_MIBPS, INITIALIZATION_RATE_RANGE)
      .optional()
      .describe(
        'EBS Provisioned Rate for Volume Initialization of the new volumes, MiB/s (100-300, an EBS charge of its own); needs availabilityZone; absent: the volumes load lazily from their snapshots',
      ),
  })
  .strict()
  .refine((b) => b.volumeType === undefined || b.availabilityZone !== undefined, {
    message: 'volumeType needs availabilityZone',
    path: ['volumeType'],
  })
  .refine((b) => b.volumeInitializationRate === undefined || b.availabilityZone !== undefined, {
    message:
      'volumeInitializationRate needs availabilityZone: it is the rate of the volumes made in that zone',
    path: ['volumeInitializationRate'],
  });

export const RECOVERY_POINT_ROUTES: readonly Route[] = [
  route('GET /servers/{serverId}/recovery-points', 'listRecoveryPoints', {
    summary: 'Recovery points of a server (every volume’s image from one backup run), newest first',
    params: serverPathParams,
    query: pageOnlyQuery,
    answer: pageSchema(recoveryPointViewSchema),
    errors: [404],
    serve: (deps, { params: { serverId }, query }) =>
      storePage(query, queryScope('listRecoveryPoints', { serverId }), deps.cursors, (page) =>
        recoveryPointsOf(deps).pageRecoveryPoints(serverId, { limit: page.limit, token: page.pageToken }),
      ),
  }),
  route('GET /recovery-points/{recoveryPointId}', 'getRecoveryPoint', {
    summary: 'A recovery point: every volume’s image and its filesystems under the device name',
    params: recoveryPointPathParams,
    answer: recoveryPointDetailSchema,
    errors: [404],
    serve: (deps, { params }) => recoveryPointsOf(deps).getRecoveryPoint(deps, params.recoveryPointId),
  }),
  route('GET /recovery-points/{recoveryPointId}/files', 'listRecoveryPointFiles', {
    summary: 'A directory of a recovery point, every filesystem under its device name (/dev/xvdb1/...)',
    params: recoveryPointPathParams,
    query: recoveryPointFilesQuery,
    answer: pageSchema(directoryEntrySchema),
    errors: [404],
    serve(deps, { params: { recoveryPointId }, query }) {
      const scope = queryScope('listRecoveryPointFiles', { recoveryPointId, path: query.path });
      return storePage(query, scope, deps.cursors, (page) =>
        recoveryPointsOf(deps).listFiles(deps, recoveryPointId, query.path, page),
      );
    },
  }),
  route('POST /server-restores', 'startServerRestore', {
    summary:
      'Restore every volume of a recovery point to a new EBS snapshot (one volume restore each), and with availabilityZone to a new volume there',
    body: startServerRestoreBody,
    answer: acceptedRestoreSchema,
    errors: [404, 409],
    async serve(deps, { body }) {
      const restoreId = deps.ids.newId('rs');
      const restore = await recoveryPointsOf(deps).startServerRestore(deps, restoreId, body.recoveryPointId, {
        ...(body.availabilityZone === undefined ? {} : { availabilityZone: body.availabilityZone }),
        ...(body.volumeType === undefined ? {} : { volumeType: body.volumeType }),
        ...(body.volumeInitializationRate === undefined
          ? {}
          : { volumeInitializationRate: body.volumeInitializationRate }),
      });
      return { restoreId: restore.restoreId, status: restore.status };
    },
    accepted: (restore) => `/server-restores/${restore.restoreId}`,
  }),
  route('GET /server-restores/{restoreId}', 'getServerRestore', {
    summary: 'A server restore: each volume’s device, image and (once restored) new snapshot',
    params: serverRestorePathParams,
    answer: serverRestoreSchema,
    errors: [404],
    serve: (deps, { params }) => recoveryPointsOf(deps).getServerRestore(deps, params.restoreId),
  }),
];
