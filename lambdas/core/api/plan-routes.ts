/**
 * Routes of protection plans, servers and the global settings (docs/plans.md), kept apart from
 * routes.ts like the lifecycle routes. Served by ApiDeps.plans; a deployment without it answers
 * 400 saying plans are not configured.
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { plansSelecting } from '../plans/expansion.ts';
import {
  acceptedPlanRunSchema,
  planRunViewOf,
  planRunViewSchema,
  planViewOf,
  planViewSchema,
  serverViewSchema,
  withLastRecoveryPoints,
  withServerRpo,
  type ServerListItem,
} from '../plans/plan-api.ts';
import type { PlanRun } from '../plans/plan-run.ts';
import { startPlanRun, type PlanRunExecutions, type PlanRunStore } from '../plans/run-service.ts';
import type { ServerDirectory, SettingsStore } from '../plans/plan-ports.ts';
import type { ServerView } from '../plans/servers.ts';
import { createPlan, deletePlan, updatePlan, type PlanServicePorts } from '../plans/plan-service.ts';
import { applySettingsUpdate, planSettingsSchema, settingsUpdateSchema } from '../plans/settings.ts';
import type { ApiDeps, PageRequest, StorePage } from './api-ports.ts';
import { queryScope } from './cursor.ts';
import { pageOfList, pageOfNamedRecords, storePage, type Page } from './pagination.ts';
import { pageServers, type ReplicaVolumePages } from './server-pages.ts';
import { configured, route, type Route } from './route-definition.ts';
import { pageOnlyQuery, pageSchema } from './schemas.ts';

/** The run store as the routes read it: by id, and a plan's runs newest first. */
export interface PlanRunReader extends PlanRunStore {
  listForPlan(plan: string): Promise<readonly PlanRun[]>;
  /**
   * One page of the plan's runs, newest first, read as a page from the store (the token is the
   * store's). A store without it (the in-memory fakes) is listed and paged in memory.
   */
  pageForPlan?(plan: string, page: PageRequest): Promise<StorePage<PlanRun>>;
}

/** What the plan routes work over. */
export interface PlanApiDeps extends PlanServicePorts {
  readonly settings: SettingsStore;
  readonly servers: ServerDirectory;
  readonly runs: PlanRunReader;
  /** Starts the plan-run state machine. */
  readonly executions: PlanRunExecutions;
  /** Random hex of run ids. */
  readonly randomHex: () => string;
  readonly clock: Clock;
  /**
   * The replica volumes a page at a time: `GET /servers` then reads one page of servers from them
   * (server-pages.ts). Absent: the list of every server (`servers.list()`), paged in memory.
   */
  readonly serverPages?: ReplicaVolumePages;
}

const planPathParams = z.strictObject({ name: z.string().min(1).max(200) });
const runPathParams = z.strictObject({ runId: z.string().min(1).max(200) });
/** `POST /plans/{name}/runs` takes no options: an empty object (or no body). */
const startRunBody = z.strictObject({}).optional();
/** A plan document: validated by parsePlanDocument, whose DocumentValidationError lists every problem. */
const planBody = z.unknown();

const plansOf = (deps: ApiDeps): PlanApiDeps => configured(deps.plans, 'protection plans');

export const PLAN_ROUTES: readonly Route[] = [
  route('POST /plans', 'createPlan', {
    summary:
      'Creates a protection plan and its schedules; a duplicate name is 409, a bad plan 400 listing every problem',
    body: planBody,
    answer: planViewSchema,
    errors: [409],
    serve: async (deps, { body }) => planViewOf(await createPlan(plansOf(deps), body)),
  }),
  route('GET /plans', 'listPlans', {
    summary: 'Protection plans, by name',
    query: pageOnlyQuery,
    answer: pageSchema(planViewSchema),
    async serve(deps, { query }) {
      return storePage(query, queryScope('listPlans', {}), deps.cursors, async (request) => {
        const page = await pageOfNamedRecords(plansOf(deps).store, request);
        return { ...page, items: page.items.map(planViewOf) };
      });
    },
  }),
  route('GET /plans/{name}', 'getPlan', {
    summary: 'One protection plan',
    params: planPathParams,
    answer: planViewSchema,
    errors: [404],
    async serve(deps, { params: { name } }) {
      const record = await plansOf(deps).store.get(name);
      if (record === undefined) {
        throw new NotFoundError(`plan ${name} does not exist`, { context: { plan: name } });
      }
      return planViewOf(record);
    },
  }),
  route('PUT /plans/{name}', 'updatePlan', {
    summary: 'Replaces a plan document (the name cannot change) and reconciles its schedules',
    params: planPathParams,
    body: planBody,
    answer: planViewSchema,
    errors: [404, 409],
    serve: async (deps, { params, body }) => planViewOf(await updatePlan(plansOf(deps), params.name, body)),
  }),
  route('DELETE /plans/{name}', 'deletePlan', {
    summary: 'Deletes a plan: its schedules first, then its record',
    params: planPathParams,
    answer: z.strictObject({ name: z.string(), deleted: z.literal(true) }),
    errors: [404, 409],
    async serve(deps, { params: { name } }) {
      await deletePlan(plansOf(deps), name);
      return { name, deleted: true };
    },
  }),
  route('POST /plans/{name}/runs', 'startPlanRun', {
    summary:
      'Runs a plan now (also a disabled one): the run record, then an execution of the plan-run state machine',
    params: planPathParams,
    body: startRunBody,
    answer: acceptedPlanRunSchema,
    errors: [404, 409],
    async serve(deps, { params: { name }, principal }) {
      const plans = plansOf(deps);
      const step = await startPlanRun(
        {
          plans: plans.store,
          runs: plans.runs,
          executions: plans.executions,
          clock: plans.clock,
          randomHex: plans.randomHex,
        },
        { plan: name, trigger: `api:${principal ?? 'anonymous'}` },
      );
      return { runId: step.runId, plan: name, status: step.status };
    },
    accepted: (run) => `/plan-runs/${run.runId}`,
  }),
  route('GET /plans/{name}/runs', 'listPlanRuns', {
    summary: "A plan's runs, newest first (also after the plan was deleted)",
    params: planPathParams,
    query: pageOnlyQuery,
    answer: pageSchema(planRunViewSchema),
    async serve(deps, { params: { name }, query }) {
      const runs = plansOf(deps).runs;
      const scope = queryScope('listPlanRuns', { plan: name });
      if (runs.pageForPlan === undefined) {
        return pageOfList((await runs.listForPlan(name)).map(planRunViewOf), query, scope, deps.cursors);
      }
      return storePage(query, scope, deps.cursors, async (request) => {
        const page = await runs.pageForPlan!(name, request);
        return { ...page, items: page.items.map(planRunViewOf) };
      });
    },
  }),
  route('GET /plan-runs/{runId}', 'getPlanRun', {
    summary: 'One plan run with every task in creation order',
    params: runPathParams,
    answer: planRunViewSchema,
    errors: [404],
    async serve(deps, { params: { runId } }) {
      const run = await plansOf(deps).runs.get(runId);
      if (run === undefined) {
        throw new NotFoundError(`plan run ${runId} does not exist`, { context: { runId } });
      }
      return planRunViewOf(run);
    },
  }),
  route('GET /servers', 'listServers', {
    summary:
      'Protected servers (replica volumes grouped by rbp:source-server), the newest live recovery point of each, and the plans that select each',
    query: pageOnlyQuery,
    answer: pageSchema(serverViewSchema),
    async serve(deps, { query }) {
      const plans = plansOf(deps);
      // Every plan is read for each page, not paged: which plans select a server is known only by
      // matching each plan's selections (server-name patterns with * and ?, or tags) against it, so
      // no key finds the plans of a server. The cost is one Query per 1 MB of plan records,
      // whatever the number of servers and the history; it grows with the number of plans, which
      // operators write by hand, and no cap on that number is enforced.
      const records = await plans.store.list();
      const documents = records.map((r) => r.document);
      const itemOf = (server: ServerView): ServerListItem => ({
        name: server.name,
        replication: server.replication,
        ...(server.lagSeconds === undefined ? {} : { lagSeconds: server.lagSeconds }),
        volumes: server.volumes.map((v) => ({ volumeId: v.volumeId })),
        applications: [...server.applications],
        hasPrimary: server.hasPrimary,
        ...(server.state === undefined ? {} : { state: server.state }),
        plans: plansSelecting(server, documents),
      });
      const scope = queryScope('listServers', {});
      const serverPages = plans.serverPages;
      const page: Page<ServerListItem> =
        serverPages === undefined
          ? pageOfList((await plans.servers.list()).map(itemOf), query, scope, deps.cursors)
          : await storePage(query, scope, deps.cursors, async (request) => {
              const found = await pageServers(serverPages, request);
              return { ...found, items: found.items.map(itemOf) };
            });
      // Only the page's servers: one Query each for its newest point, whatever the history. The
      // RPO follows from that point and the plans already read: no further request.
      const newest = await deps.recoveryPoints?.newestPoints(page.items.map((s) => s.name));
      if (newest === undefined) return page;
      return {
        ...page,
        items: withServerRpo(withLastRecoveryPoints(page.items, newest), records, plans.clock.now()),
      };
    },
  }),
  route('GET /settings', 'getSettings', {
    summary: 'The global settings: backups enabled, the stored-bytes ceiling',
    answer: planSettingsSchema,
    serve: (deps) => plansOf(deps).settings.read(),
  }),
  route('PUT /settings', 'updateSettings', {
    summary: 'Changes the global settings ({backupsEnabled?, storedBytesCeiling? (null removes it)})',
    body: settingsUpdateSchema,
    answer: planSettingsSchema,
    async serve(deps, { body }) {
      const plans = plansOf(deps);
      const settings = applySettingsUpdate(await plans.settings.read(), body, plans.clock.now());
      await plans.settings.write(settings);
      return settings;
    },
  }),
];
