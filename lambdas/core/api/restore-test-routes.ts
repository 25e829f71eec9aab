/**
 * Routes of restore tests (lambdas/core/lifecycle/restore-test.ts): `POST /restore-tests/runs`
 * starts one on the lifecycle job Lambda, `GET /restore-tests/runs/{runId}` reads it. Served by
 * ApiDeps.lifecycle, like the collection and scrub runs.
 */
import { z } from 'zod';
import { restoreTestRunSchema, startRestoreTestBody } from '../lifecycle/lifecycle-jobs.ts';
import type { ApiDeps } from './api-ports.ts';
import type { LifecycleApi } from './lifecycle-api.ts';
import { configured, route, type Route } from './route-definition.ts';

const restoreTestRunParams = z.object({ runId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict();
const lifecycleOf = (deps: ApiDeps): LifecycleApi => configured(deps.lifecycle, 'restore tests');

export const RESTORE_TEST_ROUTES: readonly Route[] = [
  route('POST /restore-tests/runs', 'startRestoreTest', {
    summary:
      "Starts a restore test: the newest recovery point of every server (or of `server`), a seeded sample of `files` files restored and compared with the catalog's sizes, and with wholeVolume every chunk read back",
    body: startRestoreTestBody,
    answer: restoreTestRunSchema,
    accepted: true,
    serve: (deps, { body }) => lifecycleOf(deps).startRestoreTest(body),
  }),
  route('GET /restore-tests/runs/{runId}', 'getRestoreTest', {
    summary:
      'A restore test run: status, and per server the image tested, files and bytes checked, duration, Passed or Failed with the reasons',
    params: restoreTestRunParams,
    answer: restoreTestRunSchema,
    errors: [404],
    serve: (deps, { params }) => lifecycleOf(deps).getRestoreTest(params.runId),
  }),
];
