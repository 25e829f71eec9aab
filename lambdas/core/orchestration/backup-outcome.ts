/**
 * The outcome of a backup run as the product announces it: an EventBridge event
 * (source `rbp.backup`, detail-type `Backup Succeeded` / `Backup Failed`) and an SNS message.
 */
import { z } from 'zod';
import type { Clock, StepLog } from '../ports.ts';
import type { BackupContext, ExecutionRef } from './backup-request.ts';
import type { EventPublisher, LockStore, Notifier } from './orchestration-ports.ts';
import { REDRIVE_WINDOW_DAYS, resumeCommand } from './backup-lock.ts';
import {
  rotateBaseSnapshots,
  ROLE_PENDING,
  ROLE_RELEASED,
  ROLE_TAG,
  type ReplicaSnapshotsDeps,
} from './replica-snapshots.ts';
import type {
  CleanupInput,
  CleanupOutput,
  FailedRunState,
  PublishInput,
  PublishOutput,
  VolumeCatalog,
} from './step-state.ts';

export const BACKUP_SUCCEEDED = 'Backup Succeeded';
export const BACKUP_FAILED = 'Backup Failed';
/** A scheduled run skipped because the previous backup of the volume was still running. */
export const BACKUP_SKIPPED = 'Backup Skipped';
export const OUTCOME_EVENT_VERSION = 1;
/** SNS subjects are at most 100 characters (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html). */
export const SNS_SUBJECT_MAX_CHARS = 100;
/** Causes are truncated in events: a Step Functions cause can be 32 KiB, an event stays readable. */
export const MAX_CAUSE_CHARS = 2_000;

export interface BackupOutcomeDetail {
  readonly version: typeof OUTCOME_EVENT_VERSION;
  readonly status: 'SUCCEEDED' | 'FAILED' | 'SKIPPED';
  readonly backupId: string;
  readonly serverId: string;
  readonly volumeIds: readonly string[];
  readonly trigger: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** Committed images (SUCCEEDED). */
  readonly imageIds: readonly string[];
  /** Step Functions error name (FAILED). */
  readonly error?: string;
  readonly cause?: string;
  /** FAILED and suspended: the locks are released and a redrive of the execution resumes here. */
  readonly resumeAt?: string;
  /** FAILED and suspended: the command that resumes it (`rbp backup resume <backupId>`). */
  readonly resumeCommand?: string;
  /**
   * SUCCEEDED: the images of volumes with a parent that were read in full anyway, and why (the
   * image record's fullReadReason: UNRELATED_SNAPSHOTS, PARENT_SNAPSHOT_NOT_FOUND,
   * VOLUME_SIZE_CHANGED); absent when every image was a first full or an incremental.
   */
  readonly fullReads?: readonly OutcomeFullRead[];
  /**
   * SUCCEEDED: each volume's file catalog, when the run passed them on. An image whose catalog is
   * not `complete` restores whole, but its files cannot all be browsed or restored one by one.
   */
  readonly catalogs?: readonly OutcomeCatalog[];
}

export interface OutcomeFullRead {
  readonly volumeId: string;
  readonly imageId: string;
  readonly fullReadReason: string;
}

export interface OutcomeCatalog {
  readonly volumeId: string;
  readonly imageId: string;
  readonly status: VolumeCatalog['status'];
  readonly errorCount: number;
}

/** Catalog statuses that need an operator: the filesystem was there but could not be (fully) read. */
const DEGRADED_CATALOG_STATUSES: ReadonlySet<string> = new Set(['failed', 'partial']);

/** The catalogs of a succeeded run that need an operator's attention (failed or partial). */
export function degradedCatalogs(detail: BackupOutcomeDetail): readonly OutcomeCatalog[] {
  return (detail.catalogs ?? []).filter((c) => DEGRADED_CATALOG_STATUSES.has(c.status));
}

/** How many volumes of a succeeded run have a failed or partial catalog; undefined when the run passed none. */
export function degradedCatalogCount(input: PublishInput): number | undefined {
  if (input.status !== 'SUCCEEDED' || input.volumes === undefined) return undefined;
  return input.volumes.filter(
    (v) => v.catalog !== undefined && DEGRADED_CATALOG_STATUSES.has(v.catalog.status),
  ).length;
}

export function outcomeDetailType(detail: BackupOutcomeDetail): string {
  switch (detail.status) {
    case 'SUCCEEDED':
      return BACKUP_SUCCEEDED;
    case 'FAILED':
      return BACKUP_FAILED;
    case 'SKIPPED':
      return BACKUP_SKIPPED;
  }
}

/**
 * A Step Functions Catch puts `{Error, Cause}` in the state; Cause is often the JSON of a Lambda
 * error (`{"errorType","errorMessage",...}`): keep only its message.
 */
export function readableCause(cause: string | undefined): string | undefined {
  if (cause === undefined) return undefined;
  let text = cause;
  try {
    const parsed: unknown = JSON.parse(cause);
    if (parsed !== null && typeof parsed === 'object' && 'errorMessage' in parsed) {
      const message = parsed.errorMessage;
      if (typeof message === 'string') text = message;
    }
  } catch {
    // not JSON: keep the text as it is
  }
  return text.length > MAX_CAUSE_CHARS ? `${text.slice(0, MAX_CAUSE_CHARS - 1)}…` : text;
}

export function snsSubject(detail: BackupOutcomeDetail): string {
  const degraded = degradedCatalogs(detail);
  const catalogNote =
    degraded.length === 0
      ? ''
      : `, file catalog ${degraded.some((c) => c.status === 'failed') ? 'FAILED' : 'INCOMPLETE'}`;
  const subject = `rbp: backup ${detail.status === 'SUCCEEDED' ? 'succeeded' : 'FAILED'}${catalogNote} for ${detail.serverId}`;
  return subject.length > SNS_SUBJECT_MAX_CHARS ? subject.slice(0, SNS_SUBJECT_MAX_CHARS) : subject;
}

export function snsMessage(detail: BackupOutcomeDetail): string {
  const lines = [
    `Backup ${detail.backupId} of ${detail.serverId} (${detail.volumeIds.join(', ')}) ${detail.status}.`,
    `Trigger: ${detail.trigger}. Started ${detail.startedAt}, finished ${detail.finishedAt}.`,
  ];
  if (detail.imageIds.length > 0) lines.push(`Images: ${detail.imageIds.join(', ')}.`);
  for (const catalog of detail.catalogs ?? []) {
    const line = catalogLine(catalog);
    if (line !== undefined) lines.push(line);
  }
  if (detail.error !== undefined) lines.push(`Error: ${detail.error}: ${detail.cause ?? '(no cause)'}`);
  for (const read of detail.fullReads ?? []) {
    lines.push(
      `Image ${read.imageId} of ${read.volumeId} was read in full, not incrementally: ${read.fullReadReason} (rbp images show ${read.imageId}).`,
    );
  }
  if (detail.resumeAt !== undefined)
    lines.push(
      `Backup ${detail.backupId} is suspended: the volumes are free for the next backup and its snapshots are kept. ` +
        `Resume it within ${REDRIVE_WINDOW_DAYS} days with: ${resumeCommand(detail.backupId)} ` +
        `(it goes on at ${detail.resumeAt}; ranges already copied are not read again).`,
    );
  return lines.join('\n');
}

/** What a catalog that is not complete means for the operator; undefined for a complete one. */
function catalogLine(catalog: OutcomeCatalog): string | undefined {
  const which = `File catalog of ${catalog.volumeId} (${catalog.imageId})`;
  switch (catalog.status) {
    case 'complete':
    case 'running':
      return undefined;
    case 'partial':
      return `${which}: partial, ${catalog.errorCount} error(s): some files cannot be found or restored one by one (rbp images show ${catalog.imageId}); the volume restores whole.`;
    case 'failed':
      return `${which}: FAILED: its files cannot be browsed or restored one by one (rbp images show ${catalog.imageId}); the volume restores whole.`;
    case 'unsupported':
      return `${which}: no filesystem this product reads; the volume restores whole.`;
  }
}

/** Who a run was: from `$.backup`, or, for a run that failed before it existed, from the raw input. */
export interface RunIdentity {
  readonly backupId: string;
  readonly serverId: string;
  readonly volumeIds: readonly string[];
  readonly trigger: string;
  readonly startedAt: string;
}

/** A failed run as the failure path rebuilds it from the raw state (cleanup and publish share it). */
export interface FailedRun {
  /** The normalised request, when the run got past Acquire Lock. */
  readonly backup?: BackupContext;
  readonly identity: RunIdentity;
  /** Whose locks to release: the backup's owner, or this execution (it may hold some). */
  readonly ownerId: string;
  /** The failure's cause as an operator should read it, when the state has one. */
  readonly cause?: string;
  readonly error?: string;
}

function identityOf(backup: BackupContext): RunIdentity {
  return {
    backupId: backup.backupId,
    serverId: backup.serverId,
    volumeIds: backup.volumeIds,
    trigger: backup.trigger,
    startedAt: backup.startedAt,
  };
}

export function failedRunOf(state: FailedRunState, execution: ExecutionRef): FailedRun {
  const cause = readableCause(state.error?.Cause);
  const failure = {
    ...(cause === undefined ? {} : { cause }),
    ...(state.error === undefined ? {} : { error: state.error.Error }),
  };
  if (state.backup !== undefined)
    return {
      backup: state.backup,
      identity: identityOf(state.backup),
      ownerId: state.backup.ownerId,
      ...failure,
    };
  const rawVolumes = z.array(z.string()).safeParse(state.volumeIds);
  const volumeIds = rawVolumes.success ? rawVolumes.data : [];
  return {
    identity: {
      backupId: execution.name,
      serverId: typeof state.serverId === 'string' ? state.serverId : (volumeIds[0] ?? '(unknown)'),
      volumeIds,
      trigger: typeof state.trigger === 'string' ? state.trigger : 'manual',
      startedAt: new Date(execution.startTime).toISOString(),
    },
    ownerId: execution.id,
    ...failure,
  };
}

/** The outcome detail of a run that ended (`finishedAt`). */
export function outcomeDetail(input: PublishInput, finishedAt: Date): BackupOutcomeDetail {
  const common = { version: OUTCOME_EVENT_VERSION, finishedAt: finishedAt.toISOString() } as const;
  if (input.status === 'SUCCEEDED') {
    const catalogs = (input.volumes ?? []).flatMap((v): OutcomeCatalog[] =>
      v.catalog === undefined
        ? []
        : [
            {
              volumeId: v.volumeId,
              imageId: v.imageId,
              status: v.catalog.status,
              errorCount: v.catalog.errorCount,
            },
          ],
    );
    const fullReads = (input.volumes ?? []).flatMap((v): OutcomeFullRead[] =>
      v.fullReadReason === undefined
        ? []
        : [{ volumeId: v.volumeId, imageId: v.imageId, fullReadReason: v.fullReadReason }],
    );
    return {
      ...common,
      status: 'SUCCEEDED',
      ...identityOf(input.backup),
      imageIds: input.imageIds,
      ...(catalogs.length === 0 ? {} : { catalogs }),
      ...(fullReads.length === 0 ? {} : { fullReads }),
    };
  }
  if (input.status === 'SKIPPED')
    return {
      ...common,
      status: 'SKIPPED',
      ...identityOf(input.skipped.backup),
      imageIds: [],
      cause: readableCause(input.skipped.reason) ?? input.skipped.reason,
    };
  const run = failedRunOf(input.state, input.execution);
  const resumeAt = input.state.failure?.suspended === true ? input.state.resume?.state : undefined;
  return {
    ...common,
    status: 'FAILED',
    ...run.identity,
    imageIds: [],
    error: run.error ?? 'UnknownError',
    ...(run.cause === undefined ? {} : { cause: run.cause }),
    ...(resumeAt === undefined ? {} : { resumeAt, resumeCommand: resumeCommand(run.identity.backupId) }),
  };
}

/**
 * Publish Success / Publish Failure / Publish Skipped: the outcome on EventBridge, then (not for a
 * skipped run, which needs nobody's attention) on the SNS topic.
 */
export async function publishOutcome(
  deps: { readonly events: EventPublisher; readonly notifier: Notifier; readonly clock: Clock },
  input: PublishInput,
): Promise<PublishOutput> {
  const detail = outcomeDetail(input, deps.clock.now());
  await deps.events.publish(outcomeDetailType(detail), detail);
  if (detail.status !== 'SKIPPED') await deps.notifier.notify(snsSubject(detail), snsMessage(detail));
  return { published: true, status: detail.status };
}

export interface CleanupDeps extends ReplicaSnapshotsDeps {
  readonly locks: LockStore;
}

/**
 * Clean Up (`clean`), the failure path of a run that is over: releases this run's locks (never
 * another run's) and deletes the snapshots this run took that no image uses; when the image was
 * already committed (`$.image`), its snapshots become bases instead. Works on a state without
 * `$.backup`.
 *
 * Suspend Run (`suspend`), the failure path of a run a redrive may resume: the same, except that
 * the locks are marked released (anyone may take them; the redrive takes them back) and the
 * pending snapshots are tagged released instead of deleted (the redrive reclaims them; the next
 * image of the volume deletes them).
 */
export async function cleanUpFailedRun(
  deps: CleanupDeps,
  { mode, state, execution }: CleanupInput,
  log: StepLog,
): Promise<CleanupOutput> {
  const run = failedRunOf(state, execution);
  const cause = run.cause ?? run.error ?? '(no cause)';
  const { backup } = run;
  if (backup === undefined) {
    // Failed before the lock step returned: release whatever this execution may hold.
    const released =
      run.identity.volumeIds.length === 0
        ? { released: 0 }
        : await deps.locks.release(run.identity.volumeIds, run.ownerId);
    return { cause, locksReleased: released.released, snapshotsDeleted: [], snapshotsKeptAsBase: [] };
  }
  let snapshotsDeleted: string[] = [];
  let snapshotsKeptAsBase: string[] = [];
  const snapshotsReleased: string[] = [];
  if (state.image !== undefined && state.snapshots !== undefined) {
    await rotateBaseSnapshots(deps, backup, state.snapshots.items, log);
    snapshotsKeptAsBase = state.snapshots.items.map((s) => s.snapshotId);
  } else {
    const mine = await deps.snapshots.snapshotsOfBackup(backup.backupId);
    for (const snapshot of mine.filter((s) =>
      [ROLE_PENDING, ROLE_RELEASED].includes(s.tags[ROLE_TAG] ?? ''),
    )) {
      if (mode === 'suspend') {
        await deps.snapshots.tagSnapshot(snapshot.snapshotId, { [ROLE_TAG]: ROLE_RELEASED });
        snapshotsReleased.push(snapshot.snapshotId);
      } else if ((await deps.snapshots.deleteSnapshot(snapshot.snapshotId)) === 'deleted') {
        snapshotsDeleted.push(snapshot.snapshotId);
      }
    }
    snapshotsDeleted = snapshotsDeleted.sort();
  }
  const { released } =
    mode === 'suspend'
      ? await deps.locks.suspend(backup.volumeIds, backup.ownerId)
      : await deps.locks.release(backup.volumeIds, backup.ownerId);
  log.info(mode === 'suspend' ? 'suspended' : 'cleaned up', {
    released,
    snapshotsDeleted,
    snapshotsKeptAsBase,
    snapshotsReleased,
  });
  return {
    cause,
    locksReleased: released,
    snapshotsDeleted,
    snapshotsKeptAsBase,
    ...(mode === 'suspend' ? { snapshotsReleased: snapshotsReleased.sort() } : {}),
  };
}
