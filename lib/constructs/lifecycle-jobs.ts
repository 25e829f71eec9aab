/**
 * Garbage collection, scrub, restore tests and expiry (docs/lifecycle.md): the grants of the lifecycle job function
 * (the manifest's lifecycleJob), its daily schedules (EventBridge Scheduler invokes it with `{kind}`),
 * the rule that hands it every `Plan Run Finished` event (the expiry of the run's servers),
 * the alarms on scrub findings, failed restore tests and a collection fence held too long, and the
 * API's part (the function's name in its environment, the right to invoke it, the run records). Resources are added to the given scope (see
 * backup-storage.ts for why).
 *
 * Least privilege: the function deletes only under the collector's prefixes (chunks/, segments/,
 * manifests under images/ that no record names, and its own scratch runs under gc/), writes objects
 * only under gc/, and touches only the fence, lease and run items of the table besides reading
 * image records.
 */
import { Duration, Stack, TimeZone, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventsTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { EventInvokeConfig } from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { grantScheduleDeadLetter } from './backup-monitoring.ts';
import { schedulerServiceRole } from './plan-runs.ts';
import {
  COLLECTION_FENCE_HELD_METRIC,
  GC_COMPLETED_METRIC,
  LIFECYCLE_JOB_STEP,
  METRICS_NAMESPACE,
  LIFECYCLE_JOBS_FAILED_METRIC,
  RESTORE_TEST_COMPLETED_METRIC,
  RESTORE_TEST_FAILURES_METRIC,
  SCRUB_COMPLETED_METRIC,
  SCRUB_FINDINGS_METRIC,
  SERVICE_DIMENSION,
  SERVICE_NAME,
  STEP_DIMENSION,
} from '../../lambdas/core/metrics.ts';
import { nagArnToken } from './nag.ts';
import { IMAGE_RECORD_KEYS, RECOVERY_POINT_KEYS } from './table-keys.ts';
import { PLAN_PARTITION } from '../../lambdas/aws/dynamodb-plan-store.ts';
import { RETENTION_PARTITION_PREFIX } from '../../lambdas/aws/dynamodb-lifecycle-retention.ts';
import { NAME_SEARCH_INDEX_NAME } from '../../lambdas/core/catalog/catalog-keys.ts';
import { PLAN_EVENT_SOURCE, PLAN_RUN_FINISHED } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import { FENCE_HELD_ALARM_SECONDS } from '../../lambdas/core/lifecycle/commit-gate.ts';

/** Daily collection at 03:00 UTC: after the night's backups, before the scrub. */
export const GC_SCHEDULE = 'cron(0 3 * * ? *)';
/** Daily scrub at 05:00 UTC: each run checks 1/30 of the chunks (SCRUB_COVER_RUNS), a month covers all. */
export const SCRUB_SCHEDULE = 'cron(0 5 * * ? *)';
/** Daily restore test at 07:00 UTC: after the night's backups, their catalogs, the collection and the scrub. */
export const RESTORE_TEST_SCHEDULE = 'cron(0 7 * * ? *)';
/**
 * Period of the fence alarm: a collection writes its fence's age after every invocation (at most
 * 15 minutes apart, Lambda's limit), so a running one leaves a datapoint in every period.
 */
export const FENCE_HELD_ALARM_PERIOD = Duration.minutes(15);
/**
 * Days without a heartbeat (GcCompleted, ScrubCompleted, RestoreTestCompleted) before its alarm:
 * the three jobs run daily, so two daily periods without one mean a run was missed, not merely
 * late (a run that starts at 03:00 and ends the next day still leaves one in the window).
 */
export const HEARTBEAT_WINDOW_DAYS = 2;
/** A scheduled start that fails (throttled) is retried this often; the next day's run is the fallback. */
const SCHEDULE_RETRY_ATTEMPTS = 3;
/** Partition-key prefixes the lifecycle function may touch (dynamodb-lifecycle-gc.ts, the job store). */
const RUN_KEYS = ['LIFECYCLE#*'];
const GC_KEYS = ['GC#*'];
/** Stored per-server retention rules (dynamodb-lifecycle-retention.ts) and plans (their rules and servers). */
const RETENTION_KEYS = [`${RETENTION_PARTITION_PREFIX}*`];
const PLAN_KEYS = [`${PLAN_PARTITION}*`];
/** Catalog items pruning deletes: file versions, image catalog records, application records. */
const CATALOG_PRUNE_KEYS = ['FV#*', 'CI#*', 'CA#*'];
/**
 * A deleted image first leaves its recovery point (image-deletion.ts): reads of the image's index
 * item and the point, a transaction that rewrites or deletes the point and puts the detached mark,
 * a Query of the detached marks by the next expiry, DeleteItem of the mark at the end.
 */
const RECOVERY_POINT_DETACH_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:DeleteItem',
  // Retention finds images' points through their index items (BatchGetItem of RP#IMAGE#, then of the points).
  'dynamodb:BatchGetItem',
];

/**
 * The image index backfill of points written before the index (dynamodb-recovery-points.ts
 * backfillImageIndex, run only by the expiry after a plan run): a Scan that may return keys only (`pk`, `sk`), once per deployment, resumed
 * across expiries. A Scan cannot be limited by dynamodb:LeadingKeys, so it is limited by attributes
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
 */
function indexBackfillScan(table: dynamodb.TableV2): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['dynamodb:Scan'],
    resources: [table.tableArn],
    conditions: {
      StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
      'ForAllValues:StringLike': { 'dynamodb:Attributes': ['pk', 'sk'] },
    },
  });
}
/** A plan run's expiry event is retried this often when the function is throttled or fails. */
const EXPIRY_RETRY_ATTEMPTS = 3;
/** Lambda's own retries of an invocation that died (its default, made explicit) before the on-failure record. */
const LIFECYCLE_JOB_ASYNC_RETRY_ATTEMPTS = 2;
/** An expiry event older than this is dropped: the next plan run expires the same servers. */
const EXPIRY_MAX_EVENT_AGE = Duration.hours(6);
/** Image catalog records, which the restore test reads (GetItem) to find a catalogued image. */
const CATALOG_RECORD_KEYS = ['CI#*'];

export interface LifecycleJobsProps {
  /** Schedule names start with `<prefix>-`. */
  readonly prefix: string;
  readonly lifecycleFunction: lambda.Function;
  readonly apiFunction: lambda.Function;
  readonly table: dynamodb.TableV2;
  readonly imageBucket: s3.IBucket;
  readonly eventBus: events.IEventBus;
  /** Receives the scrub-findings alarm. */
  readonly topic: sns.ITopic;
  /** Encrypts the table, the buckets and the schedules. */
  readonly key: kms.IKey;
  /** Scheduled scrubs that together check every chunk (the configuration's `scrub.coverRuns`). */
  readonly scrubCoverRuns?: number;
  /**
   * Where a daily schedule's firing goes once its retries are spent (backup-monitoring.ts); the
   * schedules then share a role of their own that may send to it. Absent: no dead-letter queue.
   */
  readonly scheduleDeadLetterQueue?: sqs.IQueue;
  /** The daily restore test (the configuration's `restoreTests`); absent or disabled: no schedule. */
  readonly restoreTests?: {
    readonly enabled: boolean;
    readonly filesPerServer: number;
    readonly wholeVolume: boolean;
  };
}

function tableAccess(table: dynamodb.TableV2, actions: string[], leadingKeys: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions,
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys } },
  });
}

/** When a daily lifecycle-job alarm breaches and how it counts a day with no data. */
type DailyAlarmCondition = Pick<
  cloudwatch.AlarmProps,
  'evaluationPeriods' | 'datapointsToAlarm' | 'comparisonOperator' | 'treatMissingData'
>;

/** The job counted anything in a day; a day with no data counted nothing. */
const COUNTED_IN_A_DAY: DailyAlarmCondition = {
  evaluationPeriods: 1,
  comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
};

/**
 * The job wrote no heartbeat for HEARTBEAT_WINDOW_DAYS daily periods. Missing data is breaching: a
 * job that stopped running writes nothing at all. A fresh deployment is in alarm until each job has
 * completed once.
 */
const NO_HEARTBEAT_IN_WINDOW: DailyAlarmCondition = {
  evaluationPeriods: HEARTBEAT_WINDOW_DAYS,
  datapointsToAlarm: HEARTBEAT_WINDOW_DAYS,
  comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
  treatMissingData: cloudwatch.TreatMissingData.BREACHING,
};

/** An alarm to the outcome topic on the lifecycle job's daily `metricName` sum against 1, under `condition`. */
function dailyJobAlarm(
  scope: Construct,
  id: string,
  description: string,
  metricName: string,
  topic: sns.ITopic,
  condition: DailyAlarmCondition,
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmDescription: description,
    metric: new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME, [STEP_DIMENSION]: LIFECYCLE_JOB_STEP },
      statistic: 'Sum',
      period: Duration.days(1),
    }),
    threshold: 1,
    ...condition,
  });
  alarm.addAlarmAction(new cwActions.SnsAction(topic));
  return alarm;
}

export class LifecycleJobs {
  /** One per scheduled job (GC, scrub, and the restore test when enabled): it stopped completing. */
  readonly heartbeatAlarms: cloudwatch.Alarm[] = [];
  readonly scrubAlarm: cloudwatch.Alarm;
  readonly restoreTestAlarm: cloudwatch.Alarm;
  readonly failedJobAlarm: cloudwatch.Alarm;
  readonly fenceHeldAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, props: LifecycleJobsProps) {
    const fn = props.lifecycleFunction;
    const bucket = props.imageBucket;
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RUN_KEYS));
    fn.addToRolePolicy(
      tableAccess(
        props.table,
        ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Query'],
        GC_KEYS,
      ),
    );
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:Query'], IMAGE_RECORD_KEYS));
    // Restore tests read the image catalog records; their file listings are FV# queries (below).
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem'], CATALOG_RECORD_KEYS));
    // Expiry after plan runs: marks image records deleting, then deletes them with their id guard;
    // reads the plan (rules, activities) and the servers' stored rules.
    fn.addToRolePolicy(
      tableAccess(props.table, ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'], IMAGE_RECORD_KEYS),
    );
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem'], [...RETENTION_KEYS, ...PLAN_KEYS]));
    fn.addToRolePolicy(tableAccess(props.table, RECOVERY_POINT_DETACH_ACTIONS, RECOVERY_POINT_KEYS));
    fn.addToRolePolicy(indexBackfillScan(props.table));
    // The index backfill writes the index items of older points 25 at a time.
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:BatchWriteItem'], RECOVERY_POINT_KEYS));
    // The protected volumes (and their servers) come from the replica volumes' tags.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeVolumes'], resources: ['*'] }));
    bucket.grantRead(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: ['chunks/*', 'segments/*', 'images/*', 'gc/*'].map((prefix) =>
          bucket.arnForObjects(prefix),
        ),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [bucket.arnForObjects('gc/*')] }),
    );
    // Object Lock extensions (only with Object Lock): grantObjectLockRetention in backup-storage.ts.
    props.key.grantEncryptDecrypt(fn);
    props.eventBus.grantPutEventsTo(fn);
    // A collection hands over to a new invocation of itself; a separate policy, so the function
    // does not depend on a statement that names it.
    const selfInvoke = new iam.Policy(scope, 'LifecycleJobSelfInvoke', {
      roles: [fn.role!],
      statements: [
        new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
      ],
    });
    // An invocation that dies (timeout, out of memory) cannot end its job: after the retries Lambda
    // sends the invocation record to the on-failure destination, this function itself, which ends
    // the job FAILED (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
    // The destination is invoked with the function's role: the self-invoke policy above is its
    // grant (LambdaDestination would add that statement to the role itself, a cycle), and Lambda
    // checks the grant when the configuration is written, hence the dependency.
    const asyncInvoke = new EventInvokeConfig(scope, 'LifecycleJobAsyncInvoke', {
      function: fn,
      retryAttempts: LIFECYCLE_JOB_ASYNC_RETRY_ATTEMPTS,
      onFailure: { bind: () => ({ destination: fn.functionArn }) },
    });
    asyncInvoke.node.addDependency(selfInvoke);

    // Catalog pruning after deletions (expiry here, `rbp images delete` and retention apply in the
    // API): the volume's version items from the name-search index (GSI3, keyed by volume id), its
    // catalog and application records, and deletes of those three kinds of items only.
    for (const role of [fn, props.apiFunction]) {
      role.addToRolePolicy(
        tableAccess(
          props.table,
          ['dynamodb:Query', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
          CATALOG_PRUNE_KEYS,
        ),
      );
      role.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [`${props.table.tableArn}/index/${NAME_SEARCH_INDEX_NAME}`],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['vol-*'] } },
        }),
      );
    }

    // The API starts runs and reads them.
    const api = props.apiFunction;
    api.addEnvironment('LIFECYCLE_FUNCTION_NAME', fn.functionName);
    fn.grantInvoke(api);
    api.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RUN_KEYS));
    api.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem'], ['GC#FENCE']));
    // GET/PUT /servers/{serverId}/retention.
    api.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RETENTION_KEYS));
    // DELETE /images/{imageId} and POST /retention/apply detach deleted images from their recovery points.
    api.addToRolePolicy(tableAccess(props.table, RECOVERY_POINT_DETACH_ACTIONS, RECOVERY_POINT_KEYS));

    // Every finished plan run is followed by an expiry of its servers (lifecycle-jobs.ts runExpireJob).
    new events.Rule(scope, 'PlanRunExpiryRule', {
      eventBus: props.eventBus,
      description: 'Applies retention to the servers of every finished plan run',
      eventPattern: { source: [PLAN_EVENT_SOURCE], detailType: [PLAN_RUN_FINISHED] },
      targets: [
        new eventsTargets.LambdaFunction(fn, {
          retryAttempts: EXPIRY_RETRY_ATTEMPTS,
          maxEventAge: EXPIRY_MAX_EVENT_AGE,
        }),
      ],
    });

    const restoreTests = props.restoreTests?.enabled === true ? props.restoreTests : undefined;
    const schedules: [string, string, string, string, Record<string, unknown>][] = [
      ['GcSchedule', 'gc', GC_SCHEDULE, 'Daily garbage collection of the image bucket', { kind: 'gc' }],
      [
        'ScrubSchedule',
        'scrub',
        SCRUB_SCHEDULE,
        'Daily scrub of the image bucket',
        props.scrubCoverRuns === undefined
          ? { kind: 'scrub' }
          : { kind: 'scrub', coverRuns: props.scrubCoverRuns },
      ],
    ];
    if (restoreTests !== undefined) {
      schedules.push([
        'RestoreTestSchedule',
        'restore-test',
        RESTORE_TEST_SCHEDULE,
        "Daily restore test of every server's newest recovery point",
        { kind: 'restore-test', files: restoreTests.filesPerServer, wholeVolume: restoreTests.wholeVolume },
      ]);
    }
    const deadLetterQueue = props.scheduleDeadLetterQueue;
    let role: iam.Role | undefined;
    if (deadLetterQueue !== undefined) {
      role = schedulerServiceRole(
        scope,
        'LifecycleSchedulerRole',
        'EventBridge Scheduler invokes the lifecycle job function for the daily jobs',
      );
      grantScheduleDeadLetter(deadLetterQueue, props.key, role);
    }
    for (const [id, kind, expression, description, input] of schedules) {
      new scheduler.Schedule(scope, id, {
        scheduleName: `${props.prefix}-${kind}`,
        description,
        schedule: scheduler.ScheduleExpression.expression(expression, TimeZone.ETC_UTC),
        target: new schedulerTargets.LambdaInvoke(fn, {
          input: scheduler.ScheduleTargetInput.fromObject(input),
          retryAttempts: SCHEDULE_RETRY_ATTEMPTS,
          maxEventAge: Duration.hours(1),
          ...(deadLetterQueue === undefined ? {} : { deadLetterQueue }),
          ...(role === undefined ? {} : { role }),
        }),
        key: props.key,
      });
    }

    const missed = (job: string) =>
      `No ${job} has completed for ${HEARTBEAT_WINDOW_DAYS} days: its daily schedule stopped firing (the schedules' dead-letter queue may say why) or every run died before its end`;
    const heartbeats: [string, string, string][] = [
      ['GcHeartbeatAlarm', missed('garbage collection'), GC_COMPLETED_METRIC],
      ['ScrubHeartbeatAlarm', missed('scrub'), SCRUB_COMPLETED_METRIC],
    ];
    if (restoreTests !== undefined)
      heartbeats.push(['RestoreTestHeartbeatAlarm', missed('restore test'), RESTORE_TEST_COMPLETED_METRIC]);
    for (const [id, description, metricName] of heartbeats)
      this.heartbeatAlarms.push(
        dailyJobAlarm(scope, id, description, metricName, props.topic, NO_HEARTBEAT_IN_WINDOW),
      );

    this.scrubAlarm = dailyJobAlarm(
      scope,
      'ScrubFindingsAlarm',
      'A scrub found corrupt or missing objects: the images they break cannot be restored',
      SCRUB_FINDINGS_METRIC,
      props.topic,
      COUNTED_IN_A_DAY,
    );
    this.restoreTestAlarm = dailyJobAlarm(
      scope,
      'RestoreTestFailuresAlarm',
      "A restore test failed: a server's newest recovery point did not restore (see the run's failures)",
      RESTORE_TEST_FAILURES_METRIC,
      props.topic,
      COUNTED_IN_A_DAY,
    );
    this.failedJobAlarm = dailyJobAlarm(
      scope,
      'LifecycleJobFailedAlarm',
      'A garbage collection or a plan-run expiry ended failed: nothing was collected or expired by it (rbp gc status / rbp retention run-status give the reason)',
      LIFECYCLE_JOBS_FAILED_METRIC,
      props.topic,
      COUNTED_IN_A_DAY,
    );

    // The fence's age, from the collection after each invocation (0 once it releases the fence) and
    // from every commit that waits for it. Missing data keeps the state: between two datapoints
    // nothing has changed that the alarm could see, and a collection that died holding the fence
    // keeps it in alarm until a run finishes it (its datapoint 0 clears it).
    this.fenceHeldAlarm = new cloudwatch.Alarm(scope, 'CollectionFenceHeldAlarm', {
      alarmDescription: `The garbage-collection fence has been held for more than ${FENCE_HELD_ALARM_SECONDS / 3600} h: backups that reach Commit Image wait for it and are suspended after that long; a collection that stopped is finished by running it again (rbp gc run)`,
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: COLLECTION_FENCE_HELD_METRIC,
        dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME },
        statistic: 'Maximum',
        period: FENCE_HELD_ALARM_PERIOD,
      }),
      threshold: FENCE_HELD_ALARM_SECONDS,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    this.fenceHeldAlarm.addAlarmAction(new cwActions.SnsAction(props.topic));

    const image = nagArnToken(bucket);
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${image}/gc/*]`,
      reason: "The collector's scratch runs, named by run id and sequence number at run time.",
    });
    // The API's role and the schedules' target role may invoke the function's versions and aliases.
    Validations.of(Stack.of(scope)).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArnToken(fn)}:*]`,
      reason: 'Invoking the lifecycle job function is allowed for any version or alias of that one function.',
    });
  }
}
