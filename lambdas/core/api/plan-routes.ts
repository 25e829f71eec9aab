/**
 * Routes of protection plans, servers and the global settings (docs/plans.md), kept apart from
 * routes.ts like the lifecycle routes. Served by ApiDeps.plans; a deployment without it answers
 * 400 saying plans are not configured.
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { plansSelecting } from '../plans/expansion.ts';
import {
  acceptedPlanRunSchema,
  planRunViewOf,
  planRunViewSchema,
  planViewOf,
  planViewSchema,
  serverViewSchema,
  type ServerListItem,
} from '../plans/plan-api.ts';
import type { PlanRun } from '../plans/plan-run.ts';
import { startPlanRun, type PlanRunExecutions, type PlanRunStore } from '../plans/run-service.ts';
import type { ServerDirectory, SettingsStore } from '../plans/plan-ports.ts';
import { createPlan, deletePlan, updatePlan, type PlanServicePorts } from '../plans/plan-service.ts';
import { applySettingsUpdate, planSettingsSchema, settingsUpdateSchema } from '../plans/settings.ts';
import type { ApiDeps } from './api-ports.ts';
import { queryScope } from './cursor.ts';
import { pageOfList } from './pagination.ts';
import { route, type Route } from './route-definition.ts';
import { pageOnlyQuery, pageSchema } from './schemas.ts';

/** The run store as the routes read it: by id, and a plan's runs newest first. */
export interface PlanRunReader extends PlanRunStore {
  listForPlan(plan: string): Promise<readonly PlanRun[]>;
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
}

const planPathParams = z.strictObject({ name: z.string().min(1).max(200) });
const runPathParams = z.strictObject({ runId: z.string().min(1).max(200) });
/** `POST /plans/{name}/runs` takes no options: an empty object (or no body). */
const startRunBody = z.strictObject({}).optional();
/** A plan document: validated by parsePlanDocument, whose DocumentValidationError lists every problem. */
const planBody = z.unknown();

function plansOf(deps: ApiDeps): PlanApiDeps {
  if (deps.plans === undefined) {
    throw new ValidationError('protection plans are not configured in this deployment', {});
  }
  return deps.plans;
}

export const PLAN_ROUTES: readonly Route[] = [
  route({
    method: 'POST',
    path: '/plans',
    operationId: 'createPlan',
    summary:
      'Creates a protection plan and its schedules; a duplicate name is 409, a bad plan 400 listing every problem',
    body: planBody,
    success: { status: 200, schema: planViewSchema },
    errorStatuses: [409],
    async serve(deps, input) {
      const record = await createPlan(plansOf(deps), input.body);
      return { status: 200, body: planViewOf(record) };
    },
  }),
  route({
    method: 'GET',
    path: '/plans',
    operationId: 'listPlans',
    summary: 'Protection plans, by name',
    query: pageOnlyQuery,
    success: { status: 200, schema: pageSchema(planViewSchema) },
    async serve(deps, input) {
      const query = input.query;
      const views = (await plansOf(deps).store.list()).map(planViewOf);
      return { status: 200, body: pageOfList(views, query, queryScope('listPlans', {}), deps.cursors) };
    },
  }),
  route({
    method: 'GET',
    path: '/plans/{name}',
    operationId: 'getPlan',
    summary: 'One protection plan',
    params: planPathParams,
    success: { status: 200, schema: planViewSchema },
    errorStatuses: [404],
    async serve(deps, input) {
      const { name } = input.params;
      const record = await plansOf(deps).store.get(name);
      if (record === undefined) {
        throw new NotFoundError(`plan ${name} does not exist`, {
          context: { plan: name },
        });
      }
      return { status: 200, body: planViewOf(record) };
    },
  }),
  route({
    method: 'PUT',
    path: '/plans/{name}',
    operationId: 'updatePlan',
    summary: 'Replaces a plan document (the name cannot change) and reconciles its schedules',
    params: planPathParams,
    body: planBody,
    success: { status: 200, schema: planViewSchema },
    errorStatuses: [404, 409],
    async serve(deps, input) {
      const { name } = input.params;
      const record = await updatePlan(plansOf(deps), name, input.body);
      return { status: 200, body: planViewOf(record) };
    },
  }),
  route({
    method: 'DELETE',
    path: '/plans/{name}',
    operationId: 'deletePlan',
    summary: 'Deletes a plan: its schedules first, then its record',
    params: planPathParams,
    success: { status: 200, schema: z.strictObject({ name: z.string(), deleted: z.literal(true) }) },
    errorStatuses: [404, 409],
    async serve(deps, input) {
      const { name } = input.params;
      await deletePlan(plansOf(deps), name);
      return { status: 200, body: { name, deleted: true } };
    },
  }),
  route({
    method: 'POST',
    path: '/plans/{name}/runs',
    operationId: 'startPlanRun',
    summary:
      'Runs a plan now (also a disabled one): the run record, then an execution of the plan-run state machine',
    params: planPathParams,
    body: startRunBody,
    success: { status: 202, schema: acceptedPlanRunSchema },
    errorStatuses: [404, 409],
    async serve(deps, input) {
      const { name } = input.params;
      const plans = plansOf(deps);
      const step = await startPlanRun(
        {
          plans: plans.store,
          runs: plans.runs,
          executions: plans.executions,
          clock: plans.clock,
          randomHex: plans.randomHex,
        },
        { plan: name, trigger: `api:${input.principal ?? 'anonymous'}` },
      );
      return {
        status: 202,
        body: { runId: step.runId, plan: name, status: step.status },
        headers: { location: `/plan-runs/${step.runId}` },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/plans/{name}/runs',
    operationId: 'listPlanRuns',
    summary: "A plan's runs, newest first (also after the plan was deleted)",
    params: planPathParams,
    query: pageOnlyQuery,
    success: { status: 200, schema: pageSchema(planRunViewSchema) },
    async serve(deps, input) {
      const { name } = input.params;
      const query = input.query;
      const views = (await plansOf(deps).runs.listForPlan(name)).map(planRunViewOf);
      return {
        status: 200,
        body: pageOfList(views, query, queryScope('listPlanRuns', { plan: name }), deps.cursors),
      };
    },
  }),
  route({
    method: 'GET',
    path: '/plan-runs/{runId}',
    operationId: 'getPlanRun',
    summary: 'One plan run with every task in creation order',
    params: runPathParams,
    success: { status: 200, schema: planRunViewSchema },
    errorStatuses: [404],
    async serve(deps, input) {
      const { runId } = input.params;
      const run = await plansOf(deps).runs.get(runId);
      if (run === undefined) {
        throw new NotFoundError(`plan run ${runId} does not exist`, { context: { runId } });
      }
      return { status: 200, body: planRunViewOf(run) };
    },
  }),
  route({
    method: 'GET',
    path: '/servers',
    operationId: 'listServers',
    summary:
      'Protected servers (replica volumes grouped by rbp:source-server) and the plans that select each',
    query: pageOnlyQuery,
    success: { status: 200, schema: pageSchema(serverViewSchema) },
    async serve(deps, input) {
      const query = input.query;
      const plans = plansOf(deps);
      const documents = (await plans.store.list()).map((r) => r.document);
      const items: ServerListItem[] = (await plans.servers.list()).map((server) => ({
        name: server.name,
        replication: server.replication,
        ...(server.lagSeconds === undefined ? {} : { lagSeconds: server.lagSeconds }),
        volumes: server.volumes.map((v) => ({ volumeId: v.volumeId })),
        applications: [...server.applications],
        hasPrimary: server.hasPrimary,
        plans: plansSelecting(server, documents),
      }));
      return { status: 200, body: pageOfList(items, query, queryScope('listServers', {}), deps.cursors) };
    },
  }),
  route({
    method: 'GET',
    path: '/settings',
    operationId: 'getSettings',
    summary: 'The global settings: backups enabled, the stored-bytes ceiling',
    success: { status: 200, schema: planSettingsSchema },
    async serve(deps) {
      return { status: 200, body: await plansOf(deps).settings.read() };
    },
  }),
  route({
    method: 'PUT',
    path: '/settings',
    operationId: 'updateSettings',
    summary: 'Changes the global settings ({backupsEnabled?, storedBytesCeiling? (null removes it)})',
    body: settingsUpdateSchema,
    success: { status: 200, schema: planSettingsSchema },
    async serve(deps, input) {
      const plans = plansOf(deps);
      const update = input.body;
      const settings = applySettingsUpdate(await plans.settings.read(), update, plans.clock.now());
      await plans.settings.write(settings);
      return { status: 200, body: settings };
    },
  }),
];
