/**
 * The one wiring module of the Lambdas: the environment (one zod schema, read once per container),
 * the SDK clients (sdk-clients.ts; X-Ray-traced only through tracing.ts) and the adapters built from them. A handler asks the
 * wiring for what it needs in one line:
 *
 *   export const handler = lazyHandler(() => createXHandler({ jobs: lambdaWiring().jobs(), ... }));
 *
 * so a new handler adds a line, not a module. `createApiDeps` and `createRestoreWorkerDeps` are the
 * two larger dependency sets (the REST API and the restore worker), also used over explicit clients
 * by the tests and the local stack.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import type { ApiDeps } from '../core/api/api-ports.ts';
import { StateMachineBackupLauncher } from '../core/api/backup-launcher.ts';
import { CatalogStoreReader, catalogStateOf } from '../core/api/catalog-reader.ts';
import { CursorCodec, MIN_CURSOR_KEY_BYTES } from '../core/api/cursor.ts';
import { timeOrderedIds } from '../core/api/ids.ts';
import { LifecycleService, type LifecycleApi } from '../core/api/lifecycle-api.ts';
import { RecordDirectories } from '../core/api/record-directories.ts';
import { RestoreService } from '../core/api/restore-service.ts';
import { DEFAULT_RANGE_WORKERS, SNAPSHOT_READ_BUDGET_REQUESTS_PER_SECOND } from '../core/backup/plan.ts';
import { ValidationError } from '../core/errors.ts';
import { fileRestoreJobs, type RestoreDeps } from '../core/file-restore/restore-jobs.ts';
import { ImageReader } from '../core/image/image-reader.ts';
import { ImageStore } from '../core/image/image-store.ts';
import {
  DEFAULT_RETAIN_BASE_SNAPSHOTS,
  retainBaseSnapshotsSchema,
} from '../core/orchestration/replica-snapshots.ts';
import { systemClock, type Clock } from '../core/ports.ts';
import { volumeRestoreJobs, type VolumeRestoreDeps } from '../core/restore/volume-restore-jobs.ts';
import type { VolumeRestoreStepDeps } from '../core/restore/volume-restore-steps.ts';
import { realSleep } from '../core/util/retry.ts';
import { DrsReplication } from './drs-replication.ts';
import { DynamoDbBackupLockStore } from './dynamodb-backup-lock.ts';
import { DynamoDbCatalogStore } from './dynamodb-catalog.ts';
import { DynamoDbImageRecordStore } from './dynamodb-image-records.ts';
import { DynamoDbLifecycleCatalog } from './dynamodb-lifecycle-catalog.ts';
import { DynamoDbLifecycleImageRecords } from './dynamodb-lifecycle-images.ts';
import { DynamoDbRecoveryPointStore } from './dynamodb-recovery-points.ts';
import { DynamoDbChunkQuarantine } from './dynamodb-chunk-quarantine.ts';
import { DynamoDbGcCoordination, DynamoDbScrubCursor, LIFECYCLE_JOBS } from './dynamodb-lifecycle-gc.ts';
import { LambdaLifecycleJobLauncher } from './lambda-lifecycle-launcher.ts';
import type { LifecycleRunDeps } from '../core/lifecycle/lifecycle-jobs.ts';
import { objectLockConfigSchema, type ObjectLockConfig } from '../core/lifecycle/object-lock.ts';
import { S3LifecycleObjectStore } from './s3-lifecycle-objects.ts';
import { DynamoDbRetentionRuleStore } from './dynamodb-lifecycle-retention.ts';
import { DynamoDbPlanStore } from './dynamodb-plan-store.ts';
import { Ec2ServerDirectory } from './ec2-server-directory.ts';
import { planRetentionSourceOf, type RetentionApplyDeps } from '../core/lifecycle/retention-apply.ts';
import { DynamoDbJobStore } from './dynamodb-job-store.ts';
import { EbsSnapshots } from './ebs-snapshots.ts';
import { Ec2PrimarySnapshots } from './ec2-primary-snapshots.ts';
import { Ec2ReplicaSnapshots } from './ec2-replica-snapshots.ts';
import { Ec2ReplicaVolumes, ReplicaVolumesWithRegistered } from './ec2-replica-volumes.ts';
import { Ec2SnapshotState } from './ec2-snapshot-state.ts';
import { createPlanApiDeps, createPlanRunDeps, planNamesOf } from './plan-wiring.ts';
import { createWorkflowApiDeps, deploymentOfArn, workflowScheduleTargetOf } from './workflow-wiring.ts';
import { createWorkflowRunApiDeps, createWorkflowRunDeps } from './workflow-run-wiring.ts';
import { createCommitRecoveryPointDeps, createRecoveryPointService } from './recovery-point-wiring.ts';
import {
  LambdaRestoreLauncher,
  RoutingRestoreLauncher,
  StateMachineVolumeRestoreLauncher,
} from './lambda-restore-launcher.ts';
import { EventBridgePublisher, SnsNotifier } from './outcome-publishers.ts';
import { S3ObjectStore } from './s3-object-store.ts';
import { S3RestoreObjectStore } from './s3-restore.ts';
import { s3ManifestPieces } from './s3-volume-restore-manifests.ts';
import { createSdkClients, type CaptureClient, type ClientOptions, type SdkClients } from './sdk-clients.ts';
import { SfnBackupExecutions } from './sfn-backup-executions.ts';

/** Random bytes in the unguessable part of a restore object key: 128 bits. */
const RESTORE_KEY_TOKEN_BYTES = 16;

const positiveSetting = (fallback: number) => z.coerce.number().int().min(1).max(1_000).default(fallback);

/** Every environment variable a Lambda of the product reads (lib/function-manifest.ts sets them). */
export const lambdaEnvironmentSchema = z.object({
  /** The product's DynamoDB table (locks, image records, catalog, jobs). */
  TABLE_NAME: z.string().min(1),
  IMAGE_BUCKET: z.string().min(3),
  WORK_BUCKET: z.string().min(3),
  /** The restore bucket (restored files and archives, presigned downloads). */
  RESTORE_BUCKET: z.string().min(3),
  EVENT_BUS_NAME: z.string().min(1),
  TOPIC_ARN: z.string().min(1),
  /** Base snapshots kept per volume (the configuration's baseSnapshotsRetained). */
  RETAIN_BASE_SNAPSHOTS: z.coerce
    .number()
    .pipe(retainBaseSnapshotsSchema)
    .default(DEFAULT_RETAIN_BASE_SNAPSHOTS),
  /** GetSnapshotBlock requests per second per snapshot, all range workers together (request budget). */
  SNAPSHOT_READ_BUDGET: positiveSetting(SNAPSHOT_READ_BUDGET_REQUESTS_PER_SECOND),
  /** Range workers of one snapshot at once (the Distributed Map's MaxConcurrency). */
  RANGE_WORKERS: positiveSetting(DEFAULT_RANGE_WORKERS),
  /** The backup state machine that POST /backups starts. */
  STATE_MACHINE_ARN: z.string().regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/),
  /** The restore worker Lambda that POST /restores starts asynchronously. */
  RESTORE_FUNCTION_NAME: z.string().min(1),
  /** HMAC key of pagination cursors, base64 (at least 32 bytes). */
  API_CURSOR_KEY: z.string().refine((value) => Buffer.from(value, 'base64').length >= MIN_CURSOR_KEY_BYTES, {
    message: `must be base64 of at least ${MIN_CURSOR_KEY_BYTES} bytes`,
  }),
  /** The lifecycle job Lambda (garbage collection, scrub) the API starts; absent: those routes answer 400. */
  LIFECYCLE_FUNCTION_NAME: z.string().min(1).optional(),
  /** The volume-restore state machine POST /restores starts (absent: the restore worker runs volume restores). */
  VOLUME_RESTORE_STATE_MACHINE_ARN: z
    .string()
    .regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/)
    .optional(),
  /** KMS key of restored snapshots when a request names none (the stack's key). */
  RESTORE_KMS_KEY_ARN: z.string().startsWith('arn:').optional(),
  /** The EventBridge Scheduler group that holds the plans' schedules. */
  PLAN_SCHEDULE_GROUP: z.string().regex(/^[\w.-]{1,64}$/),
  /** The plan-run state machine that plan schedules and POST /plans/{name}/runs start. */
  PLAN_RUN_STATE_MACHINE_ARN: z.string().regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/),
  /** The role EventBridge Scheduler assumes to start the plan-run state machine. */
  PLAN_SCHEDULER_ROLE_ARN: z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/),
  /**
   * The SQS queue plan and workflow schedules send a firing to once Scheduler's retries are spent
   * (lib/constructs/backup-monitoring.ts); absent: the schedules have no dead-letter queue.
   */
  SCHEDULE_DEAD_LETTER_QUEUE_ARN: z
    .string()
    .regex(/^arn:aws[\w-]*:sqs:[\w-]+:\d{12}:[\w-]+$/)
    .optional(),
  /** The workflow-run state machine POST /workflows/{name}/runs starts (absent: those routes answer 400). */
  WORKFLOW_RUN_STATE_MACHINE_ARN: z
    .string()
    .regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/)
    .optional(),
  /** The EventBridge Scheduler group of the workflows' schedules (absent: a scheduled workflow only stores its schedule). */
  WORKFLOW_SCHEDULE_GROUP: z
    .string()
    .regex(/^[\w.-]{1,64}$/)
    .optional(),
  /** The role EventBridge Scheduler assumes to start the workflow-run state machine. */
  WORKFLOW_SCHEDULER_ROLE_ARN: z
    .string()
    .regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/)
    .optional(),
  /**
   * The image bucket's Object Lock (lib/config.ts objectLock) as JSON: mode, retentionDays,
   * generationDays. Set on the functions that write, extend or delete images; absent: no locks.
   */
  OBJECT_LOCK: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON: {"mode","retentionDays","generationDays"}' });
        return z.NEVER;
      }
    })
    .pipe(objectLockConfigSchema)
    .optional(),
});
export type LambdaEnvironment = z.infer<typeof lambdaEnvironmentSchema>;
export type EnvironmentKey = keyof LambdaEnvironment;

/** The variables the REST API function reads. */
export const API_ENVIRONMENT = [
  'TABLE_NAME',
  'STATE_MACHINE_ARN',
  'RESTORE_BUCKET',
  'RESTORE_FUNCTION_NAME',
  'API_CURSOR_KEY',
  'VOLUME_RESTORE_STATE_MACHINE_ARN',
  'RESTORE_KMS_KEY_ARN',
] as const satisfies readonly EnvironmentKey[];
export type ApiEnvironment = Pick<LambdaEnvironment, (typeof API_ENVIRONMENT)[number]>;

/** The variables of the plan routes (and of the plan-run function, which starts no schedules). */
export const PLAN_ENVIRONMENT = [
  'TABLE_NAME',
  'PLAN_SCHEDULE_GROUP',
  'PLAN_RUN_STATE_MACHINE_ARN',
  'PLAN_SCHEDULER_ROLE_ARN',
  'SCHEDULE_DEAD_LETTER_QUEUE_ARN',
] as const satisfies readonly EnvironmentKey[];

/** Messages of a zod failure, one per problem, with the path. */
export function zodProblems(error: z.ZodError, whole = '(event)'): string {
  return error.issues.map((i) => `${i.path.join('.') || whole}: ${i.message}`).join('; ');
}

/** The variables `keys` of the environment, validated (a missing or bad one names itself). */
export function readEnvironment<K extends EnvironmentKey>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<LambdaEnvironment, K> {
  const mask = Object.fromEntries(keys.map((key) => [key, true])) as Partial<Record<EnvironmentKey, true>>;
  const parsed = lambdaEnvironmentSchema.pick(mask).safeParse(env);
  if (!parsed.success)
    throw new ValidationError(`Lambda environment is incomplete: ${zodProblems(parsed.error)}`);
  return parsed.data;
}

/**
 * The Lambdas' adapters, each built on first use from the environment and the clients (passed
 * through `capture`: untraced by default, tracing.ts's tracedLambdaWiring traces them).
 */
export class LambdaWiring {
  readonly clock: Clock = systemClock;
  /** Orchestration and API clients: the SDK's own retries. */
  readonly control: SdkClients;
  /** Engine and restore-worker clients: no SDK retries, explicit timeouts. */
  readonly engine: SdkClients;
  private readonly built = new Map<string, unknown>();

  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    capture: CaptureClient = (client) => client,
    options: ClientOptions = {},
  ) {
    this.control = createSdkClients('control', options, capture);
    this.engine = createSdkClients('engine', options, capture);
  }

  environment<K extends EnvironmentKey>(...keys: K[]): Pick<LambdaEnvironment, K> {
    return readEnvironment(keys, this.env);
  }

  private once<T>(name: string, build: () => T): T {
    if (!this.built.has(name)) this.built.set(name, build());
    return this.built.get(name) as T;
  }

  private table(): string {
    return this.environment('TABLE_NAME').TABLE_NAME;
  }

  locks = () =>
    this.once('locks', () => new DynamoDbBackupLockStore(this.control.documents, this.table(), this.clock));
  replicaSnapshots = () => this.once('replicaSnapshots', () => new Ec2ReplicaSnapshots(this.control.ec2));
  primarySnapshots = () => this.once('primarySnapshots', () => new Ec2PrimarySnapshots(this.control.ec2));
  drs = () => this.once('drs', () => new DrsReplication(this.control.drs));
  events = () =>
    this.once(
      'events',
      () =>
        new EventBridgePublisher(this.control.eventBridge, this.environment('EVENT_BUS_NAME').EVENT_BUS_NAME),
    );
  notifier = () =>
    this.once('notifier', () => new SnsNotifier(this.control.sns, this.environment('TOPIC_ARN').TOPIC_ARN));
  /** The image bucket's Object Lock generations, when the deployment has them. */
  objectLock = (): ObjectLockConfig | undefined => this.environment('OBJECT_LOCK').OBJECT_LOCK;
  images = () =>
    this.once('images', () => {
      const lock = this.objectLock();
      return new ImageStore(
        new S3ObjectStore(
          this.engine.s3,
          this.environment('IMAGE_BUCKET').IMAGE_BUCKET,
          '',
          lock === undefined ? undefined : { config: lock, clock: this.clock },
        ),
      );
    });
  work = () =>
    this.once('work', () => new S3ObjectStore(this.engine.s3, this.environment('WORK_BUCKET').WORK_BUCKET));
  records = () =>
    this.once('records', () => new DynamoDbImageRecordStore(this.engine.documents, this.table()));
  catalog = () => this.once('catalog', () => new DynamoDbCatalogStore(this.engine.documents, this.table()));
  recoveryPointCommit = () =>
    this.once('recoveryPointCommit', () =>
      createCommitRecoveryPointDeps(this.table(), this.control, this.records()),
    );
  ebs = () => this.once('ebs', () => new EbsSnapshots(this.engine.ebs));
  /** The garbage-collection fence and leases (docs/lifecycle.md). */
  gcCoordination = () =>
    this.once('gcCoordination', () => new DynamoDbGcCoordination(this.engine.documents, this.table()));
  /** Garbage collection and scrub runs as the lifecycle job Lambda runs them (without its metric). */
  lifecycleRunDeps = (): Omit<LifecycleRunDeps, 'recordFindings'> =>
    this.once('lifecycleRunDeps', () => {
      // Live = every registered volume's records, tagged in EC2 or not (protected-volumes.ts);
      // the jobs run the registry's one-time backfill, API requests never do (it is a Scan).
      const records = new DynamoDbLifecycleImageRecords(
        this.control.documents,
        this.table(),
        replicaVolumeServers(new Ec2ReplicaVolumes(this.control.ec2)),
        { backfill: true },
      );
      // Image deletion as expiries and the daily collection's first step finish it.
      const deletions = {
        objects: this.lifecycleObjects(),
        records,
        clock: this.clock,
        catalog: new DynamoDbLifecycleCatalog(this.control.documents, this.table()),
        recoveryPoints: new DynamoDbRecoveryPointStore(this.control.documents, this.table()),
        ...lockOf(this.objectLock()),
      };
      return {
        jobs: new DynamoDbJobStore(this.control.documents, this.table(), LIFECYCLE_JOBS),
        clock: this.clock,
        newRunId: lifecycleRunIds(this.clock),
        gc: {
          objects: this.lifecycleObjects(),
          records,
          coordination: this.gcCoordination(),
          clock: this.clock,
          ...lockOf(this.objectLock()),
          deletions,
        },
        scrub: { objects: this.lifecycleObjects(), records, quarantine: this.chunkQuarantine() },
        scrubCursor: new DynamoDbScrubCursor(this.control.documents, this.table()),
        restoreTest: { records, catalog: this.catalog(), images: this.images(), clock: this.clock },
        retention: { ...deletions, ...lifecycleRetentionSources(this.table(), this.control) },
        events: this.events(),
      };
    });
  /** The scrub's chunk quarantine (GC#QUARANTINE items): the scrub, Plan Backup and Copy Range use it. */
  chunkQuarantine = () =>
    this.once('chunkQuarantine', () => new DynamoDbChunkQuarantine(this.control.documents, this.table()));
  lifecycleLauncher = (functionName: string) =>
    new LambdaLifecycleJobLauncher(this.control.lambda, functionName);
  /** The restore worker invoking itself again (a file restore's next time slice). */
  restoreWorkerLauncher = (functionName: string) =>
    new LambdaRestoreLauncher(this.control.lambda, functionName);
  /** The image bucket as the lifecycle jobs (commit gate, collection, scrub) see it. */
  lifecycleObjects = () =>
    this.once(
      'lifecycleObjects',
      () =>
        new S3LifecycleObjectStore(
          this.engine.s3,
          this.environment('IMAGE_BUCKET').IMAGE_BUCKET,
          this.objectLock()?.mode,
        ),
    );
  restoreWorker = () =>
    this.once('restoreWorker', () =>
      createRestoreWorkerDeps(
        {
          tableName: this.table(),
          imageBucket: this.environment('IMAGE_BUCKET').IMAGE_BUCKET,
          restoreBucket: this.environment('RESTORE_BUCKET').RESTORE_BUCKET,
        },
        this.engine,
        this.clock,
      ),
    );
  volumeRestoreSteps = () =>
    this.once('volumeRestoreSteps', () =>
      createVolumeRestoreStepDeps(
        {
          tableName: this.table(),
          imageBucket: this.environment('IMAGE_BUCKET').IMAGE_BUCKET,
          workBucket: this.environment('WORK_BUCKET').WORK_BUCKET,
          rangeWorkers: this.environment('RANGE_WORKERS').RANGE_WORKERS,
        },
        this.engine,
        this.clock,
      ),
    );
  api = () =>
    this.once('api', () => ({
      ...createApiDeps(
        this.environment(...API_ENVIRONMENT),
        this.control,
        this.clock,
        this.environment('WORK_BUCKET').WORK_BUCKET,
      ),
      lifecycle: createLifecycleApi(
        {
          tableName: this.table(),
          imageBucket: this.environment('IMAGE_BUCKET').IMAGE_BUCKET,
          ...lockOf(this.objectLock()),
        },
        this.control,
        this.clock,
        this.environment('LIFECYCLE_FUNCTION_NAME').LIFECYCLE_FUNCTION_NAME,
      ),
      plans: createPlanApiDeps(planNamesOf(this.environment(...PLAN_ENVIRONMENT)), this.control, this.clock),
      workflows: createWorkflowApiDeps(
        {
          tableName: this.table(),
          ...deploymentOfArn(this.environment('STATE_MACHINE_ARN').STATE_MACHINE_ARN),
          schedules: workflowScheduleTargetOf(
            this.environment(
              'WORKFLOW_SCHEDULE_GROUP',
              'WORKFLOW_RUN_STATE_MACHINE_ARN',
              'WORKFLOW_SCHEDULER_ROLE_ARN',
              'SCHEDULE_DEAD_LETTER_QUEUE_ARN',
            ),
          ),
        },
        this.control,
        this.clock,
      ),
      ...this.workflowRunApi(),
    }));
  /** The workflow-run routes, when the deployment has the run state machine. */
  private workflowRunApi = (): Pick<ApiDeps, 'workflowRuns'> => {
    const arn = this.environment('WORKFLOW_RUN_STATE_MACHINE_ARN').WORKFLOW_RUN_STATE_MACHINE_ARN;
    if (arn === undefined) return {};
    return {
      workflowRuns: createWorkflowRunApiDeps(
        { tableName: this.table(), workflowRunStateMachineArn: arn },
        this.control,
        this.clock,
      ),
    };
  };
  /** The workflow-run state machine's function (lambdas/handlers/workflow-run.ts). */
  workflowRun = () =>
    this.once('workflowRun', () => {
      const env = this.environment('TABLE_NAME', 'VOLUME_RESTORE_STATE_MACHINE_ARN', 'RESTORE_KMS_KEY_ARN');
      if (env.VOLUME_RESTORE_STATE_MACHINE_ARN === undefined) {
        throw new ValidationError(
          'Lambda environment is incomplete: VOLUME_RESTORE_STATE_MACHINE_ARN: workflow runs restore through the volume-restore state machine',
        );
      }
      return createWorkflowRunDeps(
        {
          tableName: env.TABLE_NAME,
          volumeRestoreStateMachineArn: env.VOLUME_RESTORE_STATE_MACHINE_ARN,
          ...(env.RESTORE_KMS_KEY_ARN === undefined ? {} : { kmsKeyArn: env.RESTORE_KMS_KEY_ARN }),
        },
        this.control,
        this.clock,
      );
    });
  /** The plan-run state machine's function (lambdas/handlers/plan-run.ts). */
  planRun = () =>
    this.once('planRun', () => {
      const env = this.environment(
        'TABLE_NAME',
        'IMAGE_BUCKET',
        'EVENT_BUS_NAME',
        'TOPIC_ARN',
        'STATE_MACHINE_ARN',
      );
      return createPlanRunDeps(
        {
          tableName: env.TABLE_NAME,
          imageBucket: env.IMAGE_BUCKET,
          eventBusName: env.EVENT_BUS_NAME,
          topicArn: env.TOPIC_ARN,
          backupStateMachineArn: env.STATE_MACHINE_ARN,
        },
        this.control,
        this.clock,
      );
    });
}

/** `{ objectLock }` when the deployment has Object Lock, else nothing (exact optional properties). */
function lockOf(objectLock: ObjectLockConfig | undefined): { objectLock?: ObjectLockConfig } {
  return objectLock === undefined ? {} : { objectLock };
}

let wiring: LambdaWiring | undefined;

/**
 * The container's wiring with untraced clients, built on first use (the local gateway sets the
 * environment first): the data-plane handlers' (control-plane handlers use tracing.ts's).
 */
export function lambdaWiring(): LambdaWiring {
  wiring ??= new LambdaWiring();
  return wiring;
}

export function createApiDeps(
  environment: ApiEnvironment,
  clients: Pick<SdkClients, 'ec2' | 'sfn' | 'documents' | 's3' | 'lambda'>,
  clock: Clock = systemClock,
  /** The work bucket: GET /backups/{id} reads a running backup's progress there (absent: no progress). */
  workBucket?: string,
): ApiDeps {
  const records = new DynamoDbImageRecordStore(clients.documents, environment.TABLE_NAME);
  const catalog = new DynamoDbCatalogStore(clients.documents, environment.TABLE_NAME);
  const replicaSnapshots = new Ec2ReplicaSnapshots(clients.ec2);
  const registry = new DynamoDbLifecycleImageRecords(clients.documents, environment.TABLE_NAME);
  const directories = new RecordDirectories({
    // Whole listings (the file search) and GET /volumes (after EC2's pages, a registry page at a
    // time) also name the registered volumes EC2 no longer has.
    replicas: new ReplicaVolumesWithRegistered(
      new Ec2ReplicaVolumes(clients.ec2),
      () => registry.registeredVolumes(),
      (page) => registry.pageRegisteredVolumes(page),
    ),
    records,
    cataloged: catalogStateOf(catalog),
  });
  return {
    volumes: directories,
    images: directories,
    catalog: new CatalogStoreReader({ store: catalog, images: directories }),
    fileSearch: { store: catalog },
    backups: new StateMachineBackupLauncher({
      executions: new SfnBackupExecutions(clients.sfn, environment.STATE_MACHINE_ARN),
      // POST /backups takes the lock for the execution it starts: "already running" is the lock alone.
      locks: new DynamoDbBackupLockStore(clients.documents, environment.TABLE_NAME, clock),
      volumes: directories,
      clock,
      ...(workBucket === undefined ? {} : { work: new S3ObjectStore(clients.s3, workBucket) }),
      // POST /backups/{id}/cancel deletes the backup's snapshots and checks for committed images.
      cancellation: { snapshots: replicaSnapshots, records },
    }),
    restores: new RestoreService({
      jobs: new DynamoDbJobStore(clients.documents, environment.TABLE_NAME),
      objects: new S3RestoreObjectStore(clients.s3, environment.RESTORE_BUCKET),
      launcher: restoreLauncher(environment, clients),
      clock,
      keyToken: () => randomBytes(RESTORE_KEY_TOKEN_BYTES).toString('hex'),
      ...(environment.RESTORE_KMS_KEY_ARN === undefined
        ? {}
        : { restoreKmsKeyArn: environment.RESTORE_KMS_KEY_ARN }),
      ...(workBucket === undefined ? {} : { work: new S3ObjectStore(clients.s3, workBucket) }),
      // POST /restores/{id}/cancel deletes a cancelled volume restore's unfinished snapshot.
      deleteSnapshot: (snapshotId) => replicaSnapshots.deleteSnapshot(snapshotId),
      // POST /restores of a subdirectory reads its size from the catalog's tree summaries.
      catalog,
    }),
    cursors: new CursorCodec(Buffer.from(environment.API_CURSOR_KEY, 'base64')),
    recoveryPoints: createRecoveryPointService(environment, clients, clock),
    ids: timeOrderedIds(clock, (count) => randomBytes(count)),
    clock,
  };
}

/**
 * Retention and image deletion for the API. They run inside the API function for now: a volume or
 * server scope reads only its volumes' image records (one Query per page each), a plan scope every
 * protected volume's; images are deleted one by one, which fits the API's timeout for thousands of
 * images, not for a fleet's history; a scheduled expiry belongs in its own job.
 */
export function createLifecycleApi(
  names: Pick<RestoreNames, 'tableName' | 'imageBucket'> & { readonly objectLock?: ObjectLockConfig },
  clients: Pick<SdkClients, 'ec2' | 'documents' | 's3'> & Partial<Pick<SdkClients, 'lambda'>>,
  clock: Clock,
  lifecycleFunctionName?: string,
): LifecycleApi {
  const replicas = new Ec2ReplicaVolumes(clients.ec2);
  return new LifecycleService({
    objects: new S3LifecycleObjectStore(clients.s3, names.imageBucket, names.objectLock?.mode),
    ...lockOf(names.objectLock),
    // A volume's records are read with one DescribeVolumes of its tag, not the fleet's.
    records: new DynamoDbLifecycleImageRecords(
      clients.documents,
      names.tableName,
      replicaVolumeServers(replicas),
      { taggedServerOf: async (volumeId) => (await replicas.findReplicaVolume(volumeId))?.serverId },
    ),
    clock,
    catalog: new DynamoDbLifecycleCatalog(clients.documents, names.tableName),
    recoveryPoints: new DynamoDbRecoveryPointStore(clients.documents, names.tableName),
    ...lifecycleRetentionSources(names.tableName, clients),
    ...(lifecycleFunctionName === undefined || clients.lambda === undefined
      ? {}
      : {
          runs: {
            jobs: new DynamoDbJobStore(clients.documents, names.tableName, LIFECYCLE_JOBS),
            clock,
            newRunId: lifecycleRunIds(clock),
            launcher: new LambdaLifecycleJobLauncher(clients.lambda, lifecycleFunctionName),
            coordination: new DynamoDbGcCoordination(clients.documents, names.tableName),
          },
        }),
  });
}

/** Plans' servers and rules, and the stored per-server rules, for retention and expiry. */
export function lifecycleRetentionSources(
  tableName: string,
  clients: Pick<SdkClients, 'ec2' | 'documents'>,
): Pick<RetentionApplyDeps, 'plans' | 'storedRules'> {
  return {
    plans: planRetentionSourceOf(
      new DynamoDbPlanStore(clients.documents, tableName),
      new Ec2ServerDirectory(clients.ec2),
    ),
    storedRules: new DynamoDbRetentionRuleStore(clients.documents, tableName),
  };
}

/**
 * The replica volumes tagged now and their servers (one listing per call); the records adapter
 * adds the registered volumes, so nothing stops being live when a volume leaves EC2.
 */
function replicaVolumeServers(replicas: Ec2ReplicaVolumes) {
  return async (): Promise<ReadonlyMap<string, string | undefined>> =>
    new Map((await replicas.listReplicaVolumes()).map((replica) => [replica.volumeId, replica.serverId]));
}

/** Run ids `gc-<time>-<random>` and `scrub-<time>-<random>`, in time order. */
function lifecycleRunIds(clock: Clock) {
  const ids = timeOrderedIds(clock, (count) => randomBytes(count));
  return (kind: string) => ids.newId('rs').replace(/^rs-/, `${kind}-`);
}

/** The API's dependencies from an environment (the local stack's deployment uses this). */
export function createAwsApiDeps(env: NodeJS.ProcessEnv): ApiDeps {
  return new LambdaWiring(env).api();
}

/** Restore jobs to the worker Lambda; volume restores to their state machine when the deployment has one. */
function restoreLauncher(
  environment: ApiEnvironment,
  clients: Pick<SdkClients, 'sfn' | 'lambda'>,
): LambdaRestoreLauncher | RoutingRestoreLauncher {
  const worker = new LambdaRestoreLauncher(clients.lambda, environment.RESTORE_FUNCTION_NAME);
  if (environment.VOLUME_RESTORE_STATE_MACHINE_ARN === undefined) return worker;
  return new RoutingRestoreLauncher(
    worker,
    new StateMachineVolumeRestoreLauncher(clients.sfn, environment.VOLUME_RESTORE_STATE_MACHINE_ARN),
  );
}

/**
 * The steps of the volume-restore state machine over the given clients, and the file restore jobs
 * (the step function is also the restore worker's on-failure destination).
 */
export function createVolumeRestoreStepDeps(
  names: { tableName: string; imageBucket: string; workBucket: string; rangeWorkers?: number },
  clients: Pick<SdkClients, 'documents' | 's3' | 'ebs' | 'ec2'>,
  clock: Clock,
): VolumeRestoreStepDeps & { readonly fileJobs: RestoreDeps['jobs'] } {
  const images = new ImageStore(new S3ObjectStore(clients.s3, names.imageBucket));
  const records = new DynamoDbImageRecordStore(clients.documents, names.tableName);
  const restoreJobs = new DynamoDbJobStore(clients.documents, names.tableName);
  return {
    jobs: volumeRestoreJobs(restoreJobs),
    fileJobs: fileRestoreJobs(restoreJobs),
    clock,
    images,
    writer: new EbsSnapshots(clients.ebs),
    snapshots: new Ec2SnapshotState(clients.ec2),
    work: new S3ObjectStore(clients.s3, names.workBucket),
    workBucket: names.workBucket,
    openManifest: s3ManifestPieces(clients.s3, names.imageBucket, records),
    ...(names.rangeWorkers === undefined ? {} : { rangeWorkers: names.rangeWorkers }),
  };
}

export interface RestoreNames {
  readonly tableName: string;
  readonly imageBucket: string;
  readonly restoreBucket: string;
}

export interface RestoreWorkerDeps {
  readonly files: RestoreDeps;
  readonly volumes: VolumeRestoreDeps;
}

export function createRestoreWorkerDeps(
  names: RestoreNames,
  clients: Pick<SdkClients, 'documents' | 's3' | 'ebs' | 'ec2'>,
  clock: Clock,
  nowMs: () => number = () => performance.now(),
): RestoreWorkerDeps {
  const images = new ImageStore(new S3ObjectStore(clients.s3, names.imageBucket));
  const records = new DynamoDbImageRecordStore(clients.documents, names.tableName);
  const jobs = new DynamoDbJobStore(clients.documents, names.tableName);
  const loadManifest = async (volumeId: string, imageId: string) => {
    const record = await records.getImageRecord(volumeId, imageId);
    return images.getManifest(volumeId, imageId, record.manifestSha256);
  };
  return {
    files: {
      jobs: fileRestoreJobs(jobs),
      objects: new S3RestoreObjectStore(clients.s3, names.restoreBucket),
      catalog: new DynamoDbCatalogStore(clients.documents, names.tableName),
      openImage: async (volumeId, imageId) => new ImageReader(images, await loadManifest(volumeId, imageId)),
      clock,
    },
    volumes: {
      jobs: volumeRestoreJobs(jobs),
      images,
      writer: new EbsSnapshots(clients.ebs),
      snapshots: new Ec2SnapshotState(clients.ec2),
      sleep: realSleep,
      nowMs,
      clock,
      loadManifest,
    },
  };
}
