/**
 * Routes of restore tests (lambdas/core/lifecycle/restore-test.ts): `POST /restore-tests/runs`
 * starts one on the lifecycle job Lambda, `GET /restore-tests/runs/{runId}` reads it. Served by
 * ApiDeps.lifecycle, like the collection and scrub runs.
 */
import { restoreTestRunSchema, startRestoreTestBody } from '../lifecycle/lifecycle-jobs.ts';
import { lifecycleOf, runPathParams } from './lifecycle-routes.ts';
import { route, type Route } from './route-definition.ts';

export const RESTORE_TEST_ROUTES: readonly Route[] = [
  route('POST /restore-tests/runs', 'startRestoreTest', {
    summary:
      "Starts a restore test: the newest recovery point of every server (or of `server`), a seeded sample of `files` files restored and compared with the catalog's sizes, and with wholeVolume every chunk read back",
    body: startRestoreTestBody,
    answer: restoreTestRunSchema,
    accepted: true,
    serve: (deps, { body }) => lifecycleOf(deps, 'restore tests').startRestoreTest(body),
  }),
  route('GET /restore-tests/runs/{runId}', 'getRestoreTest', {
    summary:
      'A restore test run: status, and per server the image tested, files and bytes checked, duration, Passed or Failed with the reasons',
    params: runPathParams,
    answer: restoreTestRunSchema,
    errors: [404],
    serve: (deps, { params }) => lifecycleOf(deps, 'restore tests').getRestoreTest(params.runId),
  }),
];
