/**
 * What the API needs from the rest of the product, as small interfaces. The handler binds them to
 * the DynamoDB/S3/Step Functions adapters (lambdas/handlers/api.ts); tests bind them to fakes.
 * Every port throws the product's errors (NotFoundError, ConflictError, ...), which the API maps
 * to statuses (api-errors.ts).
 */
import type { FileSearchPort } from './file-search-routes.ts';
import type { Clock } from '../ports.ts';
import type { BackupListQuery } from './backup-launcher.ts';
import type { BackupCancellation } from './backup-cancel.ts';
import type { BackupResumption } from './backup-resume.ts';
import type { CursorCodec } from './cursor.ts';
import type { LifecycleApi } from './lifecycle-api.ts';
import type { PlanApiDeps } from './plan-routes.ts';
import type { RecoveryPointService } from '../recovery-points/recovery-point-service.ts';
import type { WorkflowServicePorts } from '../workflows/workflow-service.ts';
import type { StartWorkflowRunPorts } from '../workflows/workflow-run-service.ts';
import type {
  Application,
  Backup,
  DirectoryEntry,
  FileVersion,
  FoundFile,
  Image,
  ImageCatalog,
  Restore,
  StartRestoreRequest,
  Volume,
} from './schemas.ts';

/** One page from a store that paginates itself (DynamoDB Query): items and the store's next token. */
export interface StorePage<T> {
  readonly items: readonly T[];
  /** The store's own continuation (e.g. an encoded LastEvaluatedKey); absent on the last page. */
  readonly nextToken?: string;
}

export interface PageRequest {
  readonly limit: number;
  /** A token from a previous StorePage of the same query. */
  readonly pageToken?: string;
}

/**
 * A store of named records that reads one page at a time in name order (the order of its sort
 * key): `pageToken` is the name of the previous page's last record, and a page holds the records
 * after it. The API's cursor (cursor.ts) carries that name signed and bound to its query.
 */
export interface NamedRecordPages<R> {
  page(request: PageRequest): Promise<StorePage<R>>;
}

export interface VolumeDirectory {
  /** Every protected volume, ordered by volume id. */
  listVolumes(): Promise<readonly Volume[]>;
  /**
   * One page of the protected volumes; the image count and latest image are read for the page's
   * volumes only. Read a page at a time from EC2: by volume id within a page, in EC2's order
   * across pages. From a source without pages: by volume id, the token the page's last volume id.
   */
  pageVolumes(page: PageRequest): Promise<StorePage<Volume>>;
  /**
   * One page of the volume's committed images, newest first, read as a page from the image
   * records (the token is the store's). NotFoundError when the volume has no image and is not
   * protected.
   */
  pageImages(volumeId: string, filter: ImageListFilter, page: PageRequest): Promise<StorePage<Image>>;
}

/** What GET /volumes/{id}/images narrows the listing to (all bounds inclusive). */
export interface ImageListFilter {
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly status?: Image['status'] | undefined;
  readonly kind?: Image['kind'] | undefined;
}

export interface ImageDirectory {
  /** Committed images of the volume, oldest first. NotFoundError when the volume is unknown. */
  listImages(volumeId: string): Promise<readonly Image[]>;
  /** NotFoundError when no committed image has this id. */
  getImage(imageId: string): Promise<Image>;
}

export interface CatalogReader {
  /**
   * The directory `path` as it was in the image, ordered by name. `partition` undefined: the
   * image's only catalogued filesystem (ValidationError when it has several).
   */
  listDirectory(
    image: Image,
    path: string,
    partition: number | undefined,
    page: PageRequest,
  ): Promise<StorePage<DirectoryEntry>>;
  /** Every version of `path` across the volume's images, oldest first (empty when never seen). */
  listVersions(
    volumeId: string,
    path: string,
    partition: number | undefined,
    page: PageRequest,
  ): Promise<StorePage<FileVersion>>;
  /** Files named exactly `name` in any image of the volume. */
  findByName(volumeId: string, name: string, page: PageRequest): Promise<StorePage<FoundFile>>;
  /** Application records of the image (from the agent's metadata file); empty when none. */
  listApplications(image: Image): Promise<readonly Application[]>;
  /**
   * Checks what a file, directory or application restore names before any job starts:
   * NotFoundError when the path or application is not in the image, ValidationError when the
   * path is of the wrong kind or the image has several filesystems and none is named. An image
   * without a catalog record passes (the restore worker checks it as it reads). Answers what the
   * catalog says the restore writes at least, when it knows (CataloguedBytes), for
   * RestoreJobs.start to refuse a restore larger than it can write.
   */
  checkRestoreTarget(image: Image, target: RestoreTarget): Promise<CataloguedBytes | void>;
  /** What the catalog found in the image; undefined when it has no catalog record yet. */
  catalogOfImage(image: Image): Promise<ImageCatalog | undefined>;
}

/**
 * The fewest bytes a restore writes, as catalogued: a file's size, or the sum of the regular files'
 * sizes of a whole filesystem (a directory archive holds at least its files' bytes).
 */
export interface CataloguedBytes {
  readonly bytes: number;
}

/** What a file, directory or application restore names (a volume restore names only the image). */
export type RestoreTarget = Exclude<StartRestoreRequest, { kind: 'volume' }>;

export interface BackupLauncher {
  /**
   * Starts an on-demand backup of the volume under `backupId`. ConflictError (with the reason and
   * the running backup in its context) when a backup of the volume holds its lock or is running.
   */
  start(request: {
    readonly backupId: string;
    readonly volumeId: string;
    readonly full: boolean;
    readonly trigger: string;
    /** The copy to back up; absent: the replica. */
    readonly source?: 'replica' | 'primary';
  }): Promise<Backup>;
  /** NotFoundError when no backup has this id. */
  describe(backupId: string): Promise<Backup>;
  /** GET /backups: one page of backups, newest first (backup-launcher.ts listBackups). */
  list?(query: BackupListQuery): Promise<StorePage<Backup>>;
  /** POST /backups/{id}/cancel (backup-cancel.ts): NotFoundError, or ConflictError when not cancellable. */
  cancel?(backupId: string, by: string): Promise<BackupCancellation>;
  /** POST /backups/{id}/resume (backup-resume.ts): NotFoundError, or BackupNotResumableError (409). */
  resume?(backupId: string): Promise<BackupResumption>;
}

export interface RestoreJobs {
  /**
   * Creates and starts a restore job of a committed image; answers at once with its first state.
   * `catalogued`: what checkRestoreTarget answered; a restore larger than one restore can write
   * is refused with a ValidationError before any job exists.
   */
  start(
    restoreId: string,
    image: Image,
    request: StartRestoreRequest,
    catalogued?: CataloguedBytes,
  ): Promise<Restore>;
  /** NotFoundError when no restore has this id. The answer carries a fresh presigned URL once it succeeded. */
  get(restoreId: string): Promise<Restore>;
  /** GET /restores: one page of restores, newest first, without download URLs. */
  list?(request: {
    readonly limit: number;
    readonly pageToken?: string;
    readonly status?: Restore['status'];
  }): Promise<StorePage<Restore>>;
  /** POST /restores/{id}/cancel (restore-cancel.ts): NotFoundError, or ConflictError when it finished. */
  cancel?(restoreId: string): Promise<Restore>;
}

/** Unique ids for new backups and restores (time-ordered, so listings sort by age). */
export interface IdSource {
  newId(prefix: 'bk' | 'rs'): string;
}

export interface ApiDeps {
  readonly volumes: VolumeDirectory;
  readonly images: ImageDirectory;
  readonly catalog: CatalogReader;
  readonly backups: BackupLauncher;
  readonly restores: RestoreJobs;
  readonly cursors: CursorCodec;
  readonly ids: IdSource;
  readonly clock: Clock;
  /** Retention and image deletion (lifecycle-api.ts); absent where the lifecycle is not wired. */
  readonly lifecycle?: LifecycleApi;
  /** Protection plans, servers and settings (plan-routes.ts); absent where plans are not wired. */
  readonly plans?: PlanApiDeps;
  /** Server backups, recovery points and server restores (docs/recovery-points.md); absent where not wired. */
  readonly recoveryPoints?: RecoveryPointService;
  /** Workflows (workflow-routes.ts); absent where workflows are not wired. */
  readonly workflows?: WorkflowServicePorts;
  /** GET /files/search (file-search-routes.ts); absent where it is not wired. */
  readonly fileSearch?: FileSearchPort;
  /** Workflow runs (workflow-routes.ts); absent where the run state machine is not wired. */
  readonly workflowRuns?: StartWorkflowRunPorts;
}
