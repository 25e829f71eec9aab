/**
 * The API's RestoreJobs: file, directory and application restores are the catalog's restore jobs
 * (lambdas/core/file-restore); whole-volume restores are volume restore jobs
 * (volume-restore-jobs.ts). Both are created here and run by the restore worker, which the
 * RestoreLauncher starts asynchronously (an asynchronous Lambda invoke in AWS).
 */
import { NotFoundError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import {
  createRestoreJob,
  describeRestoreJob,
  type DescribedRestoreJob,
  type RestoreJobStore,
} from '../file-restore/restore-jobs.ts';
import type { RestoreObjectStore } from '../file-restore/restore-ports.ts';
import type { RestoreJobs } from './api-ports.ts';
import type { Image, Restore, StartRestoreRequest } from './schemas.ts';
import {
  createVolumeRestoreJob,
  type VolumeRestoreJob,
  type VolumeRestoreJobStore,
} from '../restore/volume-restore-jobs.ts';

/** What the restore worker receives. */
export interface RestoreWorkerEvent {
  readonly restoreId: string;
  readonly kind: 'files' | 'volume';
}

export interface RestoreLauncher {
  /** Starts the worker for the job without waiting for it. */
  launch(event: RestoreWorkerEvent): Promise<void>;
}

const STATUS = { pending: 'PENDING', running: 'RUNNING', succeeded: 'SUCCEEDED', failed: 'FAILED' } as const;

export function restoreOfFileJob(job: DescribedRestoreJob): Restore {
  return {
    restoreId: job.restoreId,
    imageId: job.imageId,
    volumeId: job.volumeId,
    kind: job.kind,
    ...(job.path === undefined ? {} : { path: job.path }),
    ...(job.application === undefined ? {} : { application: job.application }),
    status: STATUS[job.status],
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    ...(job.downloadUrl === undefined ? {} : { downloadUrl: job.downloadUrl }),
    ...(job.downloadExpiresAt === undefined ? {} : { downloadExpiresAt: job.downloadExpiresAt }),
    ...(job.result === undefined ? {} : { sizeBytes: job.result.bytes }),
    ...(job.failure === undefined ? {} : { error: job.failure.reason }),
  };
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

export class RestoreService implements RestoreJobs {
  constructor(
    private readonly deps: {
      readonly fileJobs: RestoreJobStore;
      readonly objects: RestoreObjectStore;
      readonly volumeJobs: VolumeRestoreJobStore;
      readonly launcher: RestoreLauncher;
      readonly clock: Clock;
      /** Random hex for the unguessable part of restore object keys. */
      readonly keyToken: () => string;
    },
  ) {}

  async start(restoreId: string, image: Image, request: StartRestoreRequest): Promise<Restore> {
    if (request.kind === 'volume') {
      const job = await createVolumeRestoreJob(
        { jobs: this.deps.volumeJobs, clock: this.deps.clock },
        { restoreId, volumeId: image.volumeId, imageId: image.imageId },
      );
      await this.deps.launcher.launch({ restoreId, kind: 'volume' });
      return restoreOfVolumeJob(job);
    }
    const job = await createRestoreJob(
      { jobs: this.deps.fileJobs, clock: this.deps.clock },
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

  async get(restoreId: string): Promise<Restore> {
    try {
      return restoreOfFileJob(
        await describeRestoreJob(
          { jobs: this.deps.fileJobs, objects: this.deps.objects, clock: this.deps.clock },
          restoreId,
        ),
      );
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    try {
      return restoreOfVolumeJob(await this.deps.volumeJobs.get(restoreId));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`restore ${restoreId} does not exist`, {
          cause: error,
          context: { restoreId },
        });
      }
      throw error;
    }
  }
}
