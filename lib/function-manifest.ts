/**
 * The one list of the product's Lambda functions: name, handler module, the ASL placeholder that
 * names it in a state machine definition, the environment keys it is given, memory and timeout.
 * Read by the CDK construct (lib/constructs/backup-functions.ts) and by the local deployment
 * (local/deploy.ts); test/infra/function-manifest.test.ts checks the ASL's `${…}` placeholders
 * against it. Adding a function is one entry here (and its grants in the construct).
 *
 * This module imports no CDK and no handler code (only the metric names of lambdas/core/metrics.ts,
 * which imports nothing), so both deployments can read it.
 */
import { METRICS_NAMESPACE, SERVICE_NAME } from '../lambdas/core/metrics.ts';

/** Orchestration steps are short control-plane calls: the smallest memory that starts Node quickly. */
export const ORCHESTRATION_MEMORY_MB = 256;
/** A control-plane step (tags, snapshots, lock, events) finishes in seconds; a minute means hung. */
export const ORCHESTRATION_TIMEOUT_SECONDS = 60;
/**
 * A range worker holds 32 chunks of 1 MiB in flight, compresses with zstd and hashes. Lambda gives
 * one full vCPU at 1,769 MB, which is what the engine's throughput is measured against
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
 */
export const RANGE_WORKER_MEMORY_MB = 1_769;
/**
 * A 4 GiB range at the default read budget (~62 blocks/s per worker) takes ~2 min; 15 min is
 * Lambda's maximum (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html).
 */
export const RANGE_WORKER_TIMEOUT_SECONDS = 15 * 60;
/** Planning reads the parent manifest (up to 65,536 segment hashes) and writes the item list. */
export const PLANNER_MEMORY_MB = 1_024;
/** Planning and committing read and write one manifest: minutes at most. */
export const PLANNER_TIMEOUT_SECONDS = 5 * 60;
/** Cataloguing reads filesystem metadata through the chunk store; a large tree takes minutes, 15 is Lambda's cap. */
export const CATALOG_TIMEOUT_SECONDS = 15 * 60;
/** GET /health answers from memory: the smallest memory Lambda offers. */
export const HEALTH_MEMORY_MB = 128;
/** GET /health does no I/O; ten seconds covers a cold start. */
export const HEALTH_TIMEOUT_SECONDS = 10;
/** The API function builds restore listings and presigned URLs in memory. */
export const API_MEMORY_MB = 512;
/** API Gateway's REST integration timeout is 29 seconds: the function cannot usefully run longer. */
export const API_TIMEOUT_SECONDS = 29;
/** A restore worker decompresses chunks and writes files or snapshot blocks. */
export const RESTORE_WORKER_MEMORY_MB = 1_024;
/** A restore job runs to Lambda's 15-minute maximum. */
export const RESTORE_WORKER_TIMEOUT_SECONDS = 15 * 60;
/** A plan-run step may wait on a hook invoked synchronously (up to 600 s): Lambda's 15-minute maximum. */
export const PLAN_RUN_TIMEOUT_SECONDS = 15 * 60;
/** A workflow-run step may wait on a masking hook invoked synchronously: Lambda's 15-minute maximum. */
export const WORKFLOW_RUN_TIMEOUT_SECONDS = 15 * 60;
/**
 * A lifecycle job (garbage collection, scrub) holds one shard's names (~10 MiB) or decompresses and
 * hashes chunks: one full vCPU, as the range worker (scrub's MiB/s is measured against one core).
 */
export const LIFECYCLE_JOB_MEMORY_MB = 1_769;
/** A collection hands over to a new invocation before Lambda's 15-minute maximum; a scrub runs to it. */
export const LIFECYCLE_JOB_TIMEOUT_SECONDS = 15 * 60;

/** Environment keys that name the deployment's resources: every deployment sets each of them. */
export const RESOURCE_ENVIRONMENT_KEYS = [
  'TABLE_NAME',
  'IMAGE_BUCKET',
  'WORK_BUCKET',
  'RESTORE_BUCKET',
  'EVENT_BUS_NAME',
  'TOPIC_ARN',
] as const;
/** Environment keys that carry configuration (lib/config.ts); the handlers have defaults for them. */
export const SETTING_ENVIRONMENT_KEYS = [
  'RETAIN_BASE_SNAPSHOTS',
  'SNAPSHOT_READ_BUDGET',
  'RANGE_WORKERS',
] as const;
/** Environment of the Lambda runtime and Powertools, with the same value in every function. */
export const RUNTIME_ENVIRONMENT = {
  POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
  NODE_OPTIONS: '--enable-source-maps',
} as const;
/** Environment keys only the REST API function reads: they name things created after the functions. */
export const API_ENVIRONMENT_KEYS = ['STATE_MACHINE_ARN', 'RESTORE_FUNCTION_NAME', 'API_CURSOR_KEY'] as const;

/**
 * Environment keys of the plan routes: the schedule group, the plan-run state machine and the
 * role EventBridge Scheduler assumes (lib/constructs/plan-runs.ts sets them on the API function).
 */
export const PLAN_ENVIRONMENT_KEYS = [
  'PLAN_SCHEDULE_GROUP',
  'PLAN_RUN_STATE_MACHINE_ARN',
  'PLAN_SCHEDULER_ROLE_ARN',
] as const;
export type PlanEnvironmentKey = (typeof PLAN_ENVIRONMENT_KEYS)[number];

/**
 * Environment keys of the API's volume restores: the state machine POST /restores starts and the
 * KMS key of restored snapshots (lib/constructs/volume-restores.ts sets them on the API function).
 */
export const VOLUME_RESTORE_ENVIRONMENT_KEYS = [
  'VOLUME_RESTORE_STATE_MACHINE_ARN',
  'RESTORE_KMS_KEY_ARN',
] as const;
export type VolumeRestoreEnvironmentKey = (typeof VOLUME_RESTORE_ENVIRONMENT_KEYS)[number];
/** The workflow-run state machine POST /workflows/{name}/runs starts (lib/constructs/workflow-runs.ts sets it). */
export const WORKFLOW_RUN_ENVIRONMENT_KEYS = ['WORKFLOW_RUN_STATE_MACHINE_ARN'] as const;
export type WorkflowRunEnvironmentKey = (typeof WORKFLOW_RUN_ENVIRONMENT_KEYS)[number];
/** The workflows' schedule group and the role Scheduler assumes (lib/constructs/workflow-schedules.ts sets them). */
export const WORKFLOW_SCHEDULE_ENVIRONMENT_KEYS = [
  'WORKFLOW_SCHEDULE_GROUP',
  'WORKFLOW_SCHEDULER_ROLE_ARN',
] as const;
export type WorkflowScheduleEnvironmentKey = (typeof WORKFLOW_SCHEDULE_ENVIRONMENT_KEYS)[number];
/**
 * The dead-letter queue of the schedules the API writes, plans' and workflows' alike
 * (lib/constructs/plan-runs.ts sets it with the plan environment).
 */
export const SCHEDULE_ENVIRONMENT_KEYS = ['SCHEDULE_DEAD_LETTER_QUEUE_ARN'] as const;
export type ScheduleEnvironmentKey = (typeof SCHEDULE_ENVIRONMENT_KEYS)[number];
/** The lifecycle job function the API starts runs on (lib/constructs/lifecycle-jobs.ts sets it). */
export const LIFECYCLE_ENVIRONMENT_KEYS = ['LIFECYCLE_FUNCTION_NAME'] as const;
export type LifecycleEnvironmentKey = (typeof LIFECYCLE_ENVIRONMENT_KEYS)[number];

/**
 * The image bucket's Object Lock (lib/config.ts objectLock, as JSON), set only when configured: on
 * the functions that write image objects (their PUTs carry the lock), the lifecycle job (it extends
 * live objects each generation) and the API (it refuses to delete a locked image).
 */
export const OBJECT_LOCK_ENVIRONMENT_KEYS = ['OBJECT_LOCK'] as const;
export type ObjectLockEnvironmentKey = (typeof OBJECT_LOCK_ENVIRONMENT_KEYS)[number];

export type ResourceEnvironmentKey = (typeof RESOURCE_ENVIRONMENT_KEYS)[number];
export type SettingEnvironmentKey = (typeof SETTING_ENVIRONMENT_KEYS)[number];
export type ApiEnvironmentKey = (typeof API_ENVIRONMENT_KEYS)[number];
export type EnvironmentKey =
  | ResourceEnvironmentKey
  | SettingEnvironmentKey
  | keyof typeof RUNTIME_ENVIRONMENT
  | ApiEnvironmentKey
  | PlanEnvironmentKey
  | VolumeRestoreEnvironmentKey
  | LifecycleEnvironmentKey
  | WorkflowRunEnvironmentKey
  | WorkflowScheduleEnvironmentKey
  | ScheduleEnvironmentKey
  | ObjectLockEnvironmentKey;

/** What every function is given. */
export const COMMON_ENVIRONMENT: readonly EnvironmentKey[] = [
  ...RESOURCE_ENVIRONMENT_KEYS,
  ...SETTING_ENVIRONMENT_KEYS,
  ...(Object.keys(RUNTIME_ENVIRONMENT) as (keyof typeof RUNTIME_ENVIRONMENT)[]),
];

export interface FunctionManifestEntry {
  /** Handler module under lambdas/handlers; it exports `handler`. */
  readonly entry: string;
  /** The function's description in AWS, and the reason its role exists. */
  readonly description: string;
  /**
   * The `${…}` placeholder that names the function's ARN in statemachines/backup.asl.json; only
   * the functions a state machine invokes have one. The local deployment registers the function
   * under this name without the `Arn` suffix.
   */
  readonly aslPlaceholder?: string;
  /** Environment keys the function is given (values come from the deployment). */
  readonly environment: readonly EnvironmentKey[];
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  /**
   * Whether the handler loads the X-Ray SDK (lambdas/aws/tracing.ts: Powertools' Tracer, one
   * subsegment per SDK call). Every function has Lambda active tracing, whose function segment needs
   * no SDK; the SDK's async hooks cost every `await` of the process (~15× a bare one, measured), so
   * only control-plane functions making a handful of calls load it, never the data plane that awaits
   * millions of times. test/aws/tracing-handlers.test.ts holds each handler's module graph to this.
   */
  readonly xraySdk: boolean;
}

/** Orchestration step: small and short. */
const orchestration = (
  entry: string,
  description: string,
  aslPlaceholder: string,
): FunctionManifestEntry => ({
  entry,
  description,
  aslPlaceholder,
  environment: COMMON_ENVIRONMENT,
  memoryMb: ORCHESTRATION_MEMORY_MB,
  timeoutSeconds: ORCHESTRATION_TIMEOUT_SECONDS,
  xraySdk: true,
});

/**
 * The functions, in the order the construct creates them (which is the order of their alarms on
 * the dashboard). The key is the function's name: its CDK ids are `<Name>Function`, `<Name>Role`
 * and `<Name>Logs`.
 */
export const FUNCTION_MANIFEST = {
  backupLock: orchestration(
    'backup-lock.ts',
    'Validate a backup request; take, renew and release volume locks',
    'BackupLockFunctionArn',
  ),
  replicaCheckpoint: orchestration(
    'replica-checkpoint.ts',
    'Request and release consistency checkpoints',
    'CheckpointFunctionArn',
  ),
  probeReplica: orchestration(
    'probe-replica.ts',
    'Is the replica in sync at the checkpoint (tags or DRS)?',
    'ProbeReplicaFunctionArn',
  ),
  replicaSnapshots: orchestration(
    'replica-snapshots.ts',
    'Create, check, discard and rotate replica snapshots',
    'ReplicaSnapshotFunctionArn',
  ),
  planBackup: {
    entry: 'plan-backup.ts',
    description: 'Plan a full or incremental image and write the range items',
    aslPlaceholder: 'PlanBackupFunctionArn',
    environment: COMMON_ENVIRONMENT,
    memoryMb: PLANNER_MEMORY_MB,
    timeoutSeconds: PLANNER_TIMEOUT_SECONDS,
    xraySdk: true,
  },
  copyRange: {
    entry: 'copy-range.ts',
    description: 'Copy one block range of a snapshot into the image store',
    aslPlaceholder: 'CopyRangeFunctionArn',
    environment: [...COMMON_ENVIRONMENT, ...OBJECT_LOCK_ENVIRONMENT_KEYS],
    memoryMb: RANGE_WORKER_MEMORY_MB,
    timeoutSeconds: RANGE_WORKER_TIMEOUT_SECONDS,
    xraySdk: false,
  },
  commitImage: {
    entry: 'commit-image.ts',
    description: 'Commit an image: manifest, then image record',
    aslPlaceholder: 'CommitImageFunctionArn',
    environment: [...COMMON_ENVIRONMENT, ...OBJECT_LOCK_ENVIRONMENT_KEYS],
    memoryMb: PLANNER_MEMORY_MB,
    timeoutSeconds: PLANNER_TIMEOUT_SECONDS,
    xraySdk: true,
  },
  buildCatalog: {
    entry: 'build-catalog.ts',
    description: 'Catalog the files and applications of a committed image',
    aslPlaceholder: 'BuildCatalogFunctionArn',
    environment: COMMON_ENVIRONMENT,
    memoryMb: PLANNER_MEMORY_MB,
    timeoutSeconds: CATALOG_TIMEOUT_SECONDS,
    xraySdk: false,
  },
  commitRecoveryPoint: orchestration(
    'commit-recovery-point.ts',
    "Commit a server's recovery point once every volume's image is committed",
    'CommitRecoveryPointFunctionArn',
  ),
  cleanupBackup: orchestration(
    'cleanup-backup.ts',
    'Release locks and delete unused snapshots of a failed backup',
    'CleanupFunctionArn',
  ),
  publishOutcome: orchestration(
    'publish-outcome.ts',
    'Announce backup outcomes on EventBridge and SNS',
    'PublishOutcomeFunctionArn',
  ),
  health: {
    entry: 'health.ts',
    description: 'GET /health of the restore API',
    environment: COMMON_ENVIRONMENT,
    memoryMb: HEALTH_MEMORY_MB,
    timeoutSeconds: HEALTH_TIMEOUT_SECONDS,
    xraySdk: false,
  },
  // The REST API and its restore worker (lib/constructs/restore-api.ts wires routes and grants).
  api: {
    entry: 'api.ts',
    description: 'The REST API: catalog, on-demand backups and restores',
    environment: [
      ...COMMON_ENVIRONMENT,
      ...API_ENVIRONMENT_KEYS,
      ...PLAN_ENVIRONMENT_KEYS,
      ...VOLUME_RESTORE_ENVIRONMENT_KEYS,
      ...LIFECYCLE_ENVIRONMENT_KEYS,
      ...WORKFLOW_RUN_ENVIRONMENT_KEYS,
      ...WORKFLOW_SCHEDULE_ENVIRONMENT_KEYS,
      ...SCHEDULE_ENVIRONMENT_KEYS,
      ...OBJECT_LOCK_ENVIRONMENT_KEYS,
    ],
    memoryMb: API_MEMORY_MB,
    timeoutSeconds: API_TIMEOUT_SECONDS,
    xraySdk: true,
  },
  restoreWorker: {
    entry: 'restore-worker.ts',
    description: 'Run one restore job: files and archives to the restore bucket, volumes to EBS snapshots',
    environment: COMMON_ENVIRONMENT,
    memoryMb: RESTORE_WORKER_MEMORY_MB,
    timeoutSeconds: RESTORE_WORKER_TIMEOUT_SECONDS,
    xraySdk: false,
  },
  // The volume-restore state machine's one function (lib/constructs/volume-restores.ts wires it).
  volumeRestoreStep: {
    entry: 'volume-restore-step.ts',
    description: 'Volume restore steps: plan, put the blocks of one range, complete, check, finish',
    environment: COMMON_ENVIRONMENT,
    memoryMb: RANGE_WORKER_MEMORY_MB,
    timeoutSeconds: RANGE_WORKER_TIMEOUT_SECONDS,
    xraySdk: false,
  },
  // Garbage collection, scrub, restore-test and expiry runs (lib/constructs/lifecycle-jobs.ts wires grants and schedules).
  lifecycleJob: {
    entry: 'lifecycle-job.ts',
    description: 'Garbage collection, scrub, restore-test and expiry runs of the image bucket',
    environment: [...COMMON_ENVIRONMENT, ...OBJECT_LOCK_ENVIRONMENT_KEYS],
    memoryMb: LIFECYCLE_JOB_MEMORY_MB,
    timeoutSeconds: LIFECYCLE_JOB_TIMEOUT_SECONDS,
    xraySdk: false,
  },
  // The plan-run state machine's one function (lib/constructs/plan-runs.ts wires it); it starts
  // the backup state machine, so it is given STATE_MACHINE_ARN.
  planRun: {
    entry: 'plan-run.ts',
    description: 'Plan runs: begin, advance (checks, tasks, hooks, quiesce, backups), record a failure',
    environment: [...COMMON_ENVIRONMENT, 'STATE_MACHINE_ARN'],
    memoryMb: ORCHESTRATION_MEMORY_MB,
    timeoutSeconds: PLAN_RUN_TIMEOUT_SECONDS,
    xraySdk: true,
  },
  // The workflow-run state machine's one function (lib/constructs/workflow-runs.ts wires it); it
  // starts volume restores, so it is given their state machine and the clones' KMS key.
  workflowRun: {
    entry: 'workflow-run.ts',
    description:
      'Workflow runs: begin, advance (restores, masking hook, tags, volumes, attachments), record a failure',
    environment: [...COMMON_ENVIRONMENT, ...VOLUME_RESTORE_ENVIRONMENT_KEYS],
    memoryMb: ORCHESTRATION_MEMORY_MB,
    timeoutSeconds: WORKFLOW_RUN_TIMEOUT_SECONDS,
    xraySdk: true,
  },
} as const satisfies Record<string, FunctionManifestEntry>;

export type FunctionName = keyof typeof FUNCTION_MANIFEST;

/** The manifest's entries in order, with their names. */
export function manifestEntries(): [FunctionName, FunctionManifestEntry][] {
  return Object.entries(FUNCTION_MANIFEST) as [FunctionName, FunctionManifestEntry][];
}

/** The CDK id stem of a function: `copyRange` → `CopyRange`. */
export function functionIdStem(name: FunctionName): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

/** The backup state machine's definition, relative to the project root. */
export const BACKUP_DEFINITION_FILE = 'statemachines/backup.asl.json';

/** The `${…}` placeholders of a definition that name a resource, with the environment key holding that name. */
export const ASL_RESOURCE_PLACEHOLDERS = {
  WorkBucketName: 'WORK_BUCKET',
} as const satisfies Record<string, ResourceEnvironmentKey>;

/** The placeholders a deployment substitutes in a definition: the functions' ARNs and the resources' names. */
export function aslPlaceholders(): string[] {
  const functions = manifestEntries().flatMap(([, entry]) =>
    entry.aslPlaceholder === undefined ? [] : [entry.aslPlaceholder],
  );
  return [...functions, ...Object.keys(ASL_RESOURCE_PLACEHOLDERS)];
}

/** The name a deployment gives a function its state machine invokes: the ASL placeholder without `Arn`. */
export function stateMachineFunctionName(placeholder: string): string {
  return placeholder.replace(/Arn$/, '');
}

/** The volume-restore state machine's definition, relative to the project root. */
export const VOLUME_RESTORE_DEFINITION_FILE = 'statemachines/volume-restore.asl.json';
/** The placeholder of the volume-restore definition that names the volumeRestoreStep function's ARN. */
export const VOLUME_RESTORE_FUNCTION_PLACEHOLDER = 'VolumeRestoreStepFunctionArn';

/** The plan-run state machine's definition, relative to the project root. */
export const PLAN_RUN_DEFINITION_FILE = 'statemachines/plan-run.asl.json';
/** The placeholder of the plan-run definition that names the planRun function's ARN. */
export const PLAN_RUN_FUNCTION_PLACEHOLDER = 'PlanRunFunctionArn';

/** The workflow-run state machine's definition, relative to the project root. */
export const WORKFLOW_RUN_DEFINITION_FILE = 'statemachines/workflow-run.asl.json';
/** The placeholder of the workflow-run definition that names the workflowRun function's ARN. */
export const WORKFLOW_RUN_FUNCTION_PLACEHOLDER = 'WorkflowRunFunctionArn';
