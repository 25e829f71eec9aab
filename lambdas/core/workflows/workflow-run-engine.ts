/**
 * One workflow run, advanced step by step by the run state machine
 * (statemachines/workflow-run.asl.json): each `advance` does what can be done now, records it on
 * the run and says how long to wait before the next look. The phases:
 *
 * - Restore: one volume restore per volume (the volume-restore state machine), to a snapshot
 *   encrypted with the deployment's key; a refresh names the previous clone's restore as its
 *   parent, so only the blocks whose chunks differ between the two images are written.
 * - Mask (when the workflow has a masking hook): the hook gets the unmasked snapshots and answers
 *   the masked ones; a hook that fails, times out or answers nonsense deletes the unmasked clone
 *   and fails the run. After a masking the unmasked snapshots are deleted: only masked data stays.
 * - Tag: rbp:workflow, rbp:run-id, rbp:image, rbp:source-volume, rbp:non-sensitive=true (only
 *   after a masking succeeded or when the workflow declares the data non-sensitive) and the
 *   workflow's own tags.
 * - CreateVolume (createVolume, DirectMount): a volume from each clone snapshot in the target zone.
 * - Attach (DirectMount): at the workflow's device, or the next free name when the volume this
 *   run replaces holds it.
 * - Replace: only now, with the new clone complete (and attached), the clone or mount of the run
 *   it replaces is detached and deleted.
 * - Unmount (an unmount run): the current mount is detached and deleted.
 *
 * A permanent failure fails the run and deletes what this run made (its snapshots and volumes);
 * what an earlier run made is kept. Retryable failures are thrown: the state machine retries the
 * step, and every step is safe to repeat (restores and volumes are created under tokens derived
 * from the run id, and each step records what it did).
 */
import { ConflictError, describeError, isRetryable, NotFoundError } from '../errors.ts';
import { GIB_BYTES } from '../geometry.ts';
import { MASKING_HOOK_EVENT_VERSION, runMaskingHook } from './masking.ts';
import { startVolumeRestore, type VolumeRestoreJob } from '../restore/volume-restore-jobs.ts';
import { mountDevices, requireTargetInstance } from './workflow-run-service.ts';
import { runRestoreId, type WorkflowRun, type WorkflowRunVolume } from './workflow-run.ts';
import type { WorkflowRunPorts } from './workflow-run-ports.ts';
import { CREATED_BY_WORKFLOW_TAG } from './workflow-service.ts';

/** Seconds between looks while restores run: a restore of a few GiB takes a minute or more. */
export const RESTORE_WAIT_SECONDS = 15;
/** Seconds between looks while EC2 creates, attaches or detaches a volume (seconds in EC2). */
export const VOLUME_WAIT_SECONDS = 5;
/** Seconds between looks while a masked snapshot completes. */
export const MASKED_SNAPSHOT_WAIT_SECONDS = 10;
/** Longest failure reason kept on a run: a sentence or two, never a stack. */
export const MAX_RUN_REASON_CHARS = 1_000;

/** The tag with the workflow's name on what a run makes (the tag a delete looks for, workflow-service.ts). */
export const WORKFLOW_TAG = CREATED_BY_WORKFLOW_TAG;
export const RUN_ID_TAG = 'rbp:run-id';
export const IMAGE_TAG = 'rbp:image';
export const SOURCE_VOLUME_TAG = 'rbp:source-volume';
export const NON_SENSITIVE_TAG = 'rbp:non-sensitive';

export interface AdvanceResult {
  readonly run: WorkflowRun;
  /** Present while the run goes on. */
  readonly waitSeconds?: number;
}

function withVolumes(run: WorkflowRun, volumes: WorkflowRunVolume[]): WorkflowRun {
  return { ...run, volumes };
}

async function previousRun(ports: WorkflowRunPorts, run: WorkflowRun): Promise<WorkflowRun | undefined> {
  return run.replacesRunId === undefined ? undefined : ports.runs.get(run.replacesRunId);
}

/** The restore job, or undefined when none has the id. */
async function restoreJobIfAny(
  ports: WorkflowRunPorts,
  restoreId: string,
): Promise<VolumeRestoreJob | undefined> {
  try {
    return await ports.restoreJobs.get(restoreId);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/** Restore phase: start what is not started; collect the finished restores. */
async function advanceRestores(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  const previous = await previousRun(ports, run);
  const volumes = [...run.volumes];
  let waiting = false;
  for (const [index, volume] of volumes.entries()) {
    if (volume.restoredSnapshotId !== undefined) continue;
    if (volume.restoreId === undefined) {
      const restoreId = runRestoreId(run.runId, index);
      // A refresh writes only the changed blocks over the previous clone's restore; the previous
      // clone must still be that restore's snapshot (a masked clone's unmasked restore is deleted).
      const parent = previous?.volumes.find(
        (v) =>
          v.sourceVolumeId === volume.sourceVolumeId &&
          v.restoreId !== undefined &&
          v.snapshotId !== undefined &&
          v.snapshotId === v.restoredSnapshotId,
      );
      // A retried step finds the job its first attempt created (the id is the run's): it is not
      // created twice; launched again while pending, since the first launch may be what failed
      // (StartExecution with the same name and input as a running execution succeeds:
      // https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
      const existing = await restoreJobIfAny(ports, restoreId);
      if (existing === undefined) {
        await startVolumeRestore(
          { jobs: ports.restoreJobs, clock: ports.clock, launcher: ports.restoreLauncher },
          {
            restoreId,
            volumeId: volume.sourceVolumeId,
            imageId: volume.imageId,
            ...(ports.kmsKeyArn === undefined ? {} : { kmsKeyArn: ports.kmsKeyArn }),
            ...(parent?.restoreId === undefined ? {} : { parentRestoreId: parent.restoreId }),
          },
        );
      } else if (existing.status === 'pending') {
        await ports.restoreLauncher.launch({ restoreId, kind: 'volume' });
      }
      volumes[index] = {
        ...volume,
        restoreId,
        ...(parent?.restoreId === undefined ? {} : { parentRestoreId: parent.restoreId }),
      };
      waiting = true;
      continue;
    }
    const job = await ports.restoreJobs.get(volume.restoreId);
    if (job.status === 'failed') {
      return failWith(
        ports,
        withVolumes(run, volumes),
        `restore ${volume.restoreId} of ${volume.sourceVolumeId} (${volume.imageId}) failed: ${job.failure?.reason ?? 'no reason recorded'}`,
      );
    }
    if (job.status !== 'succeeded' || job.snapshotId === undefined) {
      waiting = true;
      continue;
    }
    volumes[index] = {
      ...volume,
      restoredSnapshotId: job.snapshotId,
      ...(job.changedBlocksCount === undefined ? {} : { changedBlocksCount: job.changedBlocksCount }),
    };
  }
  if (waiting) return { run: withVolumes(run, volumes), waitSeconds: RESTORE_WAIT_SECONDS };
  if (run.document.masking !== undefined) return { run: { ...withVolumes(run, volumes), phase: 'Mask' } };
  return {
    run: {
      ...withVolumes(
        run,
        volumes.map((v) => ({ ...v, snapshotId: v.restoredSnapshotId! })),
      ),
      phase: 'Tag',
    },
  };
}

/** Mask phase: call the hook once (masking.ts), then wait for its snapshots, then delete the unmasked ones. */
async function advanceMasking(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  const masking = run.document.masking!;
  let volumes = run.volumes;
  if (volumes.some((v) => v.snapshotId === undefined)) {
    const now = ports.clock.now();
    const devices = await Promise.all(
      volumes.map(async (v) => {
        const image = await ports.images.getImage(v.imageId);
        return {
          sourceVolumeId: v.sourceVolumeId,
          imageId: v.imageId,
          snapshotId: v.restoredSnapshotId!,
          ...(v.volumeId === undefined ? {} : { volumeId: v.volumeId }),
          sizeGiB: Math.max(1, Math.ceil(image.volumeSizeBytes / GIB_BYTES)),
        };
      }),
    );
    const outcome = await runMaskingHook(ports.masking, masking, {
      version: MASKING_HOOK_EVENT_VERSION,
      phase: 'masking',
      workflow: run.workflow,
      runId: run.runId,
      ...(run.document.server === undefined ? {} : { server: run.document.server }),
      deadline: new Date(now.getTime() + masking.timeoutSeconds * 1_000).toISOString(),
      tags: { ...(run.document.tags ?? {}), [WORKFLOW_TAG]: run.workflow, [RUN_ID_TAG]: run.runId },
      devices,
    });
    if (!outcome.ok) return failWith(ports, run, outcome.reason);
    volumes = volumes.map((v) => ({ ...v, snapshotId: outcome.masked.get(v.sourceVolumeId)! }));
    run = withVolumes(run, volumes);
  }
  for (const volume of volumes) {
    const state = await ports.resources.snapshotState(volume.snapshotId!);
    if (state === 'pending') return { run, waitSeconds: MASKED_SNAPSHOT_WAIT_SECONDS };
    if (state !== 'completed') {
      return failWith(
        ports,
        run,
        `masking hook ${masking.function}: masked snapshot ${volume.snapshotId} is ${state}`,
      );
    }
  }
  for (const volume of volumes) {
    if (volume.restoredSnapshotId !== volume.snapshotId) {
      await ports.resources.deleteSnapshot(volume.restoredSnapshotId!);
    }
  }
  return { run: { ...run, nonSensitive: true, phase: 'Tag' } };
}

function creationTags(run: WorkflowRun, volume: WorkflowRunVolume): Record<string, string> {
  return {
    ...(run.document.tags ?? {}),
    [WORKFLOW_TAG]: run.workflow,
    [RUN_ID_TAG]: run.runId,
    [IMAGE_TAG]: volume.imageId,
    [SOURCE_VOLUME_TAG]: volume.sourceVolumeId,
    ...(run.nonSensitive ? { [NON_SENSITIVE_TAG]: 'true' } : {}),
  };
}

async function advanceTagging(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  const tagged: WorkflowRun = { ...run, nonSensitive: run.nonSensitive || run.document.nonSensitive };
  for (const volume of tagged.volumes) {
    await ports.resources.tag([volume.snapshotId!], creationTags(tagged, volume));
  }
  const needsVolumes = tagged.type === 'DirectMount' || tagged.document.createVolume === true;
  return { run: { ...tagged, phase: needsVolumes ? 'CreateVolume' : 'Replace' } };
}

async function advanceVolumes(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  const zone = run.document.target.availabilityZone!;
  const volumes = [...run.volumes];
  let waiting = false;
  for (const [index, volume] of volumes.entries()) {
    if (volume.volumeId === undefined) {
      const volumeId = await ports.resources.createVolume({
        snapshotId: volume.snapshotId!,
        availabilityZone: zone,
        tags: creationTags(run, volume),
        clientToken: `${run.runId}-v${index}`,
      });
      volumes[index] = { ...volume, volumeId };
      waiting = true;
      continue;
    }
    const described = await ports.resources.describeVolume(volume.volumeId);
    if (described === undefined || described.state === 'error' || described.state === 'deleting') {
      return failWith(
        ports,
        withVolumes(run, volumes),
        `volume ${volume.volumeId} from ${volume.snapshotId} is ${described?.state ?? 'gone'}`,
      );
    }
    if (described.state === 'creating') waiting = true;
  }
  if (waiting) return { run: withVolumes(run, volumes), waitSeconds: VOLUME_WAIT_SECONDS };
  return { run: { ...withVolumes(run, volumes), phase: run.type === 'DirectMount' ? 'Attach' : 'Replace' } };
}

async function advanceAttach(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  const instanceId = run.document.target.instanceId!;
  let volumes = [...run.volumes];
  if (volumes.some((v) => v.device === undefined)) {
    let devices: string[];
    try {
      const instance = await requireTargetInstance(ports, run.document);
      const previous = await previousRun(ports, run);
      const held = (previous?.volumes ?? []).flatMap((v) => (v.device === undefined ? [] : [v.device]));
      devices = mountDevices(
        volumes.map((v) => v.sourceVolumeId),
        run.document,
        instance,
        held,
      );
    } catch (error) {
      if (isRetryable(error)) throw error;
      return failWith(ports, run, describeError(error));
    }
    volumes = volumes.map((v, i) => ({ ...v, device: devices[i]! }));
    for (const volume of volumes) {
      // A retried step skips the volumes its first attempt attached (EC2 refuses a second AttachVolume).
      const described = await ports.resources.describeVolume(volume.volumeId!);
      if (described?.attachments.some((a) => a.instanceId === instanceId && a.state !== 'detached')) continue;
      await ports.resources.attachVolume(volume.volumeId!, instanceId, volume.device!);
    }
    return { run: withVolumes(run, volumes), waitSeconds: VOLUME_WAIT_SECONDS };
  }
  let waiting = false;
  volumes = await Promise.all(
    volumes.map(async (volume) => {
      const described = await ports.resources.describeVolume(volume.volumeId!);
      const attachment = described?.attachments.find((a) => a.instanceId === instanceId);
      if (attachment?.state === 'attached' || described?.state === 'in-use')
        return { ...volume, attached: true };
      waiting = true;
      return volume;
    }),
  );
  if (waiting) return { run: withVolumes(run, volumes), waitSeconds: VOLUME_WAIT_SECONDS };
  return { run: { ...withVolumes(run, volumes), phase: 'Replace' } };
}

/**
 * Detaches (if attached) and deletes the volumes of `volumes`, and deletes their snapshots.
 * Returns true when something is still detaching (look again later).
 */
async function removeResources(
  ports: WorkflowRunPorts,
  volumes: readonly WorkflowRunVolume[],
): Promise<boolean> {
  let detaching = false;
  for (const volume of volumes) {
    if (volume.volumeId === undefined) continue;
    const described = await ports.resources.describeVolume(volume.volumeId);
    if (described === undefined) continue;
    const attachment = described.attachments.find((a) => a.state !== 'detached');
    if (attachment !== undefined) {
      if (attachment.state !== 'detaching') {
        await ports.resources.detachVolume(volume.volumeId, attachment.instanceId);
      }
      detaching = true;
      continue;
    }
    if (described.state === 'in-use') {
      detaching = true;
      continue;
    }
    await ports.resources.deleteVolume(volume.volumeId);
  }
  if (detaching) return true;
  for (const volume of volumes) {
    for (const snapshotId of new Set([volume.snapshotId, volume.restoredSnapshotId])) {
      if (snapshotId !== undefined) await ports.resources.deleteSnapshot(snapshotId);
    }
  }
  return false;
}

/** Replace / Unmount: remove what the earlier run made, then finish. */
async function advanceReplace(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  const previous = await previousRun(ports, run);
  if (previous !== undefined && previous.replacedByRunId === undefined) {
    if (await removeResources(ports, previous.volumes)) return { run, waitSeconds: VOLUME_WAIT_SECONDS };
    await ports.runs.replace(
      { ...previous, revision: previous.revision + 1, replacedByRunId: run.runId },
      previous.revision,
    );
  }
  return {
    run: {
      ...run,
      status: 'Succeeded',
      phase: 'Finished',
      endedAt: ports.clock.now().toISOString(),
    },
  };
}

/**
 * Fails the run: deletes every snapshot and volume this run made (an unmasked clone is never left
 * behind), records the reason. Saves the run itself (the caller returns its result unchanged).
 * A failure while removing the clone this run replaces (phase Replace) keeps this run's clone: it
 * is complete (masked, tagged, attached) and is the workflow's clone now (currentRunOf).
 */
async function failWith(ports: WorkflowRunPorts, run: WorkflowRun, reason: string): Promise<AdvanceResult> {
  const recorded = run.action === 'run' && run.phase !== 'Replace' ? run.volumes : [];
  if (recorded.length > 0 && (await settleOwnRestores(ports, run))) {
    const pending: WorkflowRun = { ...run, reason: reason.slice(0, MAX_RUN_REASON_CHARS) };
    return { run: pending, waitSeconds: RESTORE_WAIT_SECONDS };
  }
  // What the run made but had not recorded yet (a failure between a call and the save of its answer).
  const unrecorded =
    recorded.length === 0
      ? { snapshotIds: [], volumeIds: [] }
      : await ports.resources.taggedWithRun(run.runId);
  const own: WorkflowRunVolume[] = [
    ...recorded,
    ...unrecorded.volumeIds.map((volumeId) => ({ sourceVolumeId: '', imageId: '', volumeId })),
    ...unrecorded.snapshotIds.map((snapshotId) => ({ sourceVolumeId: '', imageId: '', snapshotId })),
  ];
  // Volumes this run attached are detached first; the state machine comes back until they are gone.
  if (await removeResources(ports, own)) {
    const pending: WorkflowRun = { ...run, reason: reason.slice(0, MAX_RUN_REASON_CHARS) };
    return { run: pending, waitSeconds: VOLUME_WAIT_SECONDS };
  }
  return {
    run: {
      ...run,
      status: 'Failed',
      phase: 'Finished',
      reason: reason.slice(0, MAX_RUN_REASON_CHARS),
      endedAt: ports.clock.now().toISOString(),
      volumes: recorded.length === 0 ? run.volumes : run.volumes.map(stripDeleted),
    },
  };
}

/**
 * The restores of a failed run whose snapshot it has not recorded (it failed between starting a
 * restore and the look that records its snapshot): a pending one is cancelled (failed before
 * anything runs it), a running one is waited for, a finished one's snapshot is deleted. Restore
 * ids are the run's (`<runId>-v<index>`), so they are found whether recorded or not. True while
 * one is still running.
 */
async function settleOwnRestores(ports: WorkflowRunPorts, run: WorkflowRun): Promise<boolean> {
  let running = false;
  for (const [index, volume] of run.volumes.entries()) {
    if (volume.restoredSnapshotId !== undefined) continue;
    const restoreId = runRestoreId(run.runId, index);
    const job = await restoreJobIfAny(ports, restoreId);
    if (job === undefined) continue;
    if (job.status === 'pending') {
      try {
        await ports.restoreJobs.update(
          {
            ...job,
            status: 'failed',
            updatedAt: ports.clock.now().toISOString(),
            failure: {
              reason: `workflow run ${run.runId} failed before this restore started`,
              errorName: 'Cancelled',
            },
          },
          ['pending'],
        );
        continue;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        running = true; // it started meanwhile
        continue;
      }
    }
    if (job.status === 'running') running = true;
    else if (job.snapshotId !== undefined) await ports.resources.deleteSnapshot(job.snapshotId);
  }
  return running;
}

/** A failed run's volumes keep what was attempted (restore ids, images) but not the deleted resources. */
function stripDeleted(volume: WorkflowRunVolume): WorkflowRunVolume {
  return {
    sourceVolumeId: volume.sourceVolumeId,
    imageId: volume.imageId,
    ...(volume.restoreId === undefined ? {} : { restoreId: volume.restoreId }),
    ...(volume.parentRestoreId === undefined ? {} : { parentRestoreId: volume.parentRestoreId }),
    ...(volume.changedBlocksCount === undefined ? {} : { changedBlocksCount: volume.changedBlocksCount }),
  };
}

/** One step of the run: as far as it can go now. */
export async function advanceWorkflowRun(ports: WorkflowRunPorts, run: WorkflowRun): Promise<AdvanceResult> {
  if (run.status !== 'Running') return { run };
  // A failure being cleaned up (its reason is set while it waits for detachments).
  if (run.reason !== undefined) return failWith(ports, run, run.reason);
  try {
    switch (run.phase) {
      case 'Restore':
        return await advanceRestores(ports, run);
      case 'Mask':
        return await advanceMasking(ports, run);
      case 'Tag':
        return await advanceTagging(ports, run);
      case 'CreateVolume':
        return await advanceVolumes(ports, run);
      case 'Attach':
        return await advanceAttach(ports, run);
      case 'Replace':
      case 'Unmount':
        return await advanceReplace(ports, run);
      case 'Finished':
        return { run };
    }
  } catch (error) {
    if (isRetryable(error)) throw error;
    return failWith(ports, run, `${run.phase}: ${describeError(error)}`);
  }
}

/** Fails a run from outside (the state machine's catch): cleanup as for any failure. */
export async function failWorkflowRunNow(
  ports: WorkflowRunPorts,
  run: WorkflowRun,
  cause: string,
): Promise<AdvanceResult> {
  if (run.status !== 'Running') return { run };
  return failWith(ports, run, run.reason ?? `the run failed inside the service: ${cause}`);
}
