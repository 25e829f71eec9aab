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
import { costReportSchema } from '../lifecycle/cost.ts';
import { gcRunSchema, scrubRunSchema, startGcBody, startScrubBody } from '../lifecycle/lifecycle-jobs.ts';

const noParams = z.object({}).strict();
const costQuery = z.object({ server: z.string().min(1).max(256).optional() }).strict();
const runPathParams = z.object({ runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict();

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
  {
    method: 'GET',
    path: '/reports/cost',
    operationId: 'costReport',
    summary:
      "Cost report per server and in total: logical and stored bytes, dedup and compression ratios, the last backup's requests, a monthly estimate and the same retention as EBS snapshots",
    params: noParams,
    query: costQuery,
    body: undefined,
    success: { status: 200, schema: costReportSchema },
    errorStatuses: [404],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const query = input.query as z.output<typeof costQuery>;
      return { status: 200, body: await lifecycleOf(deps).costReport(query.server) };
    },
  },
  {
    method: 'POST',
    path: '/gc/runs',
    operationId: 'startGarbageCollection',
    summary:
      'Starts a garbage collection of unreferenced chunks, segments and manifests (or resumes the one holding the fence); dryRun deletes nothing',
    params: noParams,
    query: noParams,
    body: startGcBody,
    success: { status: 202, schema: gcRunSchema },
    errorStatuses: [409],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const body = input.body as z.output<typeof startGcBody>;
      return { status: 202, body: await lifecycleOf(deps).startGc(body) };
    },
  },
  {
    method: 'GET',
    path: '/gc/runs/{runId}',
    operationId: 'getGarbageCollection',
    summary: 'A garbage collection run: status, phase and counters (chunks live and deleted, bytes freed, …)',
    params: runPathParams,
    query: noParams,
    body: undefined,
    success: { status: 200, schema: gcRunSchema },
    errorStatuses: [404],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const params = input.params as z.output<typeof runPathParams>;
      return { status: 200, body: await lifecycleOf(deps).getGc(params.runId) };
    },
  },
  {
    method: 'POST',
    path: '/scrub/runs',
    operationId: 'startScrub',
    summary:
      "Starts a scrub: reads chunks back and checks them, and checks that every manifest's segments and chunks exist (today's rolling share, or all)",
    params: noParams,
    query: noParams,
    body: startScrubBody,
    success: { status: 202, schema: scrubRunSchema },
    errorStatuses: [],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const body = input.body as z.output<typeof startScrubBody>;
      return { status: 202, body: await lifecycleOf(deps).startScrub(body) };
    },
  },
  {
    method: 'GET',
    path: '/scrub/runs/{runId}',
    operationId: 'getScrub',
    summary:
      'A scrub run: status, chunks verified, and the corrupt and missing objects with the images they break',
    params: runPathParams,
    query: noParams,
    body: undefined,
    success: { status: 200, schema: scrubRunSchema },
    errorStatuses: [404],
    async serve(deps, input: RouteInput<unknown, unknown, unknown>) {
      const params = input.params as z.output<typeof runPathParams>;
      return { status: 200, body: await lifecycleOf(deps).getScrub(params.runId) };
    },
  },
];
