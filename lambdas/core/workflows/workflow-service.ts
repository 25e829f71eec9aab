/**
 * Managing workflows: create, replace, enable/disable and delete a workflow record. Every check
 * that can be made at once is made before anything is written (the server exists, the target is
 * this deployment's account and region, a DirectMount's instance exists in the named availability
 * zone and its device names are free), so a refused workflow leaves nothing behind.
 */
import { z } from 'zod';
import { ConflictError, DocumentValidationError, NotFoundError, type DocumentIssue } from '../errors.ts';
import type { Clock } from '../ports.ts';
import type { ServerDirectory } from '../plans/plan-ports.ts';
import type { NamedRecordStore } from '../store/named-records.ts';
import { issuesSentence } from '../util/document-issues.ts';
import {
  changedImmutableFields,
  parseWorkflowDocument,
  WORKFLOW_FORMAT_VERSION,
  workflowDocumentSchema,
  type WorkflowDocument,
} from './workflow-document.ts';
import { deviceAssignment, type TargetInstance } from './devices.ts';

export const workflowRecordSchema = z.strictObject({
  formatVersion: z.literal(WORKFLOW_FORMAT_VERSION),
  name: z.string().min(1),
  document: workflowDocumentSchema,
  /** 1 on create, +1 on every change; writes are conditional on it. */
  revision: z.number().int().min(1),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type WorkflowRecord = z.infer<typeof workflowRecordSchema>;

export type WorkflowStore = NamedRecordStore<WorkflowRecord>;

/** EC2 instances a DirectMount may attach to. */
export interface InstanceDirectory {
  /** Undefined when no such instance exists (or it is terminated). */
  describe(instanceId: string): Promise<TargetInstance | undefined>;
}

/** Where this deployment runs: the only account and region a workflow may target for now. */
export interface WorkflowDeployment {
  readonly account: string;
  readonly region: string;
}

export interface WorkflowServicePorts {
  readonly store: WorkflowStore;
  readonly servers: ServerDirectory;
  readonly instances: InstanceDirectory;
  readonly deployment: WorkflowDeployment;
  readonly clock: Clock;
}

async function requireWorkflow(store: WorkflowStore, name: string): Promise<WorkflowRecord> {
  const record = await store.get(name);
  if (record === undefined) {
    throw new NotFoundError(`workflow ${name} does not exist`, { context: { workflow: name } });
  }
  return record;
}

/** The replica volume ids the workflow presents, in the order they are mapped to devices. */
async function volumesOf(ports: WorkflowServicePorts, document: WorkflowDocument): Promise<string[]> {
  if (document.server !== undefined) {
    const server = await ports.servers.get(document.server);
    if (server === undefined) {
      throw new DocumentValidationError(
        `server ${document.server} is not a protected server (no replica volume carries rbp:source-server=${document.server})`,
        [{ field: 'server', message: `no protected server ${document.server}` }],
        { context: { workflow: document.name, server: document.server } },
      );
    }
    return server.volumes.map((v) => v.volumeId).sort();
  }
  const wanted = document.volumes ?? [];
  const servers = await ports.servers.list();
  const owners = new Set<string>();
  const issues: DocumentIssue[] = [];
  wanted.forEach((volumeId, index) => {
    const owner = servers.find((s) => s.volumes.some((v) => v.volumeId === volumeId));
    if (owner === undefined) {
      issues.push({
        field: `volumes.${index}`,
        message: `${volumeId} is not a replica volume of a protected server`,
      });
    } else owners.add(owner.name);
  });
  if (issues.length === 0 && owners.size > 1) {
    issues.push({
      field: 'volumes',
      message: `the volumes belong to ${owners.size} servers (${[...owners].sort().join(', ')}); name one server's`,
    });
  }
  if (issues.length > 0) {
    throw new DocumentValidationError(issuesSentence('invalid workflow', issues), issues, {
      context: { workflow: document.name },
    });
  }
  return [...wanted];
}

/** The checks against the world: account and region, the server, the DirectMount target. */
async function checkTargets(ports: WorkflowServicePorts, document: WorkflowDocument): Promise<void> {
  const issues: DocumentIssue[] = [];
  const { account, region } = document.target;
  if (account !== undefined && account !== ports.deployment.account) {
    issues.push({
      field: 'target.account',
      message: `cross-account workflows are not supported yet: use this deployment's account ${ports.deployment.account}`,
    });
  }
  if (region !== undefined && region !== ports.deployment.region) {
    issues.push({
      field: 'target.region',
      message: `cross-region workflows are not supported yet: use this deployment's region ${ports.deployment.region}`,
    });
  }
  const zone = document.target.availabilityZone;
  if (zone !== undefined && !zone.startsWith(ports.deployment.region)) {
    issues.push({
      field: 'target.availabilityZone',
      message: `${zone} is not in this deployment's region ${ports.deployment.region}`,
    });
  }
  if (issues.length > 0) {
    throw new DocumentValidationError(issuesSentence('invalid workflow', issues), issues, {
      context: { workflow: document.name },
    });
  }
  const volumeIds = await volumesOf(ports, document);
  if (document.type !== 'DirectMount') return;
  const instanceId = document.target.instanceId ?? '';
  const instance = await ports.instances.describe(instanceId);
  if (instance === undefined) {
    throw new DocumentValidationError(
      `target instance ${instanceId} does not exist`,
      [{ field: 'target.instanceId', message: `no instance ${instanceId}` }],
      { context: { workflow: document.name, instanceId } },
    );
  }
  if (instance.availabilityZone !== zone) {
    throw new DocumentValidationError(
      `target instance ${instanceId} is in ${instance.availabilityZone}, not in ${zone ?? '(none)'}: a volume attaches only to an instance in its own availability zone`,
      [
        {
          field: 'target.availabilityZone',
          message: `instance ${instanceId} is in ${instance.availabilityZone}`,
        },
      ],
      { context: { workflow: document.name, instanceId } },
    );
  }
  deviceAssignment(volumeIds, document.target, instance);
}

export async function createWorkflow(ports: WorkflowServicePorts, raw: unknown): Promise<WorkflowRecord> {
  const document = parseWorkflowDocument(raw);
  await checkTargets(ports, document);
  const now = ports.clock.now().toISOString();
  const record: WorkflowRecord = {
    formatVersion: WORKFLOW_FORMAT_VERSION,
    name: document.name,
    document,
    revision: 1,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await ports.store.create(record);
  } catch (error) {
    // A taken name is a problem of the document, like a bad one: 400 (CLI exit 5), not 409.
    if (error instanceof ConflictError) {
      throw new DocumentValidationError(
        error.message,
        [{ field: 'name', message: `a workflow named ${document.name} exists` }],
        { context: { workflow: document.name }, cause: error },
      );
    }
    throw error;
  }
  return record;
}

async function replaceDocument(
  ports: WorkflowServicePorts,
  previous: WorkflowRecord,
  document: WorkflowDocument,
): Promise<WorkflowRecord> {
  const record: WorkflowRecord = {
    ...previous,
    document,
    revision: previous.revision + 1,
    updatedAt: ports.clock.now().toISOString(),
  };
  await ports.store.replace(record, previous.revision);
  return record;
}

/**
 * Replaces a workflow's document. Name, type, target and schedule type cannot change: an update
 * that tries is refused naming each of them, and nothing is written.
 */
export async function updateWorkflow(
  ports: WorkflowServicePorts,
  name: string,
  raw: unknown,
): Promise<WorkflowRecord> {
  const document = parseWorkflowDocument(raw);
  const previous = await requireWorkflow(ports.store, name);
  const changed = changedImmutableFields(previous.document, document);
  if (changed.length > 0) {
    throw new DocumentValidationError(
      issuesSentence(`workflow ${name} cannot be updated`, changed),
      changed,
      {
        context: { workflow: name },
      },
    );
  }
  await checkTargets(ports, document);
  return replaceDocument(ports, previous, document);
}

/** Enables or disables a workflow; a disabled workflow's runs are refused and its schedule stops. */
export async function setWorkflowEnabled(
  ports: WorkflowServicePorts,
  name: string,
  enabled: boolean,
): Promise<WorkflowRecord> {
  const previous = await requireWorkflow(ports.store, name);
  if (previous.document.enabled === enabled) return previous;
  return replaceDocument(ports, previous, { ...previous.document, enabled });
}

/** Deletes a workflow record; an absent workflow is a NotFoundError (the caller named it). */
export async function deleteWorkflow(ports: WorkflowServicePorts, name: string): Promise<void> {
  const record = await requireWorkflow(ports.store, name);
  await ports.store.delete(name, record.revision);
}
