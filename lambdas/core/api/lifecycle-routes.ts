/**
 * Routes of the lifecycle operations (retention and stored rules, image deletion, collection,
 * scrub, cost), kept apart from routes.ts so
 * the lifecycle can grow without touching the read and restore routes. Served by ApiDeps.lifecycle.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { ApiDeps } from './api-ports.ts';
import {
  applyRetentionBody,
  deletedImageSchema,
  retentionResultSchema,
  storedRetentionSchema,
  type LifecycleApi,
} from './lifecycle-api.ts';
import { retentionServerIdSchema } from '../lifecycle/retention-apply.ts';
import { retentionRulesSchema } from '../lifecycle/retention.ts';
import { route, type Route } from './route-definition.ts';
import { imagePathParams } from './schemas.ts';
import { costReportSchema } from '../lifecycle/cost.ts';
import { gcRunSchema, scrubRunSchema, startGcBody, startScrubBody } from '../lifecycle/lifecycle-jobs.ts';

const costQuery = z.object({ server: z.string().min(1).max(256).optional() }).strict();
const serverRetentionParams = z.object({ serverId: retentionServerIdSchema }).strict();
const serverRetentionBody = z.object({ rules: retentionRulesSchema }).strict();
const runPathParams = z.object({ runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict();

function lifecycleOf(deps: ApiDeps): LifecycleApi {
  if (deps.lifecycle === undefined) {
    throw new ValidationError('lifecycle operations are not configured in this deployment', {});
  }
  return deps.lifecycle;
}

export const LIFECYCLE_ROUTES: readonly Route[] = [
  route({
    method: 'POST',
    path: '/retention/apply',
    operationId: 'applyRetention',
    summary:
      'Applies retention rules (restic semantics) to the images of a server, volume or plan; every image with the reasons it is kept, or deleted; dryRun changes nothing',
    body: applyRetentionBody,
    success: { status: 200, schema: retentionResultSchema },
    errorStatuses: [404, 409],
    async serve(deps, { body }) {
      return { status: 200, body: await lifecycleOf(deps).applyRetention(body) };
    },
  }),
  route({
    method: 'GET',
    path: '/servers/{serverId}/retention',
    operationId: 'getServerRetention',
    summary:
      "A server's stored default retention rules (used by `rbp retention apply --server/--volume` without rules and by the expiry after a plan run whose plan has none)",
    params: serverRetentionParams,
    success: { status: 200, schema: storedRetentionSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      return { status: 200, body: await lifecycleOf(deps).getServerRetention(params.serverId) };
    },
  }),
  route({
    method: 'PUT',
    path: '/servers/{serverId}/retention',
    operationId: 'putServerRetention',
    summary: "Stores (replaces) a server's default retention rules; at least one keep rule",
    params: serverRetentionParams,
    body: serverRetentionBody,
    success: { status: 200, schema: storedRetentionSchema },
    async serve(deps, { params, body }) {
      return { status: 200, body: await lifecycleOf(deps).putServerRetention(params.serverId, body.rules) };
    },
  }),
  route({
    method: 'DELETE',
    path: '/images/{imageId}',
    operationId: 'deleteImage',
    summary:
      'Deletes one image (marked deleting, then its manifest, then its record); refused with the reason under legal hold or Object Lock',
    params: imagePathParams,
    success: { status: 200, schema: deletedImageSchema },
    errorStatuses: [404, 409],
    async serve(deps, { params }) {
      return { status: 200, body: await lifecycleOf(deps).deleteImage(params.imageId) };
    },
  }),
  route({
    method: 'GET',
    path: '/reports/cost',
    operationId: 'costReport',
    summary:
      "Cost report per server and in total: logical and stored bytes, dedup and compression ratios, the last backup's requests, a monthly estimate and the same retention as EBS snapshots",
    query: costQuery,
    success: { status: 200, schema: costReportSchema },
    errorStatuses: [404],
    async serve(deps, { query }) {
      return { status: 200, body: await lifecycleOf(deps).costReport(query.server) };
    },
  }),
  route({
    method: 'POST',
    path: '/gc/runs',
    operationId: 'startGarbageCollection',
    summary:
      'Starts a garbage collection of unreferenced chunks, segments and manifests (or resumes the one holding the fence); dryRun deletes nothing',
    body: startGcBody,
    success: { status: 202, schema: gcRunSchema },
    errorStatuses: [409],
    async serve(deps, { body }) {
      return { status: 202, body: await lifecycleOf(deps).startGc(body) };
    },
  }),
  route({
    method: 'GET',
    path: '/gc/runs/{runId}',
    operationId: 'getGarbageCollection',
    summary: 'A garbage collection run: status, phase and counters (chunks live and deleted, bytes freed, …)',
    params: runPathParams,
    success: { status: 200, schema: gcRunSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      return { status: 200, body: await lifecycleOf(deps).getGc(params.runId) };
    },
  }),
  route({
    method: 'POST',
    path: '/scrub/runs',
    operationId: 'startScrub',
    summary:
      "Starts a scrub: reads chunks back and checks them, and checks that every manifest's segments and chunks exist (today's rolling share, or all)",
    body: startScrubBody,
    success: { status: 202, schema: scrubRunSchema },
    async serve(deps, { body }) {
      return { status: 202, body: await lifecycleOf(deps).startScrub(body) };
    },
  }),
  route({
    method: 'GET',
    path: '/scrub/runs/{runId}',
    operationId: 'getScrub',
    summary:
      'A scrub run: status, chunks verified, and the corrupt and missing objects with the images they break',
    params: runPathParams,
    success: { status: 200, schema: scrubRunSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      return { status: 200, body: await lifecycleOf(deps).getScrub(params.runId) };
    },
  }),
];
