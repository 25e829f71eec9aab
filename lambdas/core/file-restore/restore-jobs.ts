/**
 * File, directory and application restores as jobs: a job record (pending → running → succeeded
 * | failed) that a caller polls, the work that streams a file or a tar archive into the restore
 * bucket, and a fresh presigned URL (≤ 15 minutes) each time a finished job is described.
 *
 * Object keys are `restores/<restoreId>-<random token>/<file name>`: unique per restore and not
 * guessable from the restore id alone.
 *
 * A restore that cannot finish in one invocation (a large tree, a 100 GiB file) stops between two
 * parts of its upload when the invocation's time is nearly up (`deadline`), leaves the job running
 * with its progress (the open upload, the parts and bytes stored, the handovers) and is run again
 * by a new invocation, which resumes after the stored parts (resumable-upload.ts). An archive's
 * progress also names the entry in which the stored bytes end (a TarCursor), so the next
 * invocation walks on from there rather than through the whole tree again (tar-archive.ts).
 */
import { NotFoundError, ValidationError, type JobFailure } from '../errors.ts';
import { jobCodec, jobsOfKind, runJob, type JobStore, type KindJobStore } from '../jobs/job-store.ts';
import type { Clock, ByteRangeReader } from '../ports.ts';
import { applicationPaths } from '../catalog/applications.ts';
import type { CatalogStore } from '../catalog/catalog-store.ts';
import { normalizeCatalogPath } from '../catalog/catalog-keys.ts';
import { escapeName } from '../fs/name-encoding.ts';
import { FileNotFoundInImageError, type FilesystemReader } from '../fs/index.ts';
import { readFileBytes } from './file-bytes.ts';
import { openImageFilesystem } from './open-filesystem.ts';
import { RESTORE_URL_MAX_SECONDS, type RestoreObjectStore } from './restore-ports.ts';
import { tarArchive, type TarCursor } from './tar-archive.ts';
import { dropPrefix, uploadResumable, type UploadCheckpoint } from './resumable-upload.ts';
import type { PausedJob } from '../jobs/job-store.ts';

/**
 * Time left in an invocation below which a restore stops after the parts in flight and hands over
 * to a new invocation: four parts of up to 64 MiB, written and checkpointed, fit well within it.
 */
export const RESTORE_HANDOVER_MARGIN_MS = 2 * 60 * 1000;

export type RestoreKind = 'file' | 'directory' | 'application';
export type RestoreJobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export interface RestoreResult {
  readonly key: string;
  readonly fileName: string;
  readonly contentType: string;
  /** Bytes of the object written (the file, or the whole archive). */
  readonly bytes: number;
  /** Regular files restored. */
  readonly files: number;
  /** Entries that could not be restored (damaged, or sockets); the first few are listed. */
  readonly problemCount: number;
  readonly problems: readonly string[];
  /** Paths an application's metadata lists that are not in the image (restored without them). */
  readonly missing?: readonly string[];
}

/** What a caller asks for; createRestoreJob validates it and adds the status and times. */
export interface NewRestoreJob {
  readonly restoreId: string;
  readonly volumeId: string;
  readonly imageId: string;
  readonly kind: RestoreKind;
  /** file and directory restores. */
  readonly path?: string;
  /** application restores. */
  readonly application?: string;
  /** Partition index as catalogued; optional when the image has one ext filesystem. */
  readonly partition?: number;
  /** Random, unguessable part of the object key (hex), e.g. 16 random bytes from a random source. */
  readonly keyToken: string;
}

/** How far a running restore got: its open upload, and how many invocations handed over so far. */
export interface RestoreProgress extends UploadCheckpoint {
  readonly handovers: number;
  /** An archive's: the entry in which the stored bytes end; absent: resume by walking from the start. */
  readonly walk?: TarCursor;
}

export interface RestoreJob extends NewRestoreJob {
  readonly status: RestoreJobStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly progress?: RestoreProgress;
  readonly result?: RestoreResult;
  readonly failure?: JobFailure;
}

/** The file restore jobs: the restore kind's view of the one job store (core/jobs/job-store.ts). */
export type RestoreJobStore = KindJobStore<RestoreJob, RestoreJobStatus>;

export interface RestoreDeps {
  readonly jobs: RestoreJobStore;
  readonly objects: RestoreObjectStore;
  readonly catalog: CatalogStore;
  /** The whole disk of a committed image (an ImageReader); NotFoundError when it does not exist. */
  openImage(volumeId: string, imageId: string): Promise<ByteRangeReader>;
  readonly clock: Clock;
}

/** Restore ids and tokens end up in object keys: a conservative alphabet keeps keys plain. */
const KEY_PART = /^[A-Za-z0-9_-]{1,128}$/;

export async function createRestoreJob(
  deps: Pick<RestoreDeps, 'jobs' | 'clock'>,
  request: NewRestoreJob,
): Promise<RestoreJob> {
  if (!KEY_PART.test(request.restoreId) || !KEY_PART.test(request.keyToken)) {
    throw new ValidationError(
      'restoreId and keyToken must be 1-128 characters of A-Z, a-z, 0-9, "_" and "-"',
    );
  }
  if (request.kind === 'application' ? request.application === undefined : request.path === undefined) {
    throw new ValidationError(
      request.kind === 'application'
        ? 'an application restore needs an application name'
        : `a ${request.kind} restore needs a path`,
    );
  }
  const path = request.path === undefined ? undefined : normalizeCatalogPath(request.path);
  const now = deps.clock.now().toISOString();
  const job: RestoreJob = {
    restoreId: request.restoreId,
    volumeId: request.volumeId,
    imageId: request.imageId,
    kind: request.kind,
    ...(path === undefined ? {} : { path }),
    ...(request.application === undefined ? {} : { application: request.application }),
    ...(request.partition === undefined ? {} : { partition: request.partition }),
    keyToken: request.keyToken,
    status: 'pending',
    createdAt: now,
    updatedAt: now,
  };
  await deps.jobs.create(job);
  return job;
}

/**
 * The file name a file, directory or application restore's download has (the last part of its
 * object key): the file's own name, `<directory>.tar` (`root.tar` for `/`), `<application>.tar`,
 * made safe for a key and a header. The CLI uses it to refuse an `--out` directory that already
 * holds a file of that name before it starts the restore.
 */
export function restoreDownloadName(
  target:
    | { readonly kind: 'file' | 'directory'; readonly path: string }
    | { readonly kind: 'application'; readonly application: string },
): string {
  if (target.kind === 'application') return `${safeFileName(target.application)}.tar`;
  const name = safeFileName(baseName(target.path));
  return target.kind === 'file' ? name : `${name}.tar`;
}

/** The last component of a path (`.` and empty components skipped, as the catalog's paths are); `root` for `/`. */
function baseName(path: string): string {
  return (
    path
      .split('/')
      .filter((c) => c !== '' && c !== '.')
      .at(-1) ?? 'root'
  );
}

function objectKey(job: RestoreJob, fileName: string): string {
  return `restores/${job.restoreId}-${job.keyToken}/${fileName}`;
}

/** A file-name safe for a key and a Content-Disposition header. */
function safeFileName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? 'restore' : cleaned;
}

/**
 * The file a restore names: the path itself, or, when no such file exists and the last component
 * has a colon, the alternate data stream `name` of the file `path` (NTFS `path:stream`).
 */
async function locateFile(
  fs: FilesystemReader,
  path: string,
  imageId: string,
): Promise<{ inode: number; stream?: string }> {
  try {
    return { inode: await fs.lookup(path) };
  } catch (error) {
    if (!(error instanceof FileNotFoundInImageError)) throw error;
    const colon = path.lastIndexOf(':');
    if (colon > path.lastIndexOf('/') + 1 && colon < path.length - 1) {
      try {
        return { inode: await fs.lookup(path.slice(0, colon)), stream: path.slice(colon + 1) };
      } catch (inner) {
        if (!(inner instanceof FileNotFoundInImageError)) throw inner;
      }
    }
    throw new NotFoundError(`${escapeName(path)} does not exist in image ${imageId}`, {
      cause: error,
      context: { path: escapeName(path), imageId },
    });
  }
}

/** A body the writer stores from byte `start` of the object on, and where it could resume. */
interface WrittenBody {
  readonly stream: AsyncIterable<Uint8Array>;
  /** Offset in the object of the stream's first byte (default 0). */
  readonly start?: number;
  /** The archive's cursor once its first `bytes` are stored (TarArchive.cursorAt). */
  cursorAt?(bytes: number): TarCursor | undefined;
}

/** The progress an invocation leaves: the upload's checkpoint, and the archive's cursor there. */
type Paused = UploadCheckpoint & { readonly walk?: TarCursor };

/** How one invocation writes a restore's object: from the job's checkpoint, until `stop` says so. */
interface Writer {
  /** Bytes of the object already stored (the body given to `write` is regenerated from `start` and what is stored is dropped). */
  readonly skip: number;
  /** The archive's cursor the last invocation left, if any. */
  readonly walk: TarCursor | undefined;
  write(key: string, body: WrittenBody, contentType: string): Promise<{ bytes: number } | { paused: Paused }>;
}

function writerOf(deps: RestoreDeps, running: RestoreJob, stop: () => boolean): Writer {
  const resume = running.progress;
  const handovers = resume?.handovers ?? 0;
  const walkAt = (body: WrittenBody, bytes: number) => {
    const walk = body.cursorAt?.(bytes);
    return walk === undefined ? {} : { walk };
  };
  return {
    skip: resume?.bytes ?? 0,
    walk: resume?.walk,
    write: async (key, body, contentType) => {
      const dropped = (resume?.bytes ?? 0) - (body.start ?? 0);
      const upload =
        resume === undefined
          ? undefined
          : { uploadId: resume.uploadId, parts: resume.parts, bytes: resume.bytes };
      const outcome = await uploadResumable(deps.objects, key, dropPrefix(body.stream, dropped), {
        contentType,
        ...(upload === undefined ? {} : { resume: upload }),
        save: (checkpoint) =>
          deps.jobs.update(
            {
              ...running,
              progress: { ...checkpoint, handovers, ...walkAt(body, checkpoint.bytes) },
              updatedAt: deps.clock.now().toISOString(),
            },
            ['running'],
          ),
        stop,
      });
      return outcome.done
        ? { bytes: outcome.bytes }
        : { paused: { ...outcome.checkpoint, ...walkAt(body, outcome.checkpoint.bytes) } };
    },
  };
}

async function performRestore(
  deps: RestoreDeps,
  job: RestoreJob,
  writer: Writer,
): Promise<RestoreResult | { paused: Paused }> {
  const disk = await deps.openImage(job.volumeId, job.imageId);
  let partition = job.partition;
  let roots: string[];
  let fileName: string;
  if (job.kind === 'application') {
    const apps = await deps.catalog.listApplications(job.volumeId, job.imageId);
    const app = apps.find(
      (a) => a.name === job.application && (partition === undefined || a.partition === partition),
    );
    if (app === undefined) {
      throw new NotFoundError(`image ${job.imageId} has no application named "${job.application}"`, {
        context: { imageId: job.imageId, application: job.application },
      });
    }
    partition = app.partition;
    roots = applicationPaths(app);
    fileName = restoreDownloadName({ kind: 'application', application: app.name });
  } else {
    roots = [job.path!];
    fileName = restoreDownloadName({ kind: job.kind, path: job.path! });
  }
  const { fs, reader } = await openImageFilesystem(disk, partition);
  const key = objectKey(job, fileName);
  if (job.kind === 'file') {
    const { inode, stream } = await locateFile(fs, job.path!, job.imageId);
    const stat = await fs.stat(inode);
    if (stat.type !== 'file') {
      throw new ValidationError(
        `${escapeName(job.path!)} is a ${stat.type}; only regular files can be restored as a file`,
        {
          context: { path: escapeName(job.path!), type: stat.type },
        },
      );
    }
    if (stat.encrypted === true) {
      throw new ValidationError(
        `${escapeName(job.path!)} is encrypted with EFS; its bytes are unreadable without the owner's key and cannot be restored`,
        { context: { path: escapeName(job.path!) } },
      );
    }
    if (stream !== undefined && !(stat.streams ?? []).some((s) => s.name === stream)) {
      throw new NotFoundError(
        `${escapeName(job.path!)} does not exist in image ${job.imageId}: the file has no stream "${stream}"`,
        {
          context: { path: escapeName(job.path!), stream },
        },
      );
    }
    const written = await writer.write(
      key,
      { stream: readFileBytes(fs, reader, inode, undefined, stream, writer.skip) },
      'application/octet-stream',
    );
    if ('paused' in written) return written;
    const { bytes } = written;
    return {
      key,
      fileName,
      contentType: 'application/octet-stream',
      bytes,
      files: 1,
      problemCount: 0,
      problems: [],
    };
  }
  const missing: string[] = [];
  for (const root of roots) {
    try {
      await fs.lookup(root);
    } catch (error) {
      if (!(error instanceof FileNotFoundInImageError)) throw error;
      // An application restores what exists of it; a directory restore names one root.
      if (job.kind === 'application' && missing.length + 1 < roots.length) {
        missing.push(root);
        continue;
      }
      throw new NotFoundError(
        job.kind === 'application'
          ? `none of the paths of application "${job.application}" exists in image ${job.imageId}`
          : `${escapeName(root)} does not exist in image ${job.imageId}`,
        { cause: error, context: { path: escapeName(root) } },
      );
    }
  }
  const present = roots.filter((root) => !missing.includes(root));
  if (job.kind === 'directory') {
    const stat = await fs.stat(await fs.lookup(job.path!));
    if (stat.type !== 'directory') {
      throw new ValidationError(
        `${escapeName(job.path!)} is a ${stat.type}; only directories can be restored as a directory`,
        { context: { path: escapeName(job.path!), type: stat.type } },
      );
    }
  }
  const archive = tarArchive(fs, reader, present, writer.skip, {
    ...(writer.walk === undefined ? {} : { from: writer.walk }),
    // Only an upload in parts stores as it goes (and asks for cursors); a plain upload keeps none.
    cursors: deps.objects.parts !== undefined,
  });
  const written = await writer.write(key, archive, 'application/x-tar');
  if ('paused' in written) return written;
  const { bytes } = written;
  return {
    key,
    fileName,
    contentType: 'application/x-tar',
    bytes,
    files: archive.progress.files,
    problemCount: archive.progress.problemCount,
    problems: archive.progress.problems,
    ...(missing.length === 0 ? {} : { missing }),
  };
}

/**
 * Runs a pending (or interrupted) job (the one job lifecycle, core/jobs/job-store.ts) to its end,
 * or, when `deadline` (epoch ms) comes within RESTORE_HANDOVER_MARGIN_MS, until the parts in flight
 * are stored: the job is then returned still running, with its progress, and the caller starts
 * another invocation. Running it again is safe: it resumes after the stored parts (a job without
 * progress starts over; the object key is the same and is overwritten).
 */
export async function runRestoreJob(
  deps: RestoreDeps,
  restoreId: string,
  deadline?: number,
): Promise<RestoreJob> {
  const stop = () =>
    deadline !== undefined && deps.clock.now().getTime() >= deadline - RESTORE_HANDOVER_MARGIN_MS;
  return runJob(deps, restoreId, async (running): Promise<RestoreJob | PausedJob<RestoreJob>> => {
    const outcome = await performRestore(deps, running, writerOf(deps, running, stop));
    if ('paused' in outcome) {
      const handovers = (running.progress?.handovers ?? 0) + 1;
      return { paused: { ...running, progress: { ...outcome.paused, handovers } } };
    }
    return { ...running, result: outcome };
  });
}

/** File, directory and application restores as records of the job store (kind `file-restore`). */
export const FILE_RESTORE_JOB = jobCodec<RestoreJob>('file-restore', {
  toRecord: (job) => ({
    params: {
      volumeId: job.volumeId,
      imageId: job.imageId,
      kind: job.kind,
      ...(job.path === undefined ? {} : { path: job.path }),
      ...(job.application === undefined ? {} : { application: job.application }),
      ...(job.partition === undefined ? {} : { partition: job.partition }),
      keyToken: job.keyToken,
    },
    ...(job.progress === undefined ? {} : { progress: { ...job.progress } }),
    ...(job.result === undefined ? {} : { result: { ...job.result } }),
  }),
  fromRecord: (record) => ({
    ...(record.params as unknown as Omit<NewRestoreJob, 'restoreId'>),
    ...(record.progress === undefined ? {} : { progress: record.progress as unknown as RestoreProgress }),
    ...(record.result === undefined ? {} : { result: record.result as unknown as RestoreResult }),
  }),
});

/** The restore jobs of a job store whose key space is the restores' (messages say "restore"). */
export function fileRestoreJobs(store: JobStore): RestoreJobStore {
  return jobsOfKind(store, FILE_RESTORE_JOB, 'restore');
}

export interface DescribedRestoreJob extends RestoreJob {
  readonly downloadUrl?: string;
  readonly downloadExpiresAt?: string;
}

/** The job, with a fresh presigned URL once it has succeeded. */
export async function describeRestoreJob(
  deps: Pick<RestoreDeps, 'jobs' | 'objects' | 'clock'>,
  restoreId: string,
  expiresInSeconds = RESTORE_URL_MAX_SECONDS,
): Promise<DescribedRestoreJob> {
  if (
    !Number.isInteger(expiresInSeconds) ||
    expiresInSeconds < 1 ||
    expiresInSeconds > RESTORE_URL_MAX_SECONDS
  ) {
    throw new ValidationError(`expiresInSeconds must be 1..${RESTORE_URL_MAX_SECONDS}`);
  }
  return withDownloadUrl(deps, await deps.jobs.get(restoreId), expiresInSeconds);
}

/** The job, with a fresh presigned URL once it has succeeded. */
export async function withDownloadUrl(
  deps: Pick<RestoreDeps, 'objects' | 'clock'>,
  job: RestoreJob,
  expiresInSeconds = RESTORE_URL_MAX_SECONDS,
): Promise<DescribedRestoreJob> {
  if (job.status !== 'succeeded' || job.result === undefined) return job;
  const downloadUrl = await deps.objects.presignDownload(
    job.result.key,
    expiresInSeconds,
    job.result.fileName,
  );
  const downloadExpiresAt = new Date(deps.clock.now().getTime() + expiresInSeconds * 1000).toISOString();
  return { ...job, downloadUrl, downloadExpiresAt };
}
