/**
 * The API's RestoreJobs: file, directory and application restores are the catalog's restore jobs
 * (lambdas/core/file-restore); whole-volume restores are volume restore jobs
 * (volume-restore-jobs.ts). Both are created here and run by the restore worker, which the
 * RestoreLauncher starts asynchronously (an asynchronous Lambda invoke in AWS).
 */
import { NotFoundError, ValidationError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { escapeName } from '../fs/name-encoding.ts';
import {
  createRestoreJob,
  FILE_RESTORE_JOB,
  fileRestoreJobs,
  withDownloadUrl,
  type DescribedRestoreJob,
} from '../file-restore/restore-jobs.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { RestoreObjectStore } from '../file-restore/restore-ports.ts';
import type { CataloguedBytes, RestoreJobs } from './api-ports.ts';
import { MAX_UPLOAD_PARTS, maxResumableBytes } from '../file-restore/resumable-upload.ts';
import { cataloguedSubtreeBytes } from '../file-restore/catalogued-subtree.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import type { Image, Restore, StartRestoreRequest } from './schemas.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { readVolumeRestoreProgress } from './backup-progress.ts';
import { cancelRestore } from './restore-cancel.ts';
import { restoreItemsKey, restoreWorkPrefix } from '../restore/volume-restore-steps.ts';
import { SEGMENT_BLOCKS } from '../image/image-types.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../geometry.ts';
import {
  startVolumeRestore,
  VOLUME_RESTORE_JOB,
  volumeRestoreJobs,
  type VolumeRestoreJob,
} from '../restore/volume-restore-jobs.ts';

/** What the restore worker receives. */
export interface RestoreWorkerEvent {
  readonly restoreId: string;
  readonly kind: 'files' | 'volume';
}

export interface RestoreLauncher {
  /** Starts the worker for the job without waiting for it. */
  launch(event: RestoreWorkerEvent): Promise<void>;
  /** Stops what runs the job, where it can be stopped (a volume restore's execution); no-op when it ended. */
  stop?(event: RestoreWorkerEvent): Promise<void>;
}

const STATUS = {
  pending: 'PENDING',
  running: 'RUNNING',
  succeeded: 'SUCCEEDED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
} as const;

export function restoreOfFileJob(job: DescribedRestoreJob): Restore {
  return {
    restoreId: job.restoreId,
    imageId: job.imageId,
    volumeId: job.volumeId,
    kind: job.kind,
    ...(job.path === undefined ? {} : { path: escapeName(job.path) }),
    ...(job.application === undefined ? {} : { application: job.application }),
    status: STATUS[job.status],
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.downloadUrl === undefined ? {} : { downloadUrl: job.downloadUrl }),
    ...(job.downloadExpiresAt === undefined ? {} : { downloadExpiresAt: job.downloadExpiresAt }),
    ...(job.result === undefined ? {} : { sizeBytes: job.result.bytes }),
    ...(job.result?.missing === undefined ? {} : { missingPaths: [...job.result.missing] }),
    ...(job.failure === undefined ? {} : { error: job.failure.reason }),
    ...fileProgressOf(job),
  };
}

/**
 * A file restore's bytes written and invocations used (its record's progress, without the upload
 * id); a restore written in one plain upload has no progress record until it succeeds.
 */
function fileProgressOf(job: DescribedRestoreJob): Pick<Restore, 'progress'> {
  const invocations = (job.progress?.handovers ?? 0) + 1;
  if (job.status === 'succeeded' && job.result !== undefined)
    return { progress: { bytesWritten: job.result.bytes, invocations } };
  if (job.progress === undefined) return {};
  return { progress: { bytesWritten: job.progress.bytes, invocations } };
}

export function restoreOfVolumeJob(job: VolumeRestoreJob): Restore {
  return {
    restoreId: job.restoreId,
    imageId: job.imageId,
    volumeId: job.volumeId,
    kind: 'volume',
    status: STATUS[job.status],
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.status === 'succeeded' && job.snapshotId !== undefined ? { snapshotId: job.snapshotId } : {}),
    ...(job.failure === undefined ? {} : { error: job.failure.reason }),
  };
}

/** Seconds from creation to the last change of a finished restore. */
function durationOf(restore: Restore): Pick<Restore, 'durationSeconds'> {
  if (restore.status !== 'SUCCEEDED' && restore.status !== 'FAILED' && restore.status !== 'CANCELLED')
    return {};
  if (restore.updatedAt === undefined) return {};
  return {
    durationSeconds: Math.max(
      0,
      Math.round((Date.parse(restore.updatedAt) - Date.parse(restore.createdAt)) / 1000),
    ),
  };
}

function kmsKeyOf(kmsKeyArn: string | undefined): { kmsKeyArn?: string } {
  return kmsKeyArn === undefined ? {} : { kmsKeyArn };
}

export class RestoreService implements RestoreJobs {
  constructor(
    private readonly deps: {
      /** File and volume restore jobs share the job store: a restore id names one job. */
      readonly jobs: JobStore;
      readonly objects: RestoreObjectStore;
      readonly launcher: RestoreLauncher;
      readonly clock: Clock;
      /** Random hex for the unguessable part of restore object keys. */
      readonly keyToken: () => string;
      /** KMS key of restored snapshots when the request names none (the stack's key). */
      readonly restoreKmsKeyArn?: string;
      /** The work bucket, where a running volume restore's progress is read; absent: no progress. */
      readonly work?: ObjectStore;
      /** Deletes the snapshot of a cancelled volume restore (restore-cancel.ts); absent: it is left. */
      readonly deleteSnapshot?: (snapshotId: string) => Promise<'deleted' | 'absent'>;
      /**
       * The catalog, where a subdirectory restore's size is read from its tree summaries
       * (catalogued-subtree.ts) when the caller knows none; absent: a subdirectory is not checked.
       */
      readonly catalog?: Pick<CatalogStore, 'getImageCatalog' | 'getTreePages'>;
    },
  ) {}

  /** POST /restores/{id}/cancel (restore-cancel.ts): the restore as it is once cancelled. */
  async cancel(restoreId: string): Promise<Restore> {
    const { launcher, deleteSnapshot } = this.deps;
    const stop = launcher.stop?.bind(launcher);
    await cancelRestore(
      {
        jobs: this.deps.jobs,
        clock: this.deps.clock,
        ...(stop === undefined
          ? {}
          : { stopVolumeRestore: (id: string) => stop({ restoreId: id, kind: 'volume' }) }),
        ...(deleteSnapshot === undefined ? {} : { deleteSnapshot }),
      },
      restoreId,
    );
    return this.get(restoreId);
  }

  /**
   * Refuses a file or directory restore whose catalogued bytes exceed what the worker's resumable
   * upload holds (MAX_UPLOAD_PARTS parts of growing size, resumable-upload.ts): the worker would
   * fail with RestoreTooLargeError after writing 10,000 parts. Without resumable uploads the
   * object store sizes its parts itself and nothing is refused. A subdirectory's bytes come from
   * the catalog's tree (subtreeBytes); when they are unknown the restore is admitted.
   */
  private refuseTooLarge(
    image: Image,
    request: StartRestoreRequest,
    catalogued: CataloguedBytes | undefined,
  ) {
    const parts = this.deps.objects.parts;
    if (catalogued === undefined || parts === undefined || request.kind === 'volume') return;
    const most = maxResumableBytes(parts.partBytes);
    if (catalogued.bytes <= most) return;
    const what =
      request.kind === 'file'
        ? `${escapeName(request.path)} holds`
        : request.kind === 'directory'
          ? `the files of ${escapeName(request.path)} hold`
          : `application "${request.application}" holds`;
    throw new ValidationError(
      `${what} ${catalogued.bytes} bytes in image ${image.imageId}, more than the ${most} bytes one restore can write (one upload of ${MAX_UPLOAD_PARTS} parts); restore a smaller file or directory`,
      {
        context: {
          reason: 'RestoreTooLarge',
          imageId: image.imageId,
          bytes: catalogued.bytes,
          limitBytes: most,
        },
      },
    );
  }

  /**
   * What the catalog's tree says a subdirectory restore writes at least, when the caller knows
   * nothing and a refusal is possible; undefined when undecided (the worker's limit then applies).
   */
  private async subtreeBytes(
    image: Image,
    request: StartRestoreRequest,
  ): Promise<CataloguedBytes | undefined> {
    const { catalog, objects } = this.deps;
    if (catalog === undefined || objects.parts === undefined || request.kind !== 'directory')
      return undefined;
    if (request.path === '/') return undefined;
    const found = await cataloguedSubtreeBytes(catalog, image, request.partition, request.path);
    return found === undefined ? undefined : { bytes: found.bytes };
  }

  /** A running volume restore's progress from its segment records (backup-progress.ts). */
  private async volumeProgress(job: VolumeRestoreJob): Promise<Pick<Restore, 'progress'>> {
    if (job.status !== 'running' || this.deps.work === undefined) return {};
    const since = Date.parse(job.snapshotStartedAt ?? job.createdAt);
    const progress = await readVolumeRestoreProgress(this.deps.work, {
      itemsKey: restoreItemsKey(job.restoreId),
      segmentsPrefix: `${restoreWorkPrefix(job.restoreId)}segments/`,
      segmentBytes: SEGMENT_BLOCKS * EBS_BLOCK_SIZE_BYTES,
      elapsedSeconds: (this.deps.clock.now().getTime() - since) / 1000,
    });
    return progress === undefined ? {} : { progress };
  }

  async start(
    restoreId: string,
    image: Image,
    request: StartRestoreRequest,
    catalogued?: CataloguedBytes,
  ): Promise<Restore> {
    if (request.kind === 'volume') {
      const job = await startVolumeRestore(
        { jobs: volumeRestoreJobs(this.deps.jobs), clock: this.deps.clock, launcher: this.deps.launcher },
        {
          restoreId,
          volumeId: image.volumeId,
          imageId: image.imageId,
          ...kmsKeyOf(request.kmsKeyArn ?? this.deps.restoreKmsKeyArn),
          ...(request.parentRestoreId === undefined ? {} : { parentRestoreId: request.parentRestoreId }),
        },
      );
      return restoreOfVolumeJob(job);
    }
    this.refuseTooLarge(image, request, catalogued ?? (await this.subtreeBytes(image, request)));
    const job = await createRestoreJob(
      { jobs: fileRestoreJobs(this.deps.jobs), clock: this.deps.clock },
      {
        restoreId,
        volumeId: image.volumeId,
        imageId: image.imageId,
        kind: request.kind,
        ...(request.kind === 'application' ? { application: request.application } : { path: request.path }),
        ...('partition' in request && request.partition !== undefined
          ? { partition: request.partition }
          : {}),
        keyToken: this.deps.keyToken(),
      },
    );
    await this.deps.launcher.launch({ restoreId, kind: 'files' });
    return restoreOfFileJob(job);
  }

  /**
   * One page of restores, newest first, from the job store's listing (one Query); file and volume
   * restores only, without download URLs (GET /restores/{id} makes one).
   */
  async list(request: {
    readonly limit: number;
    readonly pageToken?: string;
    readonly status?: Restore['status'];
  }): Promise<{ readonly items: readonly Restore[]; readonly nextToken?: string }> {
    if (this.deps.jobs.list === undefined)
      throw new ValidationError('listing restores is not available here');
    const page = await this.deps.jobs.list(request);
    const items: Restore[] = [];
    for (const record of page.items) {
      const restore =
        record.kind === VOLUME_RESTORE_JOB.kind
          ? restoreOfVolumeJob(VOLUME_RESTORE_JOB.fromRecord(record))
          : record.kind === FILE_RESTORE_JOB.kind
            ? restoreOfFileJob(FILE_RESTORE_JOB.fromRecord(record))
            : undefined;
      if (restore !== undefined) items.push({ ...restore, ...durationOf(restore) });
    }
    return { items, ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }) };
  }

  /** One lookup: the record's kind says which restore it is. */
  async get(restoreId: string): Promise<Restore> {
    let record;
    try {
      record = await this.deps.jobs.get(restoreId);
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`restore ${restoreId} does not exist`, {
          cause: error,
          context: { restoreId },
        });
      }
      throw error;
    }
    if (record.kind === VOLUME_RESTORE_JOB.kind) {
      const job = VOLUME_RESTORE_JOB.fromRecord(record);
      return { ...restoreOfVolumeJob(job), ...(await this.volumeProgress(job)) };
    }
    if (record.kind === FILE_RESTORE_JOB.kind) {
      const job = FILE_RESTORE_JOB.fromRecord(record);
      return restoreOfFileJob(
        await withDownloadUrl({ objects: this.deps.objects, clock: this.deps.clock }, job),
      );
    }
    throw new NotFoundError(`restore ${restoreId} does not exist`, {
      context: { restoreId, kind: record.kind },
    });
  }
}
