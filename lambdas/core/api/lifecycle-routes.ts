/**
 * Routes of the lifecycle operations (retention and stored rules, image deletion, collection,
 * scrub, cost), kept apart from routes.ts so
 * the lifecycle can grow without touching the read and restore routes. Served by ApiDeps.lifecycle.
 */
import { z } from 'zod';
import type { ApiDeps } from './api-ports.ts';
import {
  applyRetentionBody,
  deletedImageSchema,
  legalHoldBody,
  legalHoldSchema,
  retentionResultSchema,
  storedRetentionSchema,
  type LifecycleApi,
} from './lifecycle-api.ts';
import { retentionServerIdSchema } from '../lifecycle/retention-apply.ts';
import { retentionRulesSchema } from '../lifecycle/retention.ts';
import { configured, route, type Route } from './route-definition.ts';
import { imagePathParams } from './schemas.ts';
import { costReportSchema } from '../lifecycle/cost.ts';
import {
  expiryRunSchema,
  gcRunSchema,
  scrubRunSchema,
  startGcBody,
  startScrubBody,
} from '../lifecycle/lifecycle-jobs.ts';

const costQuery = z.object({ server: z.string().min(1).max(256).optional() }).strict();
const serverRetentionParams = z.object({ serverId: retentionServerIdSchema }).strict();
const serverRetentionBody = z.object({ rules: retentionRulesSchema }).strict();
/** The path of one lifecycle job run (collection, scrub or restore test). */
export const runPathParams = z.object({ runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict();

/** The lifecycle service, or the 400 of a deployment without it, naming what was asked for. */
export const lifecycleOf = (deps: ApiDeps, asked = 'lifecycle operations'): LifecycleApi =>
  configured(deps.lifecycle, asked);

export const LIFECYCLE_ROUTES: readonly Route[] = [
  route('POST /retention/apply', 'applyRetention', {
    summary:
      'Applies retention rules (restic semantics) to the images of a server, volume or plan; every image with the reasons it is kept, or deleted; dryRun changes nothing',
    body: applyRetentionBody,
    answer: retentionResultSchema,
    errors: [404, 409],
    serve: (deps, { body }) => lifecycleOf(deps).applyRetention(body),
  }),
  route('GET /retention/runs/{runId}', 'getExpiry', {
    summary:
      'The expiry that followed a plan run (run id `expire-<planRunId>`): status, and per server the rules used, the images kept, deleted and not deleted with the reason',
    params: runPathParams,
    answer: expiryRunSchema,
    errors: [404],
    serve: (deps, { params }) => lifecycleOf(deps).getExpiry(params.runId),
  }),
  route('GET /servers/{serverId}/retention', 'getServerRetention', {
    summary:
      "A server's stored default retention rules (used by `rbp retention apply --server/--volume` without rules and by the expiry after a plan run whose plan has none)",
    params: serverRetentionParams,
    answer: storedRetentionSchema,
    errors: [404],
    serve: (deps, { params }) => lifecycleOf(deps).getServerRetention(params.serverId),
  }),
  route('PUT /servers/{serverId}/retention', 'putServerRetention', {
    summary: "Stores (replaces) a server's default retention rules; at least one keep rule",
    params: serverRetentionParams,
    body: serverRetentionBody,
    answer: storedRetentionSchema,
    serve: (deps, { params, body }) => lifecycleOf(deps).putServerRetention(params.serverId, body.rules),
  }),
  route('DELETE /images/{imageId}', 'deleteImage', {
    summary:
      'Deletes one image (marked deleting, then its manifest, then its record); refused with the reason under legal hold or Object Lock',
    params: imagePathParams,
    answer: deletedImageSchema,
    errors: [404, 409],
    serve: (deps, { params }) => lifecycleOf(deps).deleteImage(params.imageId),
  }),
  route('PUT /images/{imageId}/legal-hold', 'setLegalHold', {
    summary:
      'Sets (legalHold: true, with an optional reason) or lifts (false) the legal hold of one image; a held image is never deleted by retention, expiry or DELETE. Idempotent; 409 once its deletion has begun',
    params: imagePathParams,
    body: legalHoldBody,
    answer: legalHoldSchema,
    errors: [404, 409],
    serve: (deps, { params, body, principal }) =>
      lifecycleOf(deps).setLegalHold(params.imageId, body, principal ?? 'anonymous'),
  }),
  route('GET /reports/cost', 'costReport', {
    summary:
      "Cost report per server and in total: logical and stored bytes, dedup and compression ratios, the last backup's requests, a monthly estimate and the same retention as EBS snapshots",
    query: costQuery,
    answer: costReportSchema,
    errors: [404],
    serve: (deps, { query }) => lifecycleOf(deps).costReport(query.server),
  }),
  route('POST /gc/runs', 'startGarbageCollection', {
    summary:
      'Starts a garbage collection of unreferenced chunks, segments and manifests (or resumes the one holding the fence); dryRun deletes nothing',
    body: startGcBody,
    answer: gcRunSchema,
    errors: [409],
    serve: (deps, { body }) => lifecycleOf(deps).startGc(body),
    accepted: true,
  }),
  route('GET /gc/runs/{runId}', 'getGarbageCollection', {
    summary: 'A garbage collection run: status, phase and counters (chunks live and deleted, bytes freed, …)',
    params: runPathParams,
    answer: gcRunSchema,
    errors: [404],
    serve: (deps, { params }) => lifecycleOf(deps).getGc(params.runId),
  }),
  route('POST /scrub/runs', 'startScrub', {
    summary:
      "Starts a scrub: reads chunks back and checks them, and checks that every manifest's segments and chunks exist (today's rolling share, or all)",
    body: startScrubBody,
    answer: scrubRunSchema,
    serve: (deps, { body }) => lifecycleOf(deps).startScrub(body),
    accepted: true,
  }),
  route('GET /scrub/runs/{runId}', 'getScrub', {
    summary:
      'A scrub run: status, chunks verified, and the corrupt and missing objects with the images they break',
    params: runPathParams,
    answer: scrubRunSchema,
    errors: [404],
    serve: (deps, { params }) => lifecycleOf(deps).getScrub(params.runId),
  }),
];
