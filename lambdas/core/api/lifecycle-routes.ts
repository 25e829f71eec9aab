/**
 * Routes of the lifecycle operations (retention, image deletion), kept apart from routes.ts so
 * the lifecycle can grow without touching the read and restore routes. Served by ApiDeps.lifecycle.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { ApiDeps } from './api-ports.ts';
import {
  applyRetentionBody,
  deletedImageSchema,
  retentionResultSchema,
  type LifecycleApi,
} from './lifecycle-api.ts';
import type { Route, RouteInput } from './routes.ts';
import { imagePathParams } from './schemas.ts';

const noParams = z.object({}).strict();

function lifecycleOf(deps: ApiDeps): LifecycleApi {
  if (deps.lifecycle === undefined) {
    throw new ValidationError('lifecycle operations are not configured in this deployment', {});
  }
  return deps.lifecycle;
}

export const LIFECYCLE_ROUTES: readonly Route[] = [
  {
    method: 'POST',
    path: '/retention/apply',
    operationId: 'applyRetention',
    summary:
      'Applies retention rules (restic semantics) to the images of a server, volume or plan; every image with the reasons it is kept, or deleted; dryRun changes nothing',
    params: noParams,
    query: noParams,
    body: applyRetentionBody,
    success: { status: 200, schema: retentionResultSchema },
    errorStatuses: [404, 409],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const body = input.body as z.output<typeof applyRetentionBody>;
      return { status: 200, body: await lifecycleOf(deps).applyRetention(body) };
    },
  },
  {
    method: 'DELETE',
    path: '/images/{imageId}',
    operationId: 'deleteImage',
    summary:
      'Deletes one image (marked deleting, then its manifest, then its record); refused with the reason under legal hold or Object Lock',
    params: imagePathParams,
    query: noParams,
    body: undefined,
    success: { status: 200, schema: deletedImageSchema },
    errorStatuses: [404, 409],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const params = input.params as z.output<typeof imagePathParams>;
      return { status: 200, body: await lifecycleOf(deps).deleteImage(params.imageId) };
    },
  },
];
