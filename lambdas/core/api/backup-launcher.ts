/**
 * On-demand backups (POST /backups, GET /backups/{id}) over the backup state machine: one
 * execution per backup, named by the backup id. "Already running" is decided by the volume's lock
 * alone, with one conditional write: before StartExecution the launcher takes the lock on behalf
 * of the execution it is about to start (owner = that execution's ARN, which the execution's
 * Acquire Lock then finds as its own), for RESERVATION_TTL_SECONDS. A second start finds the lock
 * held and is refused with a ConflictError naming the running backup, whatever the number of
 * executions; two starts racing end with exactly one holder. No execution is listed or described.
 */
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { lockItemsFor } from '../orchestration/backup-lock.ts';
import { BackupAlreadyRunningError } from '../orchestration/orchestration-errors.ts';
import { readableCause } from '../orchestration/backup-outcome.ts';
import type { LockStore } from '../orchestration/orchestration-ports.ts';
import type { BackupLauncher } from './api-ports.ts';
import type { Backup } from './schemas.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readBackupProgress } from './backup-progress.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';
import { cancelBackup, type BackupCancelDeps, type BackupCancellation } from './backup-cancel.ts';
import { resumeBackup, type BackupResumption } from './backup-resume.ts';

export type ExecutionStatus = Backup['status'];

export interface ExecutionSummary {
  /** The execution name = the backup id. */
  readonly name: string;
  readonly status: ExecutionStatus;
  readonly startedAt: string;
  readonly stoppedAt?: string;
}

export interface ExecutionDetail extends ExecutionSummary {
  /** The execution input as started (JSON text). */
  readonly input?: string;
  /** The execution output (JSON text) once it succeeded. */
  readonly output?: string;
  readonly error?: string;
  readonly cause?: string;
  /** Name of the last state entered, from the execution history. */
  readonly currentStep?: string;
  /** When the newest Copy Ranges state seen in the history was entered (ISO-8601): the copy's start. */
  readonly copyStartedAt?: string;
  /** The step that failed, for an execution that did not succeed. */
  readonly failedStep?: string;
  /**
   * Whether RedriveExecution would be accepted now (DescribeExecution's redriveStatus; absent from
   * an emulator that does not say) and, when it would not, the service's reason.
   * https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html
   */
  readonly redriveStatus?: 'REDRIVABLE' | 'NOT_REDRIVABLE' | 'REDRIVABLE_BY_MAP_RUN';
  readonly redriveStatusReason?: string;
}

/** The backup state machine, as the launcher needs it (adapter: lambdas/aws/sfn-backup-executions.ts). */
export interface BackupExecutions {
  /** Starts an execution named `name`. ConflictError when that name already exists. */
  start(name: string, input: unknown): Promise<{ readonly startedAt: string }>;
  /** NotFoundError when no execution has this name. */
  describe(name: string): Promise<ExecutionDetail>;
  /** The id (ARN) the execution named `name` has or will have: the owner of its locks. */
  executionIdOf(name: string): string;
  /** One page of executions, newest first, described (with failedStep when not succeeded). */
  list?(request: {
    readonly status?: ExecutionStatus;
    readonly limit: number;
    readonly pageToken?: string;
  }): Promise<{ readonly items: readonly ExecutionDetail[]; readonly nextToken?: string }>;
  /** The step that failed in an execution that did not succeed. */
  failedStep?(name: string): Promise<string | undefined>;
  /** Stops the execution named `name` (StopExecution); stopping one that ended is a no-op. */
  stop?(name: string, error: string, cause: string): Promise<void>;
  /**
   * Redrives the execution named `name` (RedriveExecution): it goes on from the state that failed,
   * with that state's input. NotFoundError for an unknown name; BackupNotResumableError when the
   * service refuses it (ExecutionNotRedrivable: running, succeeded, past the redrive window).
   */
  redrive?(name: string): Promise<{ readonly redrivenAt: string }>;
}

/**
 * How long a lock taken for an execution about to start stays valid before that execution's
 * Acquire Lock rewrites it with the run's own lifetime: StartExecution answers in well under a
 * second and Acquire Lock retries a throttled Lambda for about two minutes; a launcher that died
 * between the lock and the start frees the volume after this.
 */
export const RESERVATION_TTL_SECONDS = 900;

/** The lock operations the launcher uses (DynamoDbBackupLockStore; one conditional write each). */
export type LockReservations = Pick<LockStore, 'acquire' | 'release'>;

/** Tells whether the volume is one the product backs up. NotFoundError when it is not. */
export interface ProtectedVolumes {
  assertProtected(volumeId: string): Promise<void>;
  /**
   * The server a backup of the volume is filed under: its `rbp:source-server` tag, or the volume
   * id for an untagged replica volume (a server of its own); undefined when it is no replica
   * volume. Absent: a running `--volume` backup shows no server.
   */
  serverOfVolume?(volumeId: string): Promise<string | undefined>;
}

/** Code of the refusal when a backup of the volume is already running (details.reason). */
export const BACKUP_ALREADY_RUNNING = 'BackupAlreadyRunning';

export class BackupAlreadyRunningConflict extends ConflictError {}

/**
 * Takes the locks of the input's volumes for the backup's execution in one transaction, then
 * starts the execution; "already running" is decided by the locks alone. A held lock is a 409
 * naming `what` (a volume id, `server s1`) and the running backup; a failed start gives the locks
 * back (only our own; idempotent) so nothing stays locked for an execution that never ran.
 */
export async function lockAndStart(
  deps: { readonly executions: BackupExecutions; readonly locks: LockReservations; readonly clock: Clock },
  backupId: string,
  input: { readonly volumeIds: readonly string[] },
  conflict: { readonly what: string; readonly context: Readonly<Record<string, string>> },
): Promise<{ readonly startedAt: string }> {
  const { volumeIds } = input;
  const ownerId = deps.executions.executionIdOf(backupId);
  const locks = lockItemsFor(
    { volumeIds: [...volumeIds], ownerId, backupId, ttlSeconds: RESERVATION_TTL_SECONDS },
    deps.clock.now(),
  );
  try {
    await deps.locks.acquire(locks);
  } catch (error) {
    if (!(error instanceof BackupAlreadyRunningError)) throw error;
    const runningBackupId = String(error.context['heldBy']);
    throw new BackupAlreadyRunningConflict(
      `a backup of ${conflict.what} is already running (${runningBackupId}); wait for it to finish`,
      {
        cause: error,
        context: {
          reason: BACKUP_ALREADY_RUNNING,
          ...conflict.context,
          runningBackupId,
          lockExpiresAt: String(error.context['heldUntil']),
        },
      },
    );
  }
  try {
    return await deps.executions.start(backupId, input);
  } catch (error) {
    // Nothing runs: give the volumes back.
    await deps.locks.release([...volumeIds], ownerId).catch(() => undefined);
    throw error;
  }
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Every volume of the backup (`volumeIds` in the execution input). */
export function volumesOfInput(input: string | undefined): string[] {
  const parsed = parseJson(input) as { volumeIds?: unknown } | undefined;
  const ids = parsed?.volumeIds;
  return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === 'string') : [];
}

function volumeOfInput(input: string | undefined): string | undefined {
  const parsed = parseJson(input) as { volumeIds?: unknown } | undefined;
  const ids = parsed?.volumeIds;
  return Array.isArray(ids) && typeof ids[0] === 'string' ? ids[0] : undefined;
}

function fullOfInput(input: string | undefined): boolean | undefined {
  const parsed = parseJson(input) as { full?: unknown } | undefined;
  return typeof parsed?.full === 'boolean' ? parsed.full : undefined;
}

/** The committed image's kind in the execution output (`$.image.result.kind`, backup.asl.json). */
function kindOfOutput(output: string | undefined): 'full' | 'incremental' | undefined {
  const parsed = parseJson(output) as { image?: { result?: { kind?: unknown } } } | undefined;
  const kind = parsed?.image?.result?.kind;
  return kind === 'full' || kind === 'incremental' ? kind : undefined;
}

/** The committed image id in the execution output: `$.image.result.imageId` (backup.asl.json), or `$.imageId`. */
function imageIdOfOutput(output: string | undefined): string | undefined {
  const parsed = parseJson(output) as
    { imageId?: unknown; image?: { result?: { imageId?: unknown } } } | undefined;
  const id = parsed?.image?.result?.imageId ?? parsed?.imageId;
  return typeof id === 'string' ? id : undefined;
}

interface RecoveryPointOutput {
  readonly recoveryPointId: string;
  /** The server the point is filed under (a `--volume` backup's: its volume's `rbp:source-server`). */
  readonly serverId?: string;
  readonly images: readonly { volumeId: string; device: string; imageId: string; kind?: string }[];
}

/** The recovery point in the execution output (`$.recoveryPoint.result`, backup.asl.json), if any. */
function recoveryPointOfOutput(output: string | undefined): RecoveryPointOutput | undefined {
  const parsed = parseJson(output) as
    { recoveryPoint?: { result?: Partial<RecoveryPointOutput> } } | undefined;
  const result = parsed?.recoveryPoint?.result;
  if (typeof result?.recoveryPointId !== 'string' || !Array.isArray(result.images)) return undefined;
  return {
    recoveryPointId: result.recoveryPointId,
    ...(typeof result.serverId === 'string' ? { serverId: result.serverId } : {}),
    images: result.images,
  };
}

/** The server of a backup of a whole server (`serverId` in the execution input). */
function serverOfInput(input: string | undefined): string | undefined {
  const parsed = parseJson(input) as { serverId?: unknown } | undefined;
  return typeof parsed?.serverId === 'string' ? parsed.serverId : undefined;
}

/** The committed image's stats in the execution output (`$.image.result.stats`, commit-image's answer). */
function statsOfOutput(output: string | undefined): { blocksRead: number; bytesCreated: number } | undefined {
  const parsed = parseJson(output) as
    { image?: { result?: { stats?: Record<string, unknown> } } } | undefined;
  const stats = parsed?.image?.result?.stats;
  return typeof stats?.['blocksRead'] === 'number' && typeof stats['bytesCreated'] === 'number'
    ? { blocksRead: stats['blocksRead'], bytesCreated: stats['bytesCreated'] }
    : undefined;
}

/** What a listing adds to a backup: its duration, what it copied and stored, and the step that failed. */
export function historyOf(
  detail: ExecutionDetail,
): Pick<Backup, 'durationSeconds' | 'bytesCopied' | 'bytesStored' | 'failedStep'> {
  const stats = detail.status === 'SUCCEEDED' ? statsOfOutput(detail.output) : undefined;
  return {
    ...(detail.stoppedAt === undefined
      ? {}
      : {
          durationSeconds: Math.max(
            0,
            Math.round((Date.parse(detail.stoppedAt) - Date.parse(detail.startedAt)) / 1000),
          ),
        }),
    ...(stats === undefined
      ? {}
      : { bytesCopied: stats.blocksRead * EBS_BLOCK_SIZE_BYTES, bytesStored: stats.bytesCreated }),
    ...(detail.failedStep === undefined ? {} : { failedStep: detail.failedStep }),
  };
}

export function backupOf(detail: ExecutionDetail): Backup {
  const volumeId = volumeOfInput(detail.input);
  const point = detail.status === 'SUCCEEDED' ? recoveryPointOfOutput(detail.output) : undefined;
  // A server's backup names it in its input; a `--volume` backup's point is filed under the
  // volume's server tag, which the committed point names once the backup succeeded.
  const serverId = serverOfInput(detail.input) ?? point?.serverId;
  // A finished backup is full when its image is (the first image of a volume is full whatever was
  // asked), or when every image of its recovery point is; until then, what the request asked.
  const kind =
    detail.status !== 'SUCCEEDED'
      ? undefined
      : (kindOfOutput(detail.output) ??
        (point === undefined
          ? undefined
          : point.images.every((i) => i.kind === 'full')
            ? 'full'
            : 'incremental'));
  const full = kind === undefined ? fullOfInput(detail.input) : kind === 'full';
  const imageId =
    detail.status === 'SUCCEEDED'
      ? (imageIdOfOutput(detail.output) ??
        (point?.images.length === 1 ? point.images[0]!.imageId : undefined))
      : undefined;
  return {
    backupId: detail.name,
    ...(volumeId === undefined ? {} : { volumeId }),
    ...(serverId === undefined ? {} : { serverId }),
    ...(point === undefined
      ? {}
      : {
          recoveryPointId: point.recoveryPointId,
          images: point.images.map((i) => ({ volumeId: i.volumeId, device: i.device, imageId: i.imageId })),
        }),
    ...(full === undefined ? {} : { full }),
    status: detail.status,
    startedAt: detail.startedAt,
    ...(detail.stoppedAt === undefined ? {} : { stoppedAt: detail.stoppedAt }),
    ...(detail.currentStep === undefined ? {} : { step: detail.currentStep }),
    ...(imageId === undefined ? {} : { imageId }),
    ...(detail.error === undefined ? {} : { error: detail.error }),
    // A run that failed in a Lambda task (Await Redrive's BackupSuspendedError among them) has the
    // function's error JSON as its cause (errorType, errorMessage, stack trace): show its message.
    ...(detail.cause === undefined ? {} : { cause: readableCause(detail.cause) }),
  };
}

export class StateMachineBackupLauncher implements BackupLauncher {
  constructor(
    private readonly deps: {
      readonly executions: BackupExecutions;
      readonly locks: LockReservations;
      readonly volumes: ProtectedVolumes;
      readonly clock: Clock;
      /** The work bucket, where a running backup's progress is read (backup-progress.ts); absent: no progress. */
      readonly work?: ObjectStore;
      /**
       * What a cancel deletes and checks (backup-cancel.ts); absent: backups cannot be cancelled
       * here. A resume reads the run's snapshots through the same port (backup-resume.ts).
       */
      readonly cancellation?: Pick<BackupCancelDeps, 'snapshots' | 'records'>;
    },
  ) {}

  /** POST /backups/{id}/resume (backup-resume.ts): redrives a suspended backup. */
  resume(backupId: string): Promise<BackupResumption> {
    const { executions, cancellation } = this.deps;
    const redrive = executions.redrive?.bind(executions);
    if (redrive === undefined)
      throw new ValidationError('resuming backups is not available in this deployment');
    return resumeBackup(
      {
        executions: {
          describe: (name) => executions.describe(name),
          executionIdOf: (name) => executions.executionIdOf(name),
          ...(executions.failedStep === undefined
            ? {}
            : { failedStep: (name: string) => executions.failedStep!(name) }),
          redrive,
        },
        locks: this.deps.locks,
        ...(cancellation === undefined ? {} : { snapshots: cancellation.snapshots }),
        clock: this.deps.clock,
      },
      backupId,
    );
  }

  /** POST /backups/{id}/cancel (backup-cancel.ts). */
  cancel(backupId: string, by: string): Promise<BackupCancellation> {
    const { executions, cancellation } = this.deps;
    const stop = executions.stop?.bind(executions);
    if (cancellation === undefined || stop === undefined)
      throw new ValidationError('cancelling backups is not available in this deployment');
    return cancelBackup(
      {
        executions: {
          describe: (name) => executions.describe(name),
          executionIdOf: (name) => executions.executionIdOf(name),
          stop,
        },
        locks: this.deps.locks,
        ...cancellation,
      },
      backupId,
      by,
    );
  }

  async start(request: {
    backupId: string;
    volumeId: string;
    full: boolean;
    trigger: string;
    source?: 'replica' | 'primary';
  }): Promise<Backup> {
    const { volumeId, backupId } = request;
    await this.deps.volumes.assertProtected(volumeId);
    const input = {
      volumeIds: [volumeId],
      full: request.full,
      trigger: request.trigger,
      ...(request.source === undefined ? {} : { source: request.source }),
    };
    const started = await lockAndStart(this.deps, backupId, input, { what: volumeId, context: { volumeId } });
    return {
      backupId,
      volumeId,
      full: request.full,
      status: 'RUNNING',
      startedAt: started.startedAt,
    };
  }

  list(query: BackupListQuery): Promise<{ readonly items: readonly Backup[]; readonly nextToken?: string }> {
    return listBackups(this.deps.executions, query);
  }

  async describe(backupId: string): Promise<Backup> {
    const described = await this.deps.executions.describe(backupId);
    const failedStep =
      described.status === 'RUNNING' || described.status === 'SUCCEEDED'
        ? undefined
        : await this.deps.executions.failedStep?.(backupId);
    const detail = failedStep === undefined ? described : { ...described, failedStep };
    const found = { ...backupOf(detail), ...historyOf(detail) };
    const backup = detail.status === 'RUNNING' ? await this.withServerWhileRunning(found) : found;
    if (detail.status !== 'RUNNING' || this.deps.work === undefined) return backup;
    const since = Date.parse(detail.copyStartedAt ?? detail.startedAt);
    const progress = await readBackupProgress(this.deps.work, {
      backupId,
      volumeIds: volumesOfInput(detail.input),
      elapsedSeconds: (this.deps.clock.now().getTime() - since) / 1000,
    });
    return progress === undefined ? backup : { ...backup, progress };
  }

  /**
   * A running `--volume` backup with the server its recovery point will be filed under: the
   * volume's `rbp:source-server` tag (the run reads the same tag when it commits the point), or
   * the volume itself when untagged. The committed point names it once the backup succeeded.
   */
  private async withServerWhileRunning(backup: Backup): Promise<Backup> {
    if (backup.serverId !== undefined || backup.volumeId === undefined) return backup;
    const serverId = await this.deps.volumes.serverOfVolume?.(backup.volumeId);
    if (serverId === undefined) return backup;
    // Keys in the order backupOf gives them: serverId right after volumeId.
    const { backupId, volumeId, ...rest } = backup;
    return { backupId, volumeId, serverId, ...rest };
  }
}

/** Filters of GET /backups. */
export interface BackupListQuery {
  readonly status?: ExecutionStatus;
  readonly volumeId?: string;
  readonly serverId?: string;
  readonly limit: number;
  readonly pageToken?: string;
}

/**
 * One page of backups, newest first, from the state machine's executions (Step Functions keeps
 * them 90 days after they end). The volume and server filters apply to the page the service
 * answered: a filtered page may hold fewer than `limit` backups and still have a next page.
 */
export async function listBackups(
  executions: BackupExecutions,
  query: BackupListQuery,
): Promise<{ readonly items: readonly Backup[]; readonly nextToken?: string }> {
  if (executions.list === undefined) throw new ValidationError('listing backups is not available here');
  const page = await executions.list({
    limit: query.limit,
    ...(query.status === undefined ? {} : { status: query.status }),
    ...(query.pageToken === undefined ? {} : { pageToken: query.pageToken }),
  });
  const items = page.items
    .filter((d) => query.volumeId === undefined || volumesOfInput(d.input).includes(query.volumeId))
    .map((d) => ({ ...backupOf(d), ...historyOf(d) }))
    .filter((b) => query.serverId === undefined || b.serverId === query.serverId);
  return { items, ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }) };
}

/** A NotFoundError for a backup id that has no execution (adapters use it). */
export function backupNotFound(backupId: string, cause?: unknown): NotFoundError {
  return new NotFoundError(`backup ${backupId} does not exist`, { cause, context: { backupId } });
}
