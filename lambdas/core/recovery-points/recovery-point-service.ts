/**
 * What the REST API does with servers and recovery points (docs/recovery-points.md): start a
 * backup of a whole server, list and show its recovery points with every volume's filesystems
 * under the device name, list a recovery point's files through that device-named tree, and
 * restore a whole server (one volume restore per image, through the API's volume-restore entry
 * point, RestoreJobs.start).
 */
import { z } from 'zod';
import { NotFoundError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { LV_NUMBER_BASE } from '../fs/volume.ts';
import {
  jobsOfKind,
  recordOf,
  commonOf,
  type JobCodec,
  type JobCommon,
  type JobStore,
} from '../jobs/job-store.ts';
import type { CatalogReader, ImageDirectory, PageRequest, RestoreJobs, StorePage } from '../api/api-ports.ts';
import { lockAndStart, type BackupExecutions, type LockReservations } from '../api/backup-launcher.ts';
import {
  serverBackupSettingsInput,
  type ServerBackupSettingsReader,
} from '../orchestration/server-backup-settings.ts';
import type { ReplicaVolumeSource } from '../api/record-directories.ts';
import { CatalogPathNotFoundError } from '../api/catalog-reader.ts';
import { configured } from '../api/route-definition.ts';
import type { Backup, DirectoryEntry, Restore } from '../api/schemas.ts';
import { mapWithConcurrency } from '../util/concurrency.ts';
import { GIB_BYTES } from '../geometry.ts';
import { restoreOfVolumeJob } from '../api/restore-service.ts';
import {
  RESTORED_VOLUME_TYPES,
  startVolumeRestore,
  volumeRestoreJobs,
  type RestoredVolumeType,
  type VolumeRestoreLauncher,
} from '../restore/volume-restore-jobs.ts';
import {
  checkRestoredVolumeRequest,
  RESTORED_VOLUME_DEFAULT_TYPE,
  type AvailabilityZones,
} from '../restore/restored-volumes.ts';
import {
  narrowToLiveImages,
  type ImageLiveness,
  type RecoveryPoint,
  type RecoveryPointImage,
  type RecoveryPointStore,
} from './recovery-points.ts';

// ---- Device-named paths ---------------------------------------------------------------------

/**
 * Where a filesystem of a recovery point appears: partition N of device D at `D<N>` (`p` before N
 * when D ends in a digit, as Linux names `/dev/nvme1n1p2`), the whole disk (partition 0) at `D`,
 * an LVM logical volume (numbered LV_NUMBER_BASE × PV partition + n) at `D-lv<number>`. A device
 * that is not a path (`disk0`) is put under `/`.
 */
export function filesystemPath(device: string, partition: number): string {
  const base = device.startsWith('/') ? device : `/${device}`;
  if (partition === 0) return base;
  if (partition >= LV_NUMBER_BASE) return `${base}-lv${partition}`;
  return /\d$/.test(base) ? `${base}p${partition}` : `${base}${partition}`;
}

/** One filesystem of a recovery point, as its catalog found it. */
export interface RecoveryPointFilesystem {
  /** The device-named path (filesystemPath). */
  readonly path: string;
  readonly device: string;
  readonly volumeId: string;
  readonly imageId: string;
  readonly partition: number;
  readonly type: string;
  readonly status: string;
  readonly label?: string;
  readonly files: number;
  readonly directories: number;
  readonly bytes: number;
}

export const recoveryPointViewSchema = z.object({
  recoveryPointId: z.string(),
  serverId: z.string(),
  backupId: z.string(),
  createdAt: z.string(),
  checkpointId: z.string().optional(),
  images: z.array(
    z.object({
      volumeId: z.string(),
      device: z.string(),
      imageId: z.string(),
      snapshotId: z.string(),
      kind: z.enum(['full', 'incremental']),
    }),
  ),
  trigger: z
    .string()
    .optional()
    .describe(
      'Who started the backup: plan:<plan>, schedule:<name>, api:<principal> or manual; absent on points written before points recorded it',
    ),
});
export const recoveryPointDetailSchema = recoveryPointViewSchema.extend({
  filesystems: z
    .array(
      z.object({
        path: z
          .string()
          .describe('Where the filesystem appears in the recovery point’s tree, e.g. /dev/xvdb1'),
        device: z.string(),
        volumeId: z.string(),
        imageId: z.string(),
        partition: z.number().int(),
        type: z.string(),
        status: z.string(),
        label: z.string().optional(),
        files: z.number().int(),
        directories: z.number().int(),
        bytes: z.number().int(),
      }),
    )
    .describe('Every catalogued filesystem of every volume, under its device name'),
});
export type RecoveryPointView = z.infer<typeof recoveryPointViewSchema>;
export type RecoveryPointDetail = z.infer<typeof recoveryPointDetailSchema>;

export function viewOf(point: RecoveryPoint): RecoveryPointView {
  return {
    recoveryPointId: point.recoveryPointId,
    serverId: point.serverId,
    backupId: point.backupId,
    createdAt: point.createdAt,
    ...(point.checkpointId === undefined ? {} : { checkpointId: point.checkpointId }),
    images: point.images.map((i) => ({ ...i })),
    ...(point.trigger === undefined ? {} : { trigger: point.trigger }),
  };
}

/**
 * Mode of the directories the tree makes up above its filesystems (`/`, `/dev`, and `/dev/xvdb1`
 * in a listing of `/dev`): no filesystem holds them and the tree is a read-only view of a backup,
 * so they read as a directory anyone may list and nobody may change (`dr-xr-xr-x`).
 */
export const RECOVERY_POINT_DIRECTORY_MODE = 0o40555;

/** Catalog states of a filesystem whose listing the tree shows (as the images' listings). */
const LISTABLE_FILESYSTEM_STATES: ReadonlySet<string> = new Set(['complete', 'partial']);

/** Splits a normalised path on `/` into its components (none for `/`). */
function componentsOf(path: string): string[] {
  return path.split('/').filter((c) => c !== '');
}

// ---- Server restores ------------------------------------------------------------------------

export const SERVER_RESTORE_KIND = 'server-restore';

export interface ServerRestoreVolume {
  readonly device: string;
  readonly volumeId: string;
  readonly imageId: string;
  /** The volume restore started for this image: `<restoreId>-v<N>`. */
  readonly restoreId: string;
}

/** Where a server restore makes volumes from the restored snapshots (`--availability-zone`). */
export interface ServerRestoreVolumeRequest {
  readonly availabilityZone: string;
  readonly volumeType: RestoredVolumeType;
  /** MiB/s (`--initialization-rate`); absent: the volumes load lazily from their snapshots. */
  readonly volumeInitializationRate?: number;
}

export interface ServerRestoreJob extends JobCommon {
  readonly recoveryPointId: string;
  readonly serverId: string;
  readonly volumes: readonly ServerRestoreVolume[];
  /** Absent: snapshots only. */
  readonly restoredVolumes?: ServerRestoreVolumeRequest;
}

export const SERVER_RESTORE_JOB: JobCodec<ServerRestoreJob> = {
  kind: SERVER_RESTORE_KIND,
  toRecord: (job) =>
    recordOf(SERVER_RESTORE_KIND, job, {
      params: {
        recoveryPointId: job.recoveryPointId,
        serverId: job.serverId,
        volumes: job.volumes.map((v) => ({ ...v })),
        ...(job.restoredVolumes === undefined ? {} : { restoredVolumes: { ...job.restoredVolumes } }),
      },
    }),
  fromRecord: (record) => ({
    ...(record.params as {
      recoveryPointId: string;
      serverId: string;
      volumes: ServerRestoreVolume[];
      restoredVolumes?: ServerRestoreVolumeRequest;
    }),
    ...commonOf(record),
  }),
};

export const serverRestoreSchema = z.object({
  restoreId: z.string(),
  recoveryPointId: z.string(),
  serverId: z.string(),
  status: z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED']),
  createdAt: z.string(),
  availabilityZone: z
    .string()
    .optional()
    .describe('Where volumes are made from the restored snapshots (absent: snapshots only)'),
  volumeType: z.enum(RESTORED_VOLUME_TYPES).optional(),
  volumeInitializationRate: z
    .number()
    .int()
    .optional()
    .describe(
      'EBS Provisioned Rate for Volume Initialization of the new volumes, MiB/s (absent: lazy loading)',
    ),
  snapshots: z.array(
    z.object({
      device: z.string(),
      volumeId: z.string(),
      imageId: z.string(),
      snapshotId: z
        .string()
        .optional()
        .describe('The new EBS snapshot, once this volume’s restore succeeded'),
      restoredVolumeId: z
        .string()
        .optional()
        .describe('The new EBS volume made from the snapshot (with availabilityZone), once it exists'),
      availabilityZone: z.string().optional(),
      restoreId: z.string().describe('The volume restore of this image (GET /restores/{restoreId})'),
      status: z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED']),
      error: z.string().optional(),
    }),
  ),
});
export type ServerRestore = z.infer<typeof serverRestoreSchema>;

/** The server restore's status from its volumes': failed once any failed and none runs, succeeded when all did. */
export function serverRestoreStatus(
  statuses: readonly Restore['status'][],
): Exclude<Restore['status'], 'CANCELLED'> {
  if (statuses.every((s) => s === 'SUCCEEDED')) return 'SUCCEEDED';
  if (statuses.some((s) => s === 'PENDING' || s === 'RUNNING')) {
    return statuses.every((s) => s === 'PENDING') ? 'PENDING' : 'RUNNING';
  }
  return 'FAILED';
}

/** Every catalogued filesystem of the recovery point's images, by device-named path. */
async function filesystemsOf(api: ApiServices, point: RecoveryPoint): Promise<RecoveryPointFilesystem[]> {
  const found: RecoveryPointFilesystem[] = [];
  for (const entry of point.images) {
    const image = await api.images.getImage(entry.imageId);
    const catalog = await api.catalog.catalogOfImage(image);
    for (const fs of catalog?.filesystems ?? []) {
      found.push({
        path: filesystemPath(entry.device, fs.partition),
        device: entry.device,
        volumeId: entry.volumeId,
        imageId: entry.imageId,
        partition: fs.partition,
        type: fs.type,
        status: fs.status,
        ...(fs.label === undefined ? {} : { label: fs.label }),
        files: fs.files,
        directories: fs.directories,
        bytes: fs.bytes,
      });
    }
  }
  return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// ---- The service ----------------------------------------------------------------------------

export interface RecoveryPointServiceDeps {
  readonly points: RecoveryPointStore;
  readonly replicas: ReplicaVolumeSource;
  readonly executions: BackupExecutions;
  /** The backup locks: a start reserves every volume's lock for the execution it starts. */
  readonly locks: LockReservations;
  /** The job store of the restores' key space (server restores are jobs of kind `server-restore`). */
  readonly jobs: JobStore;
  readonly clock: Clock;
  /**
   * Which images are live: what is shown and restored is narrowed to them (narrowToLiveImages).
   * Absent: points are shown as stored.
   */
  readonly images?: ImageLiveness;
  /**
   * Restores that also make volumes (`availabilityZone`) start their volume restores here, with
   * the volume in the job: the volume-restore state machine's launcher, the stack's key for the
   * snapshots (and so the volumes) and the region's zones. Absent: such a request is a 400.
   */
  readonly restoredVolumes?: {
    readonly launcher: VolumeRestoreLauncher;
    readonly zones: AvailabilityZones;
    readonly kmsKeyArn?: string;
  };
  /**
   * The servers' configured `probe`, `syncWait` and `snapshotWait` (lib/config.ts `servers[]`): a
   * server's backup starts with them (`POST /backups` names no waits of its own), and is refused
   * when the server's configured `volumeIds` are not its tagged volumes. Absent: the defaults of
   * backup-request.ts, no check.
   */
  readonly serverSettings?: ServerBackupSettingsReader;
}

/** The API's own services a call works through (ApiDeps: images, catalog, volume restores). */
export interface ApiServices {
  readonly images: ImageDirectory;
  readonly catalog: CatalogReader;
  readonly restores: RestoreJobs;
}

/** Servers whose newest point is read at once (`GET /servers`): one Query each, a page at a time. */
export const NEWEST_POINT_QUERIES_IN_FLIGHT = 16;
/**
 * Points read further, newest first, for a server whose newest point names no live image (a
 * commit that raced its image's deletion): one more Query of this many per round.
 */
export const NEWEST_POINT_LOOKAHEAD = 10;
/** Rounds of that look-ahead at most: a server with no live point among them shows none. */
export const NEWEST_POINT_MAX_ROUNDS = 3;

/** The tag the README's config and `POST /backups {serverId}` select a server's volumes by. */
export const SOURCE_SERVER_TAG = 'rbp:source-server';

export class RecoveryPointService {
  constructor(private readonly deps: RecoveryPointServiceDeps) {}

  /** The replica volumes of the server, by volume id. NotFoundError when it has none. */
  async serverVolumes(serverId: string): Promise<string[]> {
    const volumes = (await this.deps.replicas.listReplicaVolumes())
      .filter((v) => v.serverId === serverId)
      .map((v) => v.volumeId)
      .sort();
    if (volumes.length === 0) {
      throw new NotFoundError(`server ${serverId} has no replica volumes (tag ${SOURCE_SERVER_TAG})`, {
        context: { serverId },
      });
    }
    return volumes;
  }

  /**
   * Starts a backup of every replica volume of the server as one run (one recovery point), with
   * the server's configured probe and waits (deps.serverSettings) in the execution input.
   * ConflictError when a backup holds the lock of any of its volumes; ServerVolumesMismatchError
   * (a ValidationError, 400) when the configuration lists other volumes than the tagged ones, before
   * any lock is taken.
   */
  async startServerBackup(request: {
    readonly backupId: string;
    readonly serverId: string;
    readonly full: boolean;
    readonly trigger: string;
    /** The copy to back up (core/backup/primary-source.ts); the state machine's default is the replica. */
    readonly source?: 'replica' | 'primary';
  }): Promise<Backup> {
    const { serverId, backupId } = request;
    const volumeIds = await this.serverVolumes(serverId);
    const input = {
      ...(await serverBackupSettingsInput(this.deps.serverSettings, serverId, volumeIds)),
      serverId,
      volumeIds,
      full: request.full,
      trigger: request.trigger,
      ...(request.source === undefined ? {} : { source: request.source }),
    };
    const started = await lockAndStart(this.deps, backupId, input, {
      what: `server ${serverId}`,
      context: { serverId },
    });
    return { backupId, serverId, full: request.full, status: 'RUNNING', startedAt: started.startedAt };
  }

  /**
   * One page of the server's recovery points, newest first, read as one page from the store (the
   * token is the store's). NotFoundError for a server with neither points nor volumes.
   */
  async pageRecoveryPoints(
    serverId: string,
    page: { readonly limit: number; readonly token?: string | undefined },
  ): Promise<{ readonly items: RecoveryPointView[]; readonly nextToken?: string }> {
    const found = await this.deps.points.pageByServer(serverId, page);
    if (found.points.length === 0 && page.token === undefined) await this.serverVolumes(serverId);
    const items = (await narrowToLiveImages(found.points, this.deps.images)).map(viewOf);
    return found.nextToken === undefined ? { items } : { items, nextToken: found.nextToken };
  }

  /**
   * The newest recovery point of each server that has a live one, narrowed to its live images:
   * per server one Query of one point (newest first), and one liveness read for all of them, so
   * the cost follows the number of servers asked, not their history. A server whose newest point
   * names no live image reads NEWEST_POINT_LOOKAHEAD older ones, for NEWEST_POINT_MAX_ROUNDS rounds.
   */
  async newestPoints(serverIds: readonly string[]): Promise<Map<string, RecoveryPoint>> {
    const newest = new Map<string, RecoveryPoint>();
    let asking = serverIds.map((serverId) => ({ serverId, token: undefined as string | undefined }));
    for (let round = 0; round < NEWEST_POINT_MAX_ROUNDS && asking.length > 0; round += 1) {
      const limit = round === 0 ? 1 : NEWEST_POINT_LOOKAHEAD;
      const pages = await mapWithConcurrency(asking, NEWEST_POINT_QUERIES_IN_FLIGHT, ({ serverId, token }) =>
        this.deps.points.pageByServer(serverId, { limit, token }),
      );
      const live = await narrowToLiveImages(
        pages.flatMap((page) => page.points),
        this.deps.images,
      );
      // Pages are newest first and narrowing keeps their order: a server's first live point is its newest.
      for (const point of live) if (!newest.has(point.serverId)) newest.set(point.serverId, point);
      asking = asking.flatMap((ask, n) => {
        const nextToken = pages[n]!.nextToken;
        return newest.has(ask.serverId) || nextToken === undefined ? [] : [{ ...ask, token: nextToken }];
      });
    }
    return newest;
  }

  /** The recovery point with every volume's filesystems under its device name. */
  async getRecoveryPoint(api: ApiServices, recoveryPointId: string): Promise<RecoveryPointDetail> {
    const point = await this.livePoint(recoveryPointId);
    return { ...viewOf(point), filesystems: await filesystemsOf(api, point) };
  }

  /**
   * A directory of the recovery point's tree: above the filesystems, the path components that lead
   * to them (as directories); inside one, its catalog listing with the device-named prefix.
   * NotFoundError for a path that is neither.
   */
  async listFiles(
    api: ApiServices,
    recoveryPointId: string,
    path: string,
    page: PageRequest,
  ): Promise<StorePage<DirectoryEntry>> {
    const point = await this.livePoint(recoveryPointId);
    const all = await filesystemsOf(api, point);
    const filesystems = all.filter((fs) => LISTABLE_FILESYSTEM_STATES.has(fs.status));
    const wanted = componentsOf(path);
    const inside = all
      .map((fs) => ({ fs, prefix: componentsOf(fs.path) }))
      .filter(({ prefix }) => prefix.length <= wanted.length && prefix.every((c, i) => wanted[i] === c))
      .sort((a, b) => b.prefix.length - a.prefix.length)[0];
    if (inside !== undefined) {
      const { fs, prefix } = inside;
      if (!LISTABLE_FILESYSTEM_STATES.has(fs.status)) {
        throw new NotFoundError(
          `${fs.path} in recovery point ${recoveryPointId} holds no filesystem this product reads (catalog: ${fs.status}); restore it whole: rbp restore server --recovery-point ${recoveryPointId}, or rbp restore volume --image ${fs.imageId}`,
          { context: { recoveryPointId, path: fs.path, imageId: fs.imageId, status: fs.status } },
        );
      }
      const innerPath = `/${wanted.slice(prefix.length).join('/')}`;
      const image = await api.images.getImage(fs.imageId);
      const listed = await api.catalog
        .listDirectory(image, innerPath, fs.partition, page)
        .catch((error: unknown) => {
          if (!(error instanceof CatalogPathNotFoundError)) throw error;
          throw new NotFoundError(`${path} ${error.problem} in recovery point ${recoveryPointId}`, {
            context: { recoveryPointId, path },
            cause: error,
          });
        });
      return {
        ...listed,
        items: listed.items.map((item) => ({
          ...item,
          path: `${fs.path}${item.path === '/' ? '' : item.path}`,
        })),
      };
    }
    const below = new Map<string, DirectoryEntry>();
    for (const fs of filesystems) {
      const components = componentsOf(fs.path);
      if (components.length <= wanted.length || !wanted.every((c, i) => components[i] === c)) continue;
      const name = components[wanted.length]!;
      const childPath = `/${[...wanted, name].join('/')}`;
      below.set(name, {
        name,
        path: childPath,
        type: 'directory',
        sizeBytes: 0,
        mode: RECOVERY_POINT_DIRECTORY_MODE,
      });
    }
    if (below.size === 0) {
      throw new NotFoundError(`${path} is not in recovery point ${recoveryPointId}`, {
        context: { recoveryPointId, path },
      });
    }
    return { items: [...below.values()].sort((a, b) => (a.name < b.name ? -1 : 1)) };
  }

  /**
   * Restores every volume of the recovery point to an EBS snapshot: one server-restore job, and one
   * volume restore per image (`<restoreId>-v<N>`) started through RestoreJobs. With
   * `availabilityZone`, each volume restore also makes a volume from its snapshot in that zone
   * (restored-volumes.ts); the zone and the sizes are checked before any job exists.
   */
  async startServerRestore(
    api: ApiServices,
    restoreId: string,
    recoveryPointId: string,
    options: {
      readonly availabilityZone?: string;
      readonly volumeType?: RestoredVolumeType;
      readonly volumeInitializationRate?: number;
    } = {},
  ): Promise<ServerRestore> {
    const point = await this.livePoint(recoveryPointId);
    const images = await Promise.all(point.images.map((i) => api.images.getImage(i.imageId)));
    const now = this.deps.clock.now().toISOString();
    const volumes = point.images.map((i: RecoveryPointImage, n): ServerRestoreVolume => ({
      device: i.device,
      volumeId: i.volumeId,
      imageId: i.imageId,
      restoreId: `${restoreId}-v${n}`,
    }));
    const sizesGib = images.map((image) => Math.ceil(image.volumeSizeBytes / GIB_BYTES));
    let restoredVolumes: ServerRestoreVolumeRequest | undefined;
    if (options.availabilityZone !== undefined) {
      restoredVolumes = {
        availabilityZone: options.availabilityZone,
        volumeType: options.volumeType ?? RESTORED_VOLUME_DEFAULT_TYPE,
        ...(options.volumeInitializationRate === undefined
          ? {}
          : { volumeInitializationRate: options.volumeInitializationRate }),
      };
      await checkRestoredVolumeRequest(this.volumeRestores().zones, {
        availabilityZone: restoredVolumes.availabilityZone,
        volumeType: restoredVolumes.volumeType,
        volumes: volumes.map((v, n) => ({ device: v.device, sizeGib: sizesGib[n]! })),
      });
    }
    const job: ServerRestoreJob = {
      restoreId,
      recoveryPointId,
      serverId: point.serverId,
      volumes,
      ...(restoredVolumes === undefined ? {} : { restoredVolumes }),
      status: 'running',
      createdAt: now,
      updatedAt: now,
    };
    await this.serverRestores().create(job);
    for (const [n, volume] of volumes.entries()) {
      if (restoredVolumes === undefined) {
        await api.restores.start(volume.restoreId, images[n]!, { kind: 'volume', imageId: volume.imageId });
        continue;
      }
      const { launcher, kmsKeyArn } = this.volumeRestores();
      await startVolumeRestore(
        { jobs: volumeRestoreJobs(this.deps.jobs), clock: this.deps.clock, launcher },
        {
          restoreId: volume.restoreId,
          volumeId: volume.volumeId,
          imageId: volume.imageId,
          ...(kmsKeyArn === undefined ? {} : { kmsKeyArn }),
          volume: {
            ...restoredVolumes,
            sizeGib: sizesGib[n]!,
            serverRestoreId: restoreId,
            serverId: point.serverId,
            device: volume.device,
          },
        },
      );
    }
    return this.getServerRestore(api, restoreId);
  }

  /** The server restore with every volume's state (one job lookup, then one per volume). */
  async getServerRestore(api: ApiServices, restoreId: string): Promise<ServerRestore> {
    const job = await this.serverRestores().get(restoreId);
    const asked = job.restoredVolumes;
    const snapshots = await Promise.all(
      job.volumes.map(async (volume) => {
        // A restore that makes volumes reads its volume jobs directly: they hold the new volume's id.
        const volumeJob =
          asked === undefined
            ? undefined
            : await volumeRestoreJobs(this.deps.jobs)
                .get(volume.restoreId)
                .catch((error: unknown) => {
                  if (error instanceof NotFoundError) return undefined;
                  throw error;
                });
        const restore =
          asked === undefined
            ? await api.restores.get(volume.restoreId).catch((error: unknown) => {
                if (error instanceof NotFoundError) return undefined;
                throw error;
              })
            : volumeJob === undefined
              ? undefined
              : restoreOfVolumeJob(volumeJob);
        // A cancelled volume restore (POST /restores/{id}/cancel) leaves its server restore failed.
        const status = restore === undefined || restore.status === 'CANCELLED' ? 'FAILED' : restore.status;
        return {
          device: volume.device,
          volumeId: volume.volumeId,
          imageId: volume.imageId,
          ...(restore?.snapshotId === undefined ? {} : { snapshotId: restore.snapshotId }),
          ...(volumeJob?.restoredVolumeId === undefined
            ? {}
            : { restoredVolumeId: volumeJob.restoredVolumeId }),
          ...(asked === undefined ? {} : { availabilityZone: asked.availabilityZone }),
          restoreId: volume.restoreId,
          status,
          ...(restore === undefined
            ? { error: `volume restore ${volume.restoreId} was never started` }
            : restore.error === undefined
              ? {}
              : { error: restore.error }),
        };
      }),
    );
    return {
      restoreId,
      recoveryPointId: job.recoveryPointId,
      serverId: job.serverId,
      status: serverRestoreStatus(snapshots.map((s) => s.status)),
      createdAt: job.createdAt,
      ...(asked === undefined
        ? {}
        : {
            availabilityZone: asked.availabilityZone,
            volumeType: asked.volumeType,
            ...(asked.volumeInitializationRate === undefined
              ? {}
              : { volumeInitializationRate: asked.volumeInitializationRate }),
          }),
      snapshots,
    };
  }

  /** The stored point narrowed to its live images; NotFoundError, as for no point, when none is. */
  private async livePoint(recoveryPointId: string): Promise<RecoveryPoint> {
    const [point] = await narrowToLiveImages([await this.deps.points.get(recoveryPointId)], this.deps.images);
    if (point === undefined) {
      throw new NotFoundError(
        `recovery point ${recoveryPointId} does not exist (none of its images is live)`,
        {
          context: { recoveryPointId },
        },
      );
    }
    return point;
  }

  /** What restores that make volumes need, or a ValidationError saying this deployment has none. */
  private volumeRestores(): NonNullable<RecoveryPointServiceDeps['restoredVolumes']> {
    return configured(this.deps.restoredVolumes, 'restored volumes (availabilityZone)');
  }

  private serverRestores() {
    return jobsOfKind(this.deps.jobs, SERVER_RESTORE_JOB, 'server restore');
  }
}

/** The service of a deployment, or a ValidationError saying it is not wired (ApiDeps without it). */
export function recoveryPointsOf(deps: {
  readonly recoveryPoints?: RecoveryPointService;
}): RecoveryPointService {
  return configured(deps.recoveryPoints, 'recovery points');
}
