/**
 * Routes of workflows (docs/workflows.md): create, list, show, replace and delete the workflow
 * documents that hand backups to test teams. Served by ApiDeps.workflows; a deployment without it
 * answers 400 saying workflows are not configured.
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
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
  runsOfWorkflow,
  startWorkflowRun,
  startWorkflowRunBodySchema,
  type StartWorkflowRunPorts,
} from '../workflows/workflow-run-service.ts';
import type { ApiDeps } from './api-ports.ts';
import { queryScope } from './cursor.ts';
import { pageOfList } from './pagination.ts';
import { route, type Route } from './route-definition.ts';
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

function workflowRunsOf(deps: ApiDeps): StartWorkflowRunPorts {
  if (deps.workflowRuns === undefined) {
    throw new ValidationError('workflow runs are not configured in this deployment', {});
  }
  return deps.workflowRuns;
}

function workflowsOf(deps: ApiDeps): WorkflowServicePorts {
  if (deps.workflows === undefined) {
    throw new ValidationError('workflows are not configured in this deployment', {});
  }
  return deps.workflows;
}

export const WORKFLOW_ROUTES: readonly Route[] = [
  route({
    method: 'POST',
    path: '/workflows',
    operationId: 'createWorkflow',
    summary:
      'Creates a workflow (LiveClone or DirectMount); a duplicate name, a bad document or target is 400 listing every problem, and nothing is created',
    body: workflowBody,
    success: { status: 200, schema: workflowViewSchema },
    async serve(deps, { body }) {
      return { status: 200, body: workflowViewOf(await createWorkflow(workflowsOf(deps), body)) };
    },
  }),
  route({
    method: 'GET',
    path: '/workflows',
    operationId: 'listWorkflows',
    summary: 'Workflows, by name',
    query: pageOnlyQuery,
    success: { status: 200, schema: pageSchema(workflowViewSchema) },
    async serve(deps, { query }) {
      const views = (await workflowsOf(deps).store.list()).map(workflowViewOf);
      return { status: 200, body: pageOfList(views, query, queryScope('listWorkflows', {}), deps.cursors) };
    },
  }),
  route({
    method: 'GET',
    path: '/workflows/{name}',
    operationId: 'getWorkflow',
    summary: 'One workflow',
    params: workflowPathParams,
    success: { status: 200, schema: workflowViewSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      const record = await workflowsOf(deps).store.get(params.name);
      if (record === undefined) {
        throw new NotFoundError(`workflow ${params.name} does not exist`, {
          context: { workflow: params.name },
        });
      }
      return { status: 200, body: workflowViewOf(record) };
    },
  }),
  route({
    method: 'PUT',
    path: '/workflows/{name}',
    operationId: 'updateWorkflow',
    summary:
      'Replaces a workflow document; name, type, target and schedule type cannot change (400 naming each)',
    params: workflowPathParams,
    body: workflowBody,
    success: { status: 200, schema: workflowViewSchema },
    errorStatuses: [404, 409],
    async serve(deps, { params, body }) {
      return {
        status: 200,
        body: workflowViewOf(await updateWorkflow(workflowsOf(deps), params.name, body)),
      };
    },
  }),
  route({
    method: 'DELETE',
    path: '/workflows/{name}',
    operationId: 'deleteWorkflow',
    summary:
      'Deletes a workflow and its schedule; `created=remove` also detaches and deletes the volumes and deletes the snapshots tagged rbp:workflow=<name> (default `keep`: they stay and are listed)',
    params: workflowPathParams,
    query: deleteWorkflowQuery,
    success: { status: 200, schema: workflowDeletedSchema },
    errorStatuses: [404, 409],
    async serve(deps, { params, query }) {
      const deleted = await deleteWorkflow(workflowsOf(deps), params.name, query.created);
      return {
        status: 200,
        body: { ...deleted, snapshotIds: [...deleted.snapshotIds], volumeIds: [...deleted.volumeIds] },
      };
    },
  }),
  route({
    method: 'POST',
    path: '/workflows/{name}/runs',
    operationId: 'startWorkflowRun',
    summary:
      'Runs a workflow now (`{"action": "unmount"}` detaches and deletes a DirectMount); a disabled workflow, a missing image, a target in another availability zone or a device in use is 400 with the reason, and nothing is started',
    params: workflowPathParams,
    body: startWorkflowRunBodySchema.optional(),
    success: { status: 202, schema: workflowRunSummarySchema },
    errorStatuses: [404, 409],
    async serve(deps, { params, body, principal }) {
      const run = await startWorkflowRun(
        workflowRunsOf(deps),
        params.name,
        body,
        `api:${principal ?? 'anonymous'}`,
      );
      return {
        status: 202,
        body: summariseWorkflowRun(run),
        headers: { location: `/workflow-runs/${run.runId}` },
      };
    },
  }),
  route({
    method: 'GET',
    path: '/workflows/{name}/runs',
    operationId: 'listWorkflowRuns',
    summary: "A workflow's runs, newest first",
    params: workflowPathParams,
    query: pageOnlyQuery,
    success: { status: 200, schema: pageSchema(workflowRunViewSchema) },
    errorStatuses: [404],
    async serve(deps, { params, query }) {
      const ports = workflowRunsOf(deps);
      if ((await ports.workflows.get(params.name)) === undefined) {
        throw new NotFoundError(`workflow ${params.name} does not exist`, {
          context: { workflow: params.name },
        });
      }
      const views = (await runsOfWorkflow(ports, params.name)).map(workflowRunViewOf);
      return {
        status: 200,
        body: pageOfList(
          views,
          query,
          queryScope('listWorkflowRuns', { workflow: params.name }),
          deps.cursors,
        ),
      };
    },
  }),
  route({
    method: 'GET',
    path: '/workflow-runs/{runId}',
    operationId: 'getWorkflowRun',
    summary: 'One workflow run: status, reason, images, clone snapshots and volumes, per-volume detail',
    params: workflowRunPathParams,
    success: { status: 200, schema: workflowRunViewSchema },
    errorStatuses: [404],
    async serve(deps, { params }) {
      return {
        status: 200,
        body: workflowRunViewOf(await getWorkflowRun(workflowRunsOf(deps), params.runId)),
      };
    },
  }),
];
