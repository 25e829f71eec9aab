/**
 * Routes of workflows (docs/workflows.md): create, list, show, replace and delete the workflow
 * documents that hand backups to test teams. Served by ApiDeps.workflows; a deployment without it
 * answers 400 saying workflows are not configured.
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import { workflowViewOf, workflowViewSchema } from '../workflows/workflow-api.ts';
import {
  createWorkflow,
  CREATED_RESOURCE_CHOICES,
  deleteWorkflow,
  updateWorkflow,
  type WorkflowServicePorts,
} from '../workflows/workflow-service.ts';
import {
  summariseWorkflowRun,
  workflowRunSummarySchema,
  workflowRunViewOf,
  workflowRunViewSchema,
} from '../workflows/workflow-run.ts';
import {
  getWorkflowRun,
  startWorkflowRun,
  startWorkflowRunBodySchema,
  type StartWorkflowRunPorts,
} from '../workflows/workflow-run-service.ts';
import type { ApiDeps } from './api-ports.ts';
import { queryScope } from './cursor.ts';
import { pageOfNamedRecords, storePage } from './pagination.ts';
import { configured, route, type Route } from './route-definition.ts';
import { pageOnlyQuery, pageSchema } from './schemas.ts';

const workflowPathParams = z.strictObject({ name: z.string().min(1).max(200) });
/** A workflow document: validated by parseWorkflowDocument, which lists every problem. */
const workflowBody = z.unknown();
/** `DELETE /workflows/{name}?created=keep|remove`: what to do with the snapshots and volumes it created. */
const deleteWorkflowQuery = z.strictObject({ created: z.enum(CREATED_RESOURCE_CHOICES).default('keep') });
const workflowDeletedSchema = z.strictObject({
  name: z.string(),
  deleted: z.literal(true),
  created: z.enum(CREATED_RESOURCE_CHOICES),
  /** Snapshots tagged rbp:workflow=<name>: kept, or removed. */
  snapshotIds: z.array(z.string()),
  /** Volumes tagged rbp:workflow=<name>: kept, or detached and removed. */
  volumeIds: z.array(z.string()),
});

const workflowRunPathParams = z.strictObject({ runId: z.string().min(1).max(200) });

const workflowRunsOf = (deps: ApiDeps): StartWorkflowRunPorts =>
  configured(deps.workflowRuns, 'workflow runs');
const workflowsOf = (deps: ApiDeps): WorkflowServicePorts => configured(deps.workflows, 'workflows');

/** The workflow `name`, or a 404. */
async function existingWorkflow<T>(
  store: { get(name: string): Promise<T | undefined> },
  name: string,
): Promise<T> {
  const record = await store.get(name);
  if (record === undefined) {
    throw new NotFoundError(`workflow ${name} does not exist`, { context: { workflow: name } });
  }
  return record;
}

export const WORKFLOW_ROUTES: readonly Route[] = [
  route('POST /workflows', 'createWorkflow', {
    summary:
      'Creates a workflow (LiveClone or DirectMount); a duplicate name, a bad document or target is 400 listing every problem, and nothing is created',
    body: workflowBody,
    answer: workflowViewSchema,
    serve: async (deps, { body }) => workflowViewOf(await createWorkflow(workflowsOf(deps), body)),
  }),
  route('GET /workflows', 'listWorkflows', {
    summary: 'Workflows, by name',
    query: pageOnlyQuery,
    answer: pageSchema(workflowViewSchema),
    async serve(deps, { query }) {
      return storePage(query, queryScope('listWorkflows', {}), deps.cursors, async (request) => {
        const page = await pageOfNamedRecords(workflowsOf(deps).store, request);
        return { ...page, items: page.items.map(workflowViewOf) };
      });
    },
  }),
  route('GET /workflows/{name}', 'getWorkflow', {
    summary: 'One workflow',
    params: workflowPathParams,
    answer: workflowViewSchema,
    errors: [404],
    serve: async (deps, { params }) =>
      workflowViewOf(await existingWorkflow(workflowsOf(deps).store, params.name)),
  }),
  route('PUT /workflows/{name}', 'updateWorkflow', {
    summary:
      'Replaces a workflow document; name, type, target and schedule type cannot change (400 naming each)',
    params: workflowPathParams,
    body: workflowBody,
    answer: workflowViewSchema,
    errors: [404, 409],
    serve: async (deps, { params, body }) =>
      workflowViewOf(await updateWorkflow(workflowsOf(deps), params.name, body)),
  }),
  route('DELETE /workflows/{name}', 'deleteWorkflow', {
    summary:
      'Deletes a workflow and its schedule; `created=remove` also detaches and deletes the volumes and deletes the snapshots tagged rbp:workflow=<name> (default `keep`: they stay and are listed)',
    params: workflowPathParams,
    query: deleteWorkflowQuery,
    answer: workflowDeletedSchema,
    errors: [404, 409],
    async serve(deps, { params, query }) {
      const deleted = await deleteWorkflow(workflowsOf(deps), params.name, query.created);
      return { ...deleted, snapshotIds: [...deleted.snapshotIds], volumeIds: [...deleted.volumeIds] };
    },
  }),
  route('POST /workflows/{name}/runs', 'startWorkflowRun', {
    summary:
      'Runs a workflow now (`{"action": "unmount"}` detaches and deletes a DirectMount); a disabled workflow, a missing image, a target in another availability zone or a device in use is 400 with the reason, and nothing is started',
    params: workflowPathParams,
    body: startWorkflowRunBodySchema.optional(),
    answer: workflowRunSummarySchema,
    errors: [404, 409],
    async serve(deps, { params, body, principal }) {
      const trigger = `api:${principal ?? 'anonymous'}`;
      return summariseWorkflowRun(await startWorkflowRun(workflowRunsOf(deps), params.name, body, trigger));
    },
    accepted: (run) => `/workflow-runs/${run.runId}`,
  }),
  route('GET /workflows/{name}/runs', 'listWorkflowRuns', {
    summary: "A workflow's runs, newest first",
    params: workflowPathParams,
    query: pageOnlyQuery,
    answer: pageSchema(workflowRunViewSchema),
    errors: [404],
    async serve(deps, { params: { name }, query }) {
      const ports = workflowRunsOf(deps);
      await existingWorkflow(ports.workflows, name);
      // One page read from the store: each run is also kept under its workflow's key, newest first
      // (lambdas/aws/workflow-run-store.ts), so a page is one Query of `limit` runs.
      return storePage(
        query,
        queryScope('listWorkflowRuns', { workflow: name }),
        deps.cursors,
        async (request) => {
          const page = await ports.runs.pageOfWorkflow(name, request);
          return { ...page, items: page.items.map(workflowRunViewOf) };
        },
      );
    },
  }),
  route('GET /workflow-runs/{runId}', 'getWorkflowRun', {
    summary: 'One workflow run: status, reason, images, clone snapshots and volumes, per-volume detail',
    params: workflowRunPathParams,
    answer: workflowRunViewSchema,
    errors: [404],
    serve: async (deps, { params }) =>
      workflowRunViewOf(await getWorkflowRun(workflowRunsOf(deps), params.runId)),
  }),
];
