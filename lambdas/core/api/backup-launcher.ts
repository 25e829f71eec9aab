/**
 * On-demand backups (POST /backups, GET /backups/{id}) over the backup state machine: one
 * execution per backup, named by the backup id. A start is refused with a ConflictError naming
 * the running backup when the volume's lock is held (and not expired) or when an execution for the
 * volume is still running (it may not have taken the lock yet). The state machine's own lock step
 * stays the authority: two starts racing past this check still end with one run (design step 2).
 */
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import type { BackupLauncher } from './api-ports.ts';
import type { Backup } from './schemas.ts';

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
}

/** The backup state machine, as the launcher needs it (adapter: lambdas/aws/sfn-backup-executions.ts). */
export interface BackupExecutions {
  /** Starts an execution named `name`. ConflictError when that name already exists. */
  start(name: string, input: unknown): Promise<{ readonly startedAt: string }>;
  /** Executions still running, with their input, newest first. */
  listRunning(): Promise<readonly ExecutionDetail[]>;
  /** NotFoundError when no execution has this name. */
  describe(name: string): Promise<ExecutionDetail>;
}

/** A held lock as the launcher reads it (adapter over the lock table item). */
export interface HeldLock {
  readonly volumeId: string;
  readonly backupId: string;
  readonly expiresAt: string;
}

export interface LockReader {
  currentLock(volumeId: string): Promise<HeldLock | undefined>;
}

/** Tells whether the volume is one the product backs up. NotFoundError when it is not. */
export interface ProtectedVolumes {
  assertProtected(volumeId: string): Promise<void>;
}

/** Code of the refusal when a backup of the volume is already running (details.reason). */
export const BACKUP_ALREADY_RUNNING = 'BackupAlreadyRunning';

export class BackupAlreadyRunningConflict extends ConflictError {}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
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
  readonly images: readonly { volumeId: string; device: string; imageId: string; kind?: string }[];
}

/** The recovery point in the execution output (`$.recoveryPoint.result`, backup.asl.json), if any. */
function recoveryPointOfOutput(output: string | undefined): RecoveryPointOutput | undefined {
  const parsed = parseJson(output) as
    { recoveryPoint?: { result?: Partial<RecoveryPointOutput> } } | undefined;
  const result = parsed?.recoveryPoint?.result;
  if (typeof result?.recoveryPointId !== 'string' || !Array.isArray(result.images)) return undefined;
  return { recoveryPointId: result.recoveryPointId, images: result.images };
}

/** The server of a backup of a whole server (`serverId` in the execution input). */
function serverOfInput(input: string | undefined): string | undefined {
  const parsed = parseJson(input) as { serverId?: unknown } | undefined;
  return typeof parsed?.serverId === 'string' ? parsed.serverId : undefined;
}

export function backupOf(detail: ExecutionDetail): Backup {
  const volumeId = volumeOfInput(detail.input);
  const serverId = serverOfInput(detail.input);
  const point = detail.status === 'SUCCEEDED' ? recoveryPointOfOutput(detail.output) : undefined;
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
    ...(detail.cause === undefined ? {} : { cause: detail.cause }),
  };
}

export class StateMachineBackupLauncher implements BackupLauncher {
  constructor(
    private readonly deps: {
      readonly executions: BackupExecutions;
      readonly locks: LockReader;
      readonly volumes: ProtectedVolumes;
      readonly clock: Clock;
    },
  ) {}

  async start(request: {
    backupId: string;
    volumeId: string;
    full: boolean;
    trigger: string;
  }): Promise<Backup> {
    const { volumeId } = request;
    await this.deps.volumes.assertProtected(volumeId);
    const lock = await this.deps.locks.currentLock(volumeId);
    if (lock !== undefined && Date.parse(lock.expiresAt) > this.deps.clock.now().getTime()) {
      throw new BackupAlreadyRunningConflict(
        `a backup of ${volumeId} is already running (${lock.backupId}); wait for it to finish`,
        {
          context: {
            reason: BACKUP_ALREADY_RUNNING,
            volumeId,
            runningBackupId: lock.backupId,
            lockExpiresAt: lock.expiresAt,
          },
        },
      );
    }
    const running = (await this.deps.executions.listRunning()).find(
      (e) => volumeOfInput(e.input) === volumeId,
    );
    if (running !== undefined) {
      throw new BackupAlreadyRunningConflict(
        `a backup of ${volumeId} is already running (${running.name}); wait for it to finish`,
        { context: { reason: BACKUP_ALREADY_RUNNING, volumeId, runningBackupId: running.name } },
      );
    }
    const input = { volumeIds: [volumeId], full: request.full, trigger: request.trigger };
    const started = await this.deps.executions.start(request.backupId, input);
    return {
      backupId: request.backupId,
      volumeId,
      full: request.full,
      status: 'RUNNING',
      startedAt: started.startedAt,
    };
  }

  async describe(backupId: string): Promise<Backup> {
    const detail = await this.deps.executions.describe(backupId);
    return backupOf(detail);
  }
}

/** A NotFoundError for a backup id that has no execution (adapters use it). */
export function backupNotFound(backupId: string, cause?: unknown): NotFoundError {
  return new NotFoundError(`backup ${backupId} does not exist`, { cause, context: { backupId } });
}
