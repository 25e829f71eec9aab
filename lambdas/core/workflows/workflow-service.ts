/**
 * Managing workflows: create, replace, enable/disable and delete a workflow record. Every check
 * that can be made at once is made before anything is written (the server exists, the target is
 * this deployment's account and region, a DirectMount's instance exists in the named availability
 * zone and its device names are free), so a refused workflow leaves nothing behind.
 *
 * A `scheduled` workflow has one EventBridge Scheduler schedule, `wf-<name>`, that starts a run;
 * it is created, updated and deleted with the record (disabled while the workflow is), and a
 * failure to write it undoes the record change, so a record and its schedule never disagree.
 */
import { z } from 'zod';
import { ConflictError, DocumentValidationError, NotFoundError, type DocumentIssue } from '../errors.ts';
import type { Clock } from '../ports.ts';
import type { ServerDirectory } from '../plans/plan-ports.ts';
import type { NamedRecordPages } from '../api/api-ports.ts';
import type { NamedRecordStore } from '../store/named-records.ts';
import { issuesSentence } from '../util/document-issues.ts';
import { syncSchedules, withUndo } from '../util/schedule-sync.ts';
import {
  changedImmutableFields,
  parseWorkflowDocument,
  WORKFLOW_FORMAT_VERSION,
  workflowDocumentSchema,
  type WorkflowDocument,
} from './workflow-document.ts';
import { deviceAssignment, type TargetInstance } from './devices.ts';
import type { WorkflowRunStore } from './workflow-run.ts';
import { runStateOf } from './workflow-run-service.ts';

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

/** The workflow records; `page` (GET /workflows) as PlanStore's: absent, the list is paged in memory. */
export type WorkflowStore = NamedRecordStore<WorkflowRecord> & Partial<NamedRecordPages<WorkflowRecord>>;

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

/** The EventBridge Scheduler schedule of a scheduled workflow. */
export interface WorkflowSchedule {
  /** `wf-<workflow>` (workflowScheduleName). */
  readonly name: string;
  readonly workflow: string;
  /** `cron(...)` or `rate(...)` as the document gives it. */
  readonly expression: string;
  readonly timeZone: string;
  /** DISABLED while the workflow is disabled: it fires no run. */
  readonly enabled: boolean;
}

export interface WorkflowScheduler {
  /** Undefined when no schedule has the name. */
  get(name: string): Promise<WorkflowSchedule | undefined>;
  /** Creates the schedule, or replaces it when one with the name exists. */
  put(schedule: WorkflowSchedule): Promise<void>;
  /** Deleting an absent schedule is success. */
  delete(name: string): Promise<void>;
}

/** The prefix of a workflow's schedule name (with MAX_WORKFLOW_NAME_CHARS, within Scheduler's 64). */
export const WORKFLOW_SCHEDULE_PREFIX = 'wf-';

export function workflowScheduleName(workflow: string): string {
  return `${WORKFLOW_SCHEDULE_PREFIX}${workflow}`;
}

/** The trigger a scheduled run records: `schedule:wf-<name>`. */
export function workflowScheduleTrigger(workflow: string): string {
  return `schedule:${workflowScheduleName(workflow)}`;
}

/** The schedule a workflow document asks for; undefined for an on-demand workflow. */
export function desiredWorkflowSchedule(document: WorkflowDocument): WorkflowSchedule | undefined {
  if (document.schedule.type !== 'scheduled') return undefined;
  return {
    name: workflowScheduleName(document.name),
    workflow: document.name,
    expression: document.schedule.expression,
    timeZone: document.schedule.timeZone,
    enabled: document.enabled,
  };
}

/** Makes the workflow's schedule exactly `desired` (absent: deleted); writes only what differs. */
export async function reconcileWorkflowSchedule(
  scheduler: WorkflowScheduler,
  workflow: string,
  desired: WorkflowSchedule | undefined,
): Promise<void> {
  const current = await scheduler.get(workflowScheduleName(workflow));
  await syncSchedules(
    scheduler,
    current === undefined ? [] : [current],
    desired === undefined ? [] : [desired],
  );
}

/** The tag every snapshot and volume a workflow creates carries, with the workflow's name. */
export const CREATED_BY_WORKFLOW_TAG = 'rbp:workflow';

/** What `DELETE /workflows/{name}` does with what the workflow created: keep it (default) or remove it. */
export const CREATED_RESOURCE_CHOICES = ['keep', 'remove'] as const;
export type CreatedResourceChoice = (typeof CREATED_RESOURCE_CHOICES)[number];

export interface CreatedVolume {
  readonly volumeId: string;
  /** Where it is attached now (attaching or attached). */
  readonly attachments: readonly { readonly instanceId: string; readonly device: string }[];
}

/** The snapshots and volumes tagged `rbp:workflow=<name>`, by id. */
export interface WorkflowCreated {
  readonly snapshotIds: readonly string[];
  readonly volumes: readonly CreatedVolume[];
}

/** EC2 over what workflows created. */
export interface CreatedResources {
  /** Snapshots (owned by this account) and volumes carrying rbp:workflow=<workflow>, ordered by id. */
  find(workflow: string): Promise<WorkflowCreated>;
  /** DetachVolume, then waits until the volume is available (detached). */
  detach(volumeId: string, instanceId: string): Promise<void>;
  /** DeleteVolume; an absent volume is success. */
  deleteVolume(volumeId: string): Promise<void>;
  /** DeleteSnapshot; an absent snapshot is success. */
  deleteSnapshot(snapshotId: string): Promise<void>;
}

/** What a delete did with what the workflow created. */
export interface WorkflowDeleted {
  readonly name: string;
  readonly deleted: true;
  readonly created: CreatedResourceChoice;
  /** The workflow's snapshots: kept, or removed. */
  readonly snapshotIds: readonly string[];
  /** The workflow's volumes: kept, or detached and removed. */
  readonly volumeIds: readonly string[];
}

export interface WorkflowServicePorts {
  readonly store: WorkflowStore;
  /** What workflows created (for delete's keep/remove); absent: a delete reports nothing kept or removed. */
  readonly created?: CreatedResources;
  /**
   * The schedules of scheduled workflows. Absent in a deployment without workflow schedules: the
   * schedule is then only stored in the record (nothing starts runs by time).
   */
  readonly scheduler?: WorkflowScheduler;
  readonly servers: ServerDirectory;
  readonly instances: InstanceDirectory;
  readonly deployment: WorkflowDeployment;
  readonly clock: Clock;
  /** The run records: a workflow with a run going on is not deleted. Absent: not checked. */
  readonly runs?: Pick<WorkflowRunStore, 'pageOfWorkflow'>;
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
  const scheduler = ports.scheduler;
  if (scheduler !== undefined) {
    await withUndo(
      () => reconcileWorkflowSchedule(scheduler, document.name, desiredWorkflowSchedule(document)),
      async () => {
        await reconcileWorkflowSchedule(scheduler, document.name, undefined);
        await ports.store.delete(document.name, record.revision);
      },
    );
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
  const scheduler = ports.scheduler;
  if (scheduler !== undefined) {
    await withUndo(
      () => reconcileWorkflowSchedule(scheduler, document.name, desiredWorkflowSchedule(document)),
      async () => {
        await ports.store.replace({ ...previous, revision: record.revision + 1 }, record.revision);
        await reconcileWorkflowSchedule(scheduler, document.name, desiredWorkflowSchedule(previous.document));
      },
    );
  }
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

/**
 * Removes what a workflow created: every volume tagged with it is detached from where it is
 * attached (waiting until it is free) and deleted, then every snapshot tagged with it is deleted.
 * Volumes go first: a failure part-way then leaves no data presented to an instance, only
 * snapshots, which a repeated delete removes.
 */
async function removeCreated(resources: CreatedResources, found: WorkflowCreated): Promise<void> {
  for (const volume of found.volumes) {
    for (const attachment of volume.attachments)
      await resources.detach(volume.volumeId, attachment.instanceId);
    await resources.deleteVolume(volume.volumeId);
  }
  for (const snapshotId of found.snapshotIds) await resources.deleteSnapshot(snapshotId);
}

/**
 * Deletes a workflow: its schedule first (no run starts for a deleted workflow), then, with
 * `remove`, the snapshots and volumes it created (found by the tag rbp:workflow=<name>; volumes
 * detached first), then the record. With `keep` (the default) they stay and are listed in the
 * answer. A failure before the record is deleted puts the schedule back and leaves the record, so
 * the delete can be repeated. An absent workflow is a NotFoundError (the caller named it); a
 * workflow with a run going on is a ConflictError naming the run, and nothing is deleted.
 */
export async function deleteWorkflow(
  ports: WorkflowServicePorts,
  name: string,
  created: CreatedResourceChoice = 'keep',
): Promise<WorkflowDeleted> {
  const record = await requireWorkflow(ports.store, name);
  // A running run could make its clone after the delete looked for what the workflow created.
  // Only the workflow's newest run can be going on (runStateOf says why): one page of its runs.
  const running =
    ports.runs === undefined ? undefined : (await runStateOf({ runs: ports.runs }, name)).running;
  if (running !== undefined) {
    throw new ConflictError(
      `workflow ${name} has a run going on (run ${running.runId}): delete it once that run has finished`,
      { context: { workflow: name, runId: running.runId } },
    );
  }
  const scheduler = ports.scheduler;
  const restoreSchedule = async (): Promise<void> => {
    if (scheduler === undefined) return;
    const current = await ports.store.get(name);
    if (current !== undefined) {
      await reconcileWorkflowSchedule(scheduler, name, desiredWorkflowSchedule(current.document));
    }
  };
  if (scheduler !== undefined) await reconcileWorkflowSchedule(scheduler, name, undefined);
  let found: WorkflowCreated = { snapshotIds: [], volumes: [] };
  try {
    if (ports.created !== undefined) {
      found = await ports.created.find(name);
      if (created === 'remove') await removeCreated(ports.created, found);
    }
    await ports.store.delete(name, record.revision);
  } catch (error) {
    // Changed meanwhile, or a removal failed: put its schedule back as the record wants it.
    await restoreSchedule();
    throw error;
  }
  return {
    name,
    deleted: true,
    created,
    snapshotIds: found.snapshotIds,
    volumeIds: found.volumes.map((v) => v.volumeId),
  };
}
