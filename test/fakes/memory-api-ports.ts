/**
 * In-memory ports of the API (lambdas/core/api/api-ports.ts) for router and CLI tests: a small
 * catalog tree per image, restore jobs that a test completes, and the state machine and lock
 * table behind the real StateMachineBackupLauncher. Every mutation is counted, so a test can
 * prove that a refused request changed nothing.
 */
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import type {
  ApiDeps,
  CatalogReader,
  ImageDirectory,
  ImageListFilter,
  PageRequest,
  RestoreJobs,
  RestoreTarget,
  StorePage,
  VolumeDirectory,
} from '../../lambdas/core/api/api-ports.ts';
import {
  StateMachineBackupLauncher,
  backupNotFound,
  type BackupExecutions,
  type ExecutionDetail,
  type ExecutionStatus,
  type ProtectedVolumes,
} from '../../lambdas/core/api/backup-launcher.ts';
import { RecoveryPointService } from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import type {
  ImageLiveness,
  RecoveryPointStore,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { MemoryJobStore } from './memory-job-store.ts';
import { InMemoryLockStore } from '../orchestration/in-memory-lock-store.ts';
import { CursorCodec } from '../../lambdas/core/api/cursor.ts';
import { BackupNotResumableError } from '../../lambdas/core/api/backup-resume.ts';
import type * as api from '../../lambdas/core/api/schemas.ts';

export const FIXED_NOW = new Date('2026-11-20T12:00:00.000Z');

export class FixedClock implements Clock {
  constructor(private current: Date = FIXED_NOW) {}
  now(): Date {
    return new Date(this.current);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

function pageOf<T>(items: readonly T[], page: PageRequest): StorePage<T> {
  const start = page.pageToken === undefined ? 0 : Number(page.pageToken.replace(/^at:/, ''));
  if (!Number.isInteger(start) || start < 0) throw new Error(`bad store token ${page.pageToken}`);
  const end = start + page.limit;
  const slice = items.slice(start, end);
  return end < items.length ? { items: slice, nextToken: `at:${end}` } : { items: slice };
}

/** A file tree of one image: path → entry (directories have type 'directory'). */
export type Tree = Readonly<Record<string, { type: api.DirectoryEntry['type']; sizeBytes?: number }>>;

export class MemoryApiWorld implements VolumeDirectory, ImageDirectory, CatalogReader, ProtectedVolumes {
  readonly volumes: api.Volume[] = [];
  readonly images: api.Image[] = [];
  readonly trees = new Map<string, Tree>();
  readonly applications = new Map<string, api.Application[]>();

  addVolume(volume: Omit<api.Volume, 'imageCount'>): void {
    this.volumes.push({ ...volume, imageCount: 0 });
  }

  addImage(image: api.Image, tree: Tree = {}, applications: api.Application[] = []): void {
    this.images.push(image);
    this.trees.set(image.imageId, tree);
    this.applications.set(image.imageId, applications);
  }

  listVolumes(): Promise<readonly api.Volume[]> {
    return Promise.resolve(
      this.volumes.map((volume) => {
        const images = this.images.filter((image) => image.volumeId === volume.volumeId);
        const latest = images.at(-1);
        return {
          ...volume,
          imageCount: images.length,
          ...(latest ? { latestImageId: latest.imageId, latestImageAt: latest.createdAt } : {}),
        };
      }),
    );
  }

  /** By volume id; the token is the page's last volume id (as RecordDirectories). */
  async pageVolumes(page: PageRequest): Promise<StorePage<api.Volume>> {
    const after = page.pageToken;
    const all = [...(await this.listVolumes())]
      .sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1))
      .filter((v) => after === undefined || v.volumeId > after);
    const items = all.slice(0, page.limit);
    return all.length > page.limit ? { items, nextToken: items.at(-1)!.volumeId } : { items };
  }

  /** Newest first; the token is the page's last image id's position in that order. */
  async pageImages(
    volumeId: string,
    filter: ImageListFilter,
    page: PageRequest,
  ): Promise<StorePage<api.Image>> {
    const all = [...(await this.listImages(volumeId))]
      .filter(
        (image) =>
          (filter.from === undefined || Date.parse(image.createdAt) >= Date.parse(filter.from)) &&
          (filter.to === undefined || Date.parse(image.createdAt) <= Date.parse(filter.to)) &&
          (filter.status === undefined || image.status === filter.status) &&
          (filter.kind === undefined || image.kind === filter.kind),
      )
      .reverse();
    const start = page.pageToken === undefined ? 0 : all.findIndex((i) => i.imageId === page.pageToken) + 1;
    const items = all.slice(start, start + page.limit);
    return start + page.limit < all.length ? { items, nextToken: items.at(-1)!.imageId } : { items };
  }

  assertProtected(volumeId: string): Promise<void> {
    return this.volumes.some((v) => v.volumeId === volumeId)
      ? Promise.resolve()
      : Promise.reject(
          new NotFoundError(`volume ${volumeId} is not a protected replica volume`, {
            context: { volumeId },
          }),
        );
  }

  async listImages(volumeId: string): Promise<readonly api.Image[]> {
    await this.assertProtected(volumeId);
    return this.images.filter((image) => image.volumeId === volumeId);
  }

  getImage(imageId: string): Promise<api.Image> {
    const image = this.images.find((candidate) => candidate.imageId === imageId);
    return image
      ? Promise.resolve(image)
      : Promise.reject(new NotFoundError(`image ${imageId} does not exist`, { context: { imageId } }));
  }

  listDirectory(
    image: api.Image,
    path: string,
    _partition: number | undefined,
    page: PageRequest,
  ): Promise<StorePage<api.DirectoryEntry>> {
    const tree = this.trees.get(image.imageId) ?? {};
    if (path !== '/' && tree[path]?.type !== 'directory') {
      return Promise.reject(
        new NotFoundError(`${path} is not a directory in image ${image.imageId}`, { context: { path } }),
      );
    }
    const prefix = path === '/' ? '/' : `${path}/`;
    const entries = Object.entries(tree)
      .filter(
        ([p]) => p.startsWith(prefix) && p.length > prefix.length && !p.slice(prefix.length).includes('/'),
      )
      .map(([p, e]): api.DirectoryEntry => ({
        name: p.slice(prefix.length),
        path: p,
        type: e.type,
        sizeBytes: e.sizeBytes ?? 0,
      }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    return Promise.resolve(pageOf(entries, page));
  }

  listVersions(
    volumeId: string,
    path: string,
    _partition: number | undefined,
    page: PageRequest,
  ): Promise<StorePage<api.FileVersion>> {
    return Promise.resolve(pageOf(this.versionsOf(volumeId, path), page));
  }

  /** Versions as the catalog keeps them: a new one when the size changes, `until` the next change or removal. */
  private versionsOf(volumeId: string, path: string): api.FileVersion[] {
    const versions: api.FileVersion[] = [];
    let current: api.FileVersion | undefined;
    for (const image of this.images.filter((i) => i.volumeId === volumeId)) {
      const entry = this.trees.get(image.imageId)?.[path];
      if (current !== undefined && (entry === undefined || current.sizeBytes !== (entry.sizeBytes ?? 0))) {
        versions.push({
          ...current,
          untilImageId: image.imageId,
          untilImageAt: image.createdAt,
          removedAtUntil: entry === undefined,
        });
        current = undefined;
      }
      if (entry !== undefined && current === undefined) {
        current = {
          path,
          type: entry.type,
          sizeBytes: entry.sizeBytes ?? 0,
          firstImageId: image.imageId,
          firstImageAt: image.createdAt,
        };
      }
    }
    if (current !== undefined) versions.push(current);
    return versions;
  }

  findByName(volumeId: string, name: string, page: PageRequest): Promise<StorePage<api.FoundFile>> {
    const paths = new Set<string>();
    for (const image of this.images.filter((i) => i.volumeId === volumeId)) {
      for (const path of Object.keys(this.trees.get(image.imageId) ?? {}))
        if (path.split('/').at(-1) === name) paths.add(path);
    }
    const found = [...paths]
      .sort()
      .flatMap((path) => this.versionsOf(volumeId, path).map((v) => ({ name, ...v })));
    return Promise.resolve(pageOf(found, page));
  }

  listApplications(image: api.Image): Promise<readonly api.Application[]> {
    return Promise.resolve(this.applications.get(image.imageId) ?? []);
  }

  /** The catalog records the tests set, by image id. */
  readonly catalogs = new Map<string, api.ImageCatalog>();

  catalogOfImage(image: api.Image): Promise<api.ImageCatalog | undefined> {
    return Promise.resolve(this.catalogs.get(image.imageId));
  }

  /** As the catalog checks it: the path's type in the image's tree, the application by name. */
  checkRestoreTarget(image: api.Image, target: RestoreTarget): Promise<void> {
    if (target.kind === 'application') {
      return (this.applications.get(image.imageId) ?? []).some((a) => a.name === target.application)
        ? Promise.resolve()
        : Promise.reject(
            new NotFoundError(`image ${image.imageId} has no application named "${target.application}"`),
          );
    }
    const type = target.path === '/' ? 'directory' : this.trees.get(image.imageId)?.[target.path]?.type;
    if (type === undefined) {
      return Promise.reject(new NotFoundError(`${target.path} does not exist in image ${image.imageId}`));
    }
    const wanted = target.kind === 'file' ? 'file' : 'directory';
    return type === wanted
      ? Promise.resolve()
      : Promise.reject(
          new ValidationError(
            `${target.path} is a ${type}; only ${wanted === 'file' ? 'regular files' : 'directories'} can be restored as a ${wanted}`,
          ),
        );
  }
}

/** The backup state machine in memory: executions by name. */
export class MemoryExecutions implements BackupExecutions {
  readonly executions = new Map<string, ExecutionDetail>();
  startCalls = 0;

  constructor(private readonly clock: Clock) {}

  /**
   * StartExecution: the same name and input while that execution runs is the same start (Step
   * Functions treats it as idempotent); another input, or a name whose execution ended, is
   * ExecutionAlreadyExists (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
   */
  start(name: string, input: unknown): Promise<{ startedAt: string }> {
    this.startCalls += 1;
    const text = JSON.stringify(input);
    const existing = this.executions.get(name);
    if (existing?.status === 'RUNNING' && existing.input === text)
      return Promise.resolve({ startedAt: existing.startedAt });
    if (existing !== undefined) return Promise.reject(new ConflictError(`backup ${name} already exists`));
    const startedAt = this.clock.now().toISOString();
    this.executions.set(name, {
      name,
      status: 'RUNNING',
      startedAt,
      input: text,
      currentStep: 'Acquire Lock',
    });
    return Promise.resolve({ startedAt });
  }

  executionIdOf(name: string): string {
    return `arn:aws:states:us-east-1:123456789012:execution:rbp-backup:${name}`;
  }

  describe(name: string): Promise<ExecutionDetail> {
    const detail = this.executions.get(name);
    return detail ? Promise.resolve(detail) : Promise.reject(backupNotFound(name));
  }

  /**
   * StopExecution: a running execution ends ABORTED with `error` and `cause`, failed at the step
   * it was in (its history's last state before ExecutionAborted); an ended one is left.
   */
  stop(name: string, error: string, cause: string): Promise<void> {
    const detail = this.executions.get(name);
    if (detail === undefined) return Promise.reject(backupNotFound(name));
    if (detail.status === 'RUNNING')
      this.finish(name, {
        status: 'ABORTED',
        stoppedAt: this.clock.now().toISOString(),
        error,
        cause,
        ...(detail.currentStep === undefined ? {} : { failedStep: detail.currentStep }),
      });
    return Promise.resolve();
  }

  /** The names redriven, in order. */
  readonly redrives: string[] = [];

  /**
   * RedriveExecution: a FAILED, ABORTED or TIMED_OUT execution runs again from the state that
   * failed (`failedStep`); any other is ExecutionNotRedrivable, as the adapter reports it.
   * https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html
   */
  redrive(name: string): Promise<{ redrivenAt: string }> {
    const detail = this.executions.get(name);
    if (detail === undefined) return Promise.reject(backupNotFound(name));
    if (!['FAILED', 'ABORTED', 'TIMED_OUT'].includes(detail.status))
      return Promise.reject(
        new BackupNotResumableError(
          `backup ${name} cannot be resumed: Step Functions refused the redrive (RedriveExecution failed: ` +
            `ExecutionNotRedrivable: Execution is ${detail.status} and cannot be redriven.)`,
          { context: { backupId: name, reason: 'RedriveWindowPassed' } },
        ),
      );
    this.redrives.push(name);
    const redrivenAt = this.clock.now().toISOString();
    const { stoppedAt: _stopped, error: _error, cause: _cause, failedStep, ...running } = detail;
    this.executions.set(name, {
      ...running,
      status: 'RUNNING',
      ...(failedStep === undefined ? {} : { currentStep: failedStep }),
    });
    return Promise.resolve({ redrivenAt });
  }

  /**
   * ListExecutions: newest first (the last started first), `limit` at a time from the offset in
   * `pageToken`, only `status` when given; each execution described, a stopped or failed one with
   * the step it failed in.
   */
  list(request: {
    readonly status?: ExecutionStatus;
    readonly limit: number;
    readonly pageToken?: string;
  }): Promise<{ readonly items: readonly ExecutionDetail[]; readonly nextToken?: string }> {
    const matching = [...this.executions.values()]
      .reverse()
      .filter((detail) => request.status === undefined || detail.status === request.status);
    const at = request.pageToken === undefined ? 0 : Number(request.pageToken);
    const next = at + request.limit;
    return Promise.resolve({
      items: matching.slice(at, next),
      ...(next < matching.length ? { nextToken: String(next) } : {}),
    });
  }

  /** The step a finished execution failed in (kept with the detail by `finish`). */
  failedStep(name: string): Promise<string | undefined> {
    return Promise.resolve(this.executions.get(name)?.failedStep);
  }

  finish(name: string, patch: Partial<ExecutionDetail>): void {
    const detail = this.executions.get(name);
    if (!detail) throw new Error(`no execution ${name}`);
    this.executions.set(name, { ...detail, ...patch });
  }
}

/** The lock fake of the orchestration (the DynamoDB lock store's conditions) on the API's clock. */
export class MemoryLocks extends InMemoryLockStore {
  constructor(clock: Clock = new FixedClock()) {
    super(() => clock.now());
  }
}

export class MemoryRestoreJobs implements RestoreJobs {
  readonly jobs = new Map<string, api.Restore>();
  startCalls = 0;

  constructor(private readonly clock: Clock) {}

  start(restoreId: string, image: api.Image, request: api.StartRestoreRequest): Promise<api.Restore> {
    this.startCalls += 1;
    const job: api.Restore = {
      restoreId,
      imageId: image.imageId,
      volumeId: image.volumeId,
      kind: request.kind,
      ...('path' in request ? { path: request.path } : {}),
      ...('application' in request ? { application: request.application } : {}),
      status: 'PENDING',
      createdAt: this.clock.now().toISOString(),
    };
    this.jobs.set(restoreId, job);
    return Promise.resolve(job);
  }

  get(restoreId: string): Promise<api.Restore> {
    const job = this.jobs.get(restoreId);
    return job
      ? Promise.resolve(job)
      : Promise.reject(new NotFoundError(`restore ${restoreId} does not exist`, { context: { restoreId } }));
  }

  finish(restoreId: string, patch: Partial<api.Restore>): void {
    const job = this.jobs.get(restoreId);
    if (!job) throw new Error(`no restore ${restoreId}`);
    this.jobs.set(restoreId, { ...job, ...patch });
  }
}

export const TEST_CURSOR_KEY = new Uint8Array(32).fill(7);

export interface MemoryApi {
  readonly deps: ApiDeps;
  readonly world: MemoryApiWorld;
  readonly executions: MemoryExecutions;
  readonly locks: MemoryLocks;
  readonly restores: MemoryRestoreJobs;
  readonly clock: FixedClock;
}

/** ApiDeps over memory, with the real backup launcher and cursor codec. */
export function memoryApi(): MemoryApi {
  const clock = new FixedClock();
  const world = new MemoryApiWorld();
  const executions = new MemoryExecutions(clock);
  const locks = new MemoryLocks(clock);
  const restores = new MemoryRestoreJobs(clock);
  let sequence = 0;
  const deps: ApiDeps = {
    volumes: world,
    images: world,
    catalog: world,
    backups: new StateMachineBackupLauncher({ executions, locks, volumes: world, clock }),
    restores,
    cursors: new CursorCodec(TEST_CURSOR_KEY),
    ids: { newId: (prefix) => `${prefix}-${String((sequence += 1)).padStart(4, '0')}` },
    clock,
  };
  return { deps, world, executions, locks, restores, clock };
}

/**
 * The recovery-point service of a memory API: its executions, locks and clock, a fresh job store,
 * no replica volumes; `points` and, when given, which images are live.
 */
export function memoryRecoveryPoints(
  api: MemoryApi,
  points: RecoveryPointStore,
  images?: ImageLiveness,
): RecoveryPointService {
  return new RecoveryPointService({
    points,
    replicas: { listReplicaVolumes: () => Promise.resolve([]) },
    executions: api.executions,
    locks: api.locks,
    jobs: new MemoryJobStore(),
    clock: api.clock,
    ...(images === undefined ? {} : { images }),
  });
}

export const VOLUME_A = 'vol-0123456789abcdef0';
export const VOLUME_B = 'vol-0fedcba9876543210';

function image(imageId: string, volumeId: string, createdAt: string, kind: api.Image['kind']): api.Image {
  return {
    imageId,
    volumeId,
    createdAt,
    kind,
    status: 'cataloged',
    snapshotId: `snap-${imageId.replace(/\W/g, '').padEnd(17, '0').slice(0, 17)}`,
    volumeSizeBytes: 1_073_741_824,
    formatVersion: 1,
    stats: { chunksCreated: 3, bytesCreated: 3_000, blocksRead: 6 },
  };
}

/** Two volumes; volume A has three images of a small tree that changes between them. */
export function seededMemoryApi(): MemoryApi {
  const api = memoryApi();
  api.world.addVolume({
    volumeId: VOLUME_A,
    serverId: 's-0123456789abcdef0',
    device: '/dev/xvda',
    sizeGib: 1,
  });
  api.world.addVolume({ volumeId: VOLUME_B, sizeGib: 2 });
  const base: Tree = {
    '/etc': { type: 'directory' },
    '/etc/hosts': { type: 'file', sizeBytes: 120 },
    '/etc/passwd': { type: 'file', sizeBytes: 900 },
    '/home': { type: 'directory' },
    '/home/ann': { type: 'directory' },
    '/home/ann/notes.txt': { type: 'file', sizeBytes: 10 },
  };
  api.world.addImage(image('img-1', VOLUME_A, '2026-11-01T00:00:00.000Z', 'full'), base);
  api.world.addImage(image('img-2', VOLUME_A, '2026-11-02T00:00:00.000Z', 'incremental'), {
    ...base,
    '/home/ann/notes.txt': { type: 'file', sizeBytes: 20 },
  });
  api.world.addImage(
    image('img-3', VOLUME_A, '2026-11-03T00:00:00.000Z', 'incremental'),
    {
      ...base,
      '/home/ann/notes.txt': { type: 'file', sizeBytes: 20 },
      '/srv': { type: 'directory' },
      '/srv/hosts': { type: 'file', sizeBytes: 5 },
    },
    [
      {
        name: 'pg-main',
        type: 'postgresql',
        version: '16',
        databases: [{ name: 'app', paths: ['/var/lib/postgresql/16/main/base'] }],
        paths: ['/var/lib/postgresql/16/main'],
      },
    ],
  );
  return api;
}
