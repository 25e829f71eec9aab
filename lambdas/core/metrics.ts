/**
 * The product's CloudWatch metrics, named once: the Lambdas write them (through Powertools, which
 * adds the `service` dimension to every metric) and lib's alarms and dashboard read them. An alarm
 * matches a metric only when namespace, name and every dimension are equal
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Dimension),
 * so both sides import these instead of spelling them.
 */

/** CloudWatch namespace of every metric of the product. */
export const METRICS_NAMESPACE = 'ReplicaBackupProxy';
/** Service name in logs, metrics (Powertools' `service` dimension) and traces. */
export const SERVICE_NAME = 'rbp';
/** Powertools' dimension holding SERVICE_NAME on every metric. */
export const SERVICE_DIMENSION = 'service';
/** Dimension naming the Lambda step that wrote a metric (lambdas/handlers/support/step-handler.ts). */
export const STEP_DIMENSION = 'step';

/** Every state-machine Lambda counts its outcome by step: succeeded, failed for good, failed retryably. */
export const STEP_SUCCEEDED_METRIC = 'StepSucceeded';
export const STEP_FAILED_METRIC = 'StepFailed';
export const STEP_RETRYABLE_ERROR_METRIC = 'StepRetryableError';
/** EBS direct API requests of a range copy or a volume restore's range that were throttled (and retried). */
export const EBS_REQUESTS_THROTTLED_METRIC = 'EbsRequestsThrottled';

/**
 * Counted once per backup that committed a usable recovery point, with the dimension
 * SERVER_ID_DIMENSION: the per-server "RPO breached" alarm fires when it stays absent.
 */
export const BACKUP_SUCCEEDED_METRIC = 'BackupSucceeded';
/** The protected server a BackupSucceeded datapoint counts for. */
export const SERVER_ID_DIMENSION = 'ServerId';
/**
 * Volumes of a succeeded backup whose file catalog failed or is partial (their files cannot all be
 * browsed or restored one by one), written once per succeeded backup that reports its catalogs;
 * alarmed on when above zero.
 */
export const FILE_CATALOGS_DEGRADED_METRIC = 'FileCatalogsDegraded';

/** The step name (STEP_DIMENSION) of the lifecycle job function: its alarms select it. */
export const LIFECYCLE_JOB_STEP = 'lifecycle-job';
/** Scrub findings (corrupt or missing objects) of one scrub run; alarmed on when above zero. */
export const SCRUB_FINDINGS_METRIC = 'ScrubFindings';
/** Servers whose restore test failed (or 1 for a test that could not run); alarmed on when above zero. */
export const RESTORE_TEST_FAILURES_METRIC = 'RestoreTestFailures';
/**
 * Garbage collections and plan-run expiries that ended failed (an error, a refused live set, or an
 * invocation that died), 1 each; alarmed on when above zero. A failed scrub counts as a finding and
 * a failed restore test as a failure, under their own metrics.
 */
export const LIFECYCLE_JOBS_FAILED_METRIC = 'LifecycleJobsFailed';
/**
 * Heartbeats: 1 when a garbage collection (not a dry run), a scrub or a restore test run ends,
 * whatever its outcome (failures and findings have their own metrics). Their alarms breach when
 * none arrives for a window of the job's schedule, so a job that stopped running is noticed.
 */
export const GC_COMPLETED_METRIC = 'GcCompleted';
export const SCRUB_COMPLETED_METRIC = 'ScrubCompleted';
export const RESTORE_TEST_COMPLETED_METRIC = 'RestoreTestCompleted';

/**
 * Servers selected by a plan with `rpoMinutes` whose newest live recovery point is older than
 * that target, written by every RPO check (core/plans/rpo.ts); alarmed on when above zero.
 */
export const SERVERS_RPO_BREACHED_METRIC = 'ServersRpoBreached';

/**
 * Counted by a step that waits for another job instead of failing (a commit that meets a garbage
 * collection's fence: CollectionInProgressError), in place of StepRetryableError; the step's
 * Lambda errors alarm leaves out the periods that counted it.
 */
export const STEP_WAITING_METRIC = 'StepWaiting';
/** The step name (STEP_DIMENSION) of the Commit Image function (lambdas/handlers/commit-image.ts). */
export const COMMIT_IMAGE_STEP = 'commit-image';
/**
 * Seconds the garbage-collection fence has been held (0 once released), written by the collection
 * after each of its invocations and by every commit that waits for it; alarmed on above
 * FENCE_HELD_ALARM_SECONDS (lifecycle/commit-gate.ts).
 */
export const COLLECTION_FENCE_HELD_METRIC = 'CollectionFenceHeldSeconds';
