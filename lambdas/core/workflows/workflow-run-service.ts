/**
 * Starting workflow runs (`POST /workflows/{name}/runs`) and reading them. Every check that can
 * be made at once is made before anything is written or started: the workflow exists and is
 * enabled, no other run of it is going on, each volume has the image to present, and a
 * DirectMount's instance exists in the target availability zone with its device names free (a
 * name held by the volume this run replaces is fine: the new volume goes to the next free name
 * and the old one is detached after). A refused run leaves nothing behind.
 */
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Image } from '../api/schemas.ts';
import { RECOVERY_POINT_ID_PREFIX, type RecoveryPoint } from '../recovery-points/recovery-points.ts';
import type { WorkflowDocument } from './workflow-document.ts';
import type { WorkflowRecord } from './workflow-service.ts';
import { deviceAssignment, nextDeviceName, type TargetInstance } from './devices.ts';
import {
  WORKFLOW_RUN_ACTIONS,
  alreadyRunningError,
  WORKFLOW_RUN_FORMAT_VERSION,
  WORKFLOW_RUN_ID_PATTERN,
  workflowRunIdOf,
  type WorkflowRun,
  type WorkflowRunAction,
  type WorkflowRunStore,
} from './workflow-run.ts';
import type { WorkflowRunExecutions, WorkflowRunPorts } from './workflow-run-ports.ts';

/** The body of `POST /workflows/{name}/runs` (empty: a run). */
export const startWorkflowRunBodySchema = z
  .strictObject({ action: z.enum(WORKFLOW_RUN_ACTIONS).default('run') })
  .default({ action: 'run' });

export const workflowRunIdSchema = z.string().regex(WORKFLOW_RUN_ID_PATTERN, 'must be a run id wr-…');

export interface StartWorkflowRunPorts extends Pick<
  WorkflowRunPorts,
  'workflows' | 'runs' | 'servers' | 'images' | 'recoveryPoints' | 'instances' | 'clock'
> {
  readonly executions: WorkflowRunExecutions;
  /** Random hex for the run id. */
  readonly randomHex: () => string;
}

async function requireWorkflow(
  ports: Pick<WorkflowRunPorts, 'workflows'>,
  name: string,
): Promise<WorkflowRecord> {
  const record = await ports.workflows.get(name);
  if (record === undefined) {
    throw new NotFoundError(`workflow ${name} does not exist`, { context: { workflow: name } });
  }
  return record;
}

/**
 * Runs a start reads per page of the workflow's runs (newest first): one page holds the current
 * run and the failed runs since it in the usual history, so a start costs one Query.
 */
export const START_RUNS_PAGE = 10;

/**
 * The run whose clone (or mount) exists now: the newest `run` not replaced since that succeeded,
 * or that failed only while removing the clone it replaced (it kept its own: its volumes still
 * name their clone snapshots). `runs` newest first.
 */
export function currentRunOf(runs: readonly WorkflowRun[]): WorkflowRun | undefined {
  return runs.find(isCurrentRun);
}

function isCurrentRun(r: WorkflowRun): boolean {
  return (
    r.action === 'run' &&
    r.replacedByRunId === undefined &&
    (r.status === 'Succeeded' ||
      (r.status === 'Failed' && r.volumes.length > 0 && r.volumes.every((v) => v.snapshotId !== undefined)))
  );
}

/** What a start (and a delete) needs to know of a workflow's runs. */
export interface WorkflowRunState {
  /** A run of the workflow going on. */
  readonly running?: WorkflowRun;
  /** currentRunOf the workflow's runs, when none is running. */
  readonly current?: WorkflowRun;
}

/**
 * The running and the current run of `workflow`, read newest first a page at a time
 * (START_RUNS_PAGE) and only as far as the answer needs, never every run:
 *
 * - Runs of a workflow do not overlap: a start (this check) is refused while one is Running, so
 *   every run older than a finished run had finished before that one started. Only the newest
 *   run can be Running, and it is on the first page.
 * - currentRunOf is the first run that qualifies, newest first: the read stops there.
 * - A finished run that does not qualify and replaced nothing (`replacesRunId` absent) started
 *   when no run qualified (plannedRun sets `replacesRunId` to the current run). The older runs
 *   had all finished by then, and a finished run can only stop qualifying (its status stays, and
 *   `replacedByRunId` is only ever set), so none of them qualifies now: the read stops there too.
 *
 * So a start reads past its first page only when the workflow's runs since the current one (or
 * since one that replaced nothing) are more than a page. Two starts racing each other can both
 * pass this check; createPlannedRun writes only one of them.
 */
export async function runStateOf(
  ports: { readonly runs: Pick<WorkflowRunStore, 'pageOfWorkflow'> },
  workflow: string,
): Promise<WorkflowRunState> {
  let pageToken: string | undefined;
  do {
    const page = await ports.runs.pageOfWorkflow(
      workflow,
      pageToken === undefined ? { limit: START_RUNS_PAGE } : { limit: START_RUNS_PAGE, pageToken },
    );
    for (const run of page.items) {
      if (run.status === 'Running') return { running: run };
      if (isCurrentRun(run)) return { current: run };
      if (run.replacesRunId === undefined) return {};
    }
    pageToken = page.nextToken;
  } while (pageToken !== undefined);
  return {};
}

/** The replica volume ids the workflow presents, in the order its devices are assigned. */
async function sourceVolumes(
  ports: Pick<WorkflowRunPorts, 'servers'>,
  document: WorkflowDocument,
): Promise<string[]> {
  if (document.server === undefined) return [...(document.volumes ?? [])];
  const server = await ports.servers.get(document.server);
  if (server === undefined || server.volumes.length === 0) {
    throw new ValidationError(
      `workflow ${document.name}: server ${document.server} has no replica volume (no volume carries rbp:source-server=${document.server})`,
      { context: { workflow: document.name, server: document.server } },
    );
  }
  return server.volumes.map((v) => v.volumeId).sort();
}

/**
 * A recovery point's images, one per volume of the workflow (a recovery point holds one image of
 * every volume of its server, taken at one checkpoint). Refused when the point does not exist, is
 * another server's, or lacks one of the workflow's volumes (a volume added to the server later).
 */
async function recoveryPointImages(
  ports: Pick<WorkflowRunPorts, 'recoveryPoints'>,
  document: WorkflowDocument,
  volumeIds: readonly string[],
): Promise<string[]> {
  const context = { workflow: document.name, image: document.image };
  if (ports.recoveryPoints === undefined) {
    throw new ValidationError(
      `workflow ${document.name}: recovery points are not configured in this deployment; use latest or an image id`,
      { context },
    );
  }
  let point: RecoveryPoint;
  try {
    point = await ports.recoveryPoints.get(document.image);
  } catch (error) {
    if (error instanceof NotFoundError) {
      throw new ValidationError(
        `workflow ${document.name}: recovery point ${document.image} does not exist`,
        {
          cause: error,
          context,
        },
      );
    }
    throw error;
  }
  if (document.server !== undefined && point.serverId !== document.server) {
    throw new ValidationError(
      `workflow ${document.name}: recovery point ${document.image} is of server ${point.serverId}, not of ${document.server}`,
      { context },
    );
  }
  return volumeIds.map((volumeId) => {
    const image = point.images.find((i) => i.volumeId === volumeId);
    if (image === undefined) {
      throw new ValidationError(
        `workflow ${document.name}: recovery point ${document.image} has no image of volume ${volumeId} (it holds ${point.images.map((i) => i.volumeId).join(', ')})`,
        { context: { ...context, volumeId } },
      );
    }
    return image.imageId;
  });
}

/**
 * The image each volume presents: `latest` is each volume's newest committed image; an image id
 * names one volume's image, and the other volumes present their newest image made no later than
 * it (a server backup makes one image per volume at about the same time).
 */
async function resolveImages(
  ports: Pick<WorkflowRunPorts, 'images' | 'recoveryPoints'>,
  document: WorkflowDocument,
  volumeIds: readonly string[],
): Promise<string[]> {
  if (document.image.startsWith(RECOVERY_POINT_ID_PREFIX)) {
    return recoveryPointImages(ports, document, volumeIds);
  }
  let named: Image | undefined;
  if (document.image !== 'latest') {
    try {
      named = await ports.images.getImage(document.image);
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new ValidationError(`workflow ${document.name}: image ${document.image} does not exist`, {
          cause: error,
          context: { workflow: document.name, image: document.image },
        });
      }
      throw error;
    }
    if (!volumeIds.includes(named.volumeId)) {
      throw new ValidationError(
        `workflow ${document.name}: image ${document.image} is of volume ${named.volumeId}, which is not one of the workflow's volumes (${volumeIds.join(', ')})`,
        { context: { workflow: document.name, image: document.image } },
      );
    }
  }
  const chosen: string[] = [];
  for (const volumeId of volumeIds) {
    if (named?.volumeId === volumeId) {
      chosen.push(named.imageId);
      continue;
    }
    const images = await ports.images.listImages(volumeId);
    const eligible = named === undefined ? images : images.filter((i) => i.createdAt <= named.createdAt);
    const image = eligible.at(-1);
    if (image === undefined) {
      throw new ValidationError(
        `workflow ${document.name}: volume ${volumeId} has no committed image${named === undefined ? '' : ` made by ${named.createdAt}`} to present`,
        { context: { workflow: document.name, volumeId } },
      );
    }
    chosen.push(image.imageId);
  }
  return chosen;
}

/**
 * The device each new volume of a DirectMount gets: the workflow's assignment, where a name held
 * by the volume this run replaces moves to the next free name (the old volume is detached only
 * after the new one is attached). A name held by anything else is refused.
 */
export function mountDevices(
  volumeIds: readonly string[],
  document: WorkflowDocument,
  instance: TargetInstance,
  heldByPrevious: readonly string[],
): string[] {
  const foreign = instance.devicesInUse.filter((d) => !heldByPrevious.includes(d));
  const wanted = deviceAssignment(volumeIds, document.target, { ...instance, devicesInUse: foreign });
  const taken = new Set(instance.devicesInUse);
  return volumeIds.map((volumeId) => {
    let device: string | undefined = wanted.get(volumeId);
    while (device !== undefined && taken.has(device)) device = nextDeviceName(device);
    if (device === undefined) {
      throw new ValidationError(
        `workflow ${document.name}: no free device name left on ${instance.instanceId} for volume ${volumeId}`,
        { context: { workflow: document.name, instanceId: instance.instanceId } },
      );
    }
    taken.add(device);
    return device;
  });
}

/** The DirectMount target as it is now; refuses a missing instance or another availability zone. */
export async function requireTargetInstance(
  ports: Pick<WorkflowRunPorts, 'instances'>,
  document: WorkflowDocument,
): Promise<TargetInstance> {
  const instanceId = document.target.instanceId ?? '';
  const instance = await ports.instances.describe(instanceId);
  if (instance === undefined) {
    throw new ValidationError(`workflow ${document.name}: target instance ${instanceId} does not exist`, {
      context: { workflow: document.name, instanceId },
    });
  }
  const zone = document.target.availabilityZone;
  if (instance.availabilityZone !== zone) {
    throw new ValidationError(
      `workflow ${document.name}: target instance ${instanceId} is in ${instance.availabilityZone}, not in ${zone ?? '(none)'}: a volume attaches only to an instance in its own availability zone`,
      { context: { workflow: document.name, instanceId } },
    );
  }
  return instance;
}

/** The run record of a new run, after every check; nothing is written here. */
export async function plannedRun(
  ports: Omit<StartWorkflowRunPorts, 'executions' | 'randomHex'>,
  runId: string,
  name: string,
  action: WorkflowRunAction,
  trigger: string,
): Promise<WorkflowRun> {
  const record = await requireWorkflow(ports, name);
  const { document } = record;
  if (!document.enabled) {
    throw new ValidationError(
      `workflow ${name} is disabled: its runs are refused until it is enabled again`,
      {
        context: { workflow: name },
      },
    );
  }
  const { running, current } = await runStateOf(ports, name);
  if (running !== undefined) throw alreadyRunningError(name, running.runId);
  const base = {
    formatVersion: WORKFLOW_RUN_FORMAT_VERSION,
    name: runId,
    revision: 1,
    runId,
    workflow: name,
    type: document.type,
    action,
    trigger,
    status: 'Running',
    startedAt: ports.clock.now().toISOString(),
    document,
    nonSensitive: false,
    ...(current === undefined ? {} : { replacesRunId: current.runId }),
  } as const;
  if (action === 'unmount') {
    if (document.type !== 'DirectMount') {
      throw new ValidationError(
        `workflow ${name} is a ${document.type}: only a DirectMount can be unmounted`,
        {
          context: { workflow: name },
        },
      );
    }
    if (current === undefined) {
      throw new ValidationError(`workflow ${name} has nothing mounted: no run of it is attached now`, {
        context: { workflow: name },
      });
    }
    return { ...base, phase: 'Unmount', volumes: [] };
  }
  const volumeIds = await sourceVolumes(ports, document);
  const imageIds = await resolveImages(ports, document, volumeIds);
  const volumes = volumeIds.map((sourceVolumeId, index) => ({ sourceVolumeId, imageId: imageIds[index]! }));
  if (document.type === 'DirectMount') {
    const instance = await requireTargetInstance(ports, document);
    const held = (current?.volumes ?? []).flatMap((v) => (v.device === undefined ? [] : [v.device]));
    mountDevices(volumeIds, document, instance, held);
  }
  return { ...base, phase: 'Restore', volumes };
}

/**
 * The checks of plannedRun and the run record, written only when no other run of the workflow was
 * started since the checks began: the workflow's start position is read before its runs and the
 * record is written on condition that it has not moved (WorkflowRunStore.createStarted), so two
 * starts at the same time cannot both pass the check and both run.
 */
export async function createPlannedRun(...start: Parameters<typeof plannedRun>): Promise<WorkflowRun> {
  const [ports, , name] = start;
  const lastStart = await ports.runs.lastStart(name);
  const run = await plannedRun(...start);
  await ports.runs.createStarted(run, lastStart);
  return run;
}

/**
 * `POST /workflows/{name}/runs`: the checks, the run record (so `GET /workflow-runs/{runId}`
 * answers at once), then the execution; when the execution cannot start, the record is removed.
 */
export async function startWorkflowRun(
  ports: StartWorkflowRunPorts,
  name: string,
  body: unknown,
  trigger = 'api',
): Promise<WorkflowRun> {
  const parsed = startWorkflowRunBodySchema.safeParse(body ?? {});
  if (!parsed.success) {
    throw new ValidationError(
      `invalid run request: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
      { context: { workflow: name } },
    );
  }
  const runId = workflowRunIdOf(ports.clock.now(), ports.randomHex());
  const run = await createPlannedRun(ports, runId, name, parsed.data.action, trigger);
  try {
    await ports.executions.start(runId);
  } catch (error) {
    await ports.runs.delete(runId, run.revision);
    throw error;
  }
  return run;
}

export async function getWorkflowRun(
  ports: Pick<WorkflowRunPorts, 'runs'>,
  runId: string,
): Promise<WorkflowRun> {
  const run = await ports.runs.get(runId);
  if (run === undefined)
    throw new NotFoundError(`workflow run ${runId} does not exist`, { context: { runId } });
  return run;
}
