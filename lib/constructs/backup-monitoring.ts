/**
 * Outcome notifications and monitoring: the SNS topic of backup outcomes (and its e-mail
 * subscriptions), one alarm per failure signal of the state machine and of every function, one
 * "RPO breached" alarm per protected server of the configuration, one over every server the plans'
 * RPO targets watch (ServersRpoBreached), the schedules' dead-letter queue and its alarms, and a
 * dashboard. Resources are added to the given scope (see backup-storage.ts for why).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { functionIdStem, type FunctionName } from '../function-manifest.ts';
import {
  BACKUP_SUCCEEDED_METRIC,
  FILE_CATALOGS_DEGRADED_METRIC,
  METRICS_NAMESPACE,
  SERVER_ID_DIMENSION,
  SERVERS_RPO_BREACHED_METRIC,
  SERVICE_DIMENSION,
  SERVICE_NAME,
} from '../../lambdas/core/metrics.ts';
import { COMMIT_IMAGE_STEP, STEP_DIMENSION, STEP_WAITING_METRIC } from '../../lambdas/core/metrics.ts';
import { RPO_CHECK_MINUTES } from '../../lambdas/core/plans/rpo.ts';

/** A failed backup deserves a look at once: one failed execution in five minutes raises the alarm. */
export const ALARM_PERIOD = Duration.minutes(5);
/** RPO alarm when a server's configuration names none: every schedule backs up at least daily. */
export const DEFAULT_RPO_ALARM_MINUTES = 1_440;
/** Up to a day the RPO alarm looks at 5-minute periods (CloudWatch: periods × length ≤ 1 day). */
const RPO_SHORT_PERIOD_MINUTES = 5;
/** Beyond a day, hourly periods (CloudWatch evaluates up to 7 days of periods of an hour or more). */
const RPO_LONG_PERIOD_MINUTES = 60;
/** Longest RPO window with 5-minute periods. */
const RPO_SHORT_WINDOW_MINUTES = 1_440;

/**
 * The periods of a server's RPO alarm: `evaluationPeriods` periods of `periodMinutes` covering at
 * least `rpoMinutes` (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html).
 */
export function rpoAlarmPeriods(rpoMinutes: number): { periodMinutes: number; evaluationPeriods: number } {
  const periodMinutes =
    rpoMinutes <= RPO_SHORT_WINDOW_MINUTES ? RPO_SHORT_PERIOD_MINUTES : RPO_LONG_PERIOD_MINUTES;
  return { periodMinutes, evaluationPeriods: Math.ceil(rpoMinutes / periodMinutes) };
}

/**
 * The period of the plans' "RPO breached" alarm: two RPO checks, so one late or lost check leaves
 * a datapoint in every period and only a check that stopped leaves a period empty.
 */
export const PLAN_RPO_ALARM_PERIOD = Duration.minutes(2 * RPO_CHECK_MINUTES);

/** A protected server as the RPO alarm sees it. */
export interface RpoWatchedServer {
  readonly serverId: string;
  readonly rpoAlarmMinutes?: number;
}

/**
 * How long a failed firing stays in the schedules' dead-letter queue: SQS's longest (14 days,
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-queue-parameters.html),
 * so an operator back from a long weekend still reads which schedule failed and why.
 */
export const SCHEDULE_DEAD_LETTER_RETENTION = Duration.days(14);
/** The schedule group of schedules created without one (the lifecycle jobs' and the RPO check's). */
export const DEFAULT_SCHEDULE_GROUP = 'default';

/** Percentile of the range workers' duration on the dashboard: the slow tail, not the mean. */
const DURATION_PERCENTILE = 90;

export interface OutcomeTopicProps {
  /** The topic's display name starts with it. */
  readonly prefix: string;
  /** Encrypts the topic. */
  readonly key: kms.IKey;
  /** Addresses subscribed to the topic. */
  readonly notificationEmails: readonly string[];
}

/** The topic backup outcomes and alarms are published to. */
export function createOutcomeTopic(scope: Construct, props: OutcomeTopicProps): sns.Topic {
  const topic = new sns.Topic(scope, 'OutcomeTopic', {
    displayName: `${props.prefix} backup outcomes`,
    masterKey: props.key,
    enforceSSL: true,
  });
  for (const email of props.notificationEmails)
    topic.addSubscription(new snsSubscriptions.EmailSubscription(email));
  return topic;
}

/**
 * The one SQS queue every schedule of the product (plans, workflows, lifecycle jobs, the RPO check)
 * sends a firing to once Scheduler's retries are spent: a standard queue (Scheduler takes no FIFO
 * dead-letter queue), encrypted with the stack's key, TLS only
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).
 */
export function createScheduleDeadLetterQueue(
  scope: Construct,
  props: { readonly key: kms.IKey },
): sqs.Queue {
  const queue = new sqs.Queue(scope, 'ScheduleDeadLetterQueue', {
    encryption: sqs.QueueEncryption.KMS,
    encryptionMasterKey: props.key,
    enforceSSL: true,
    retentionPeriod: SCHEDULE_DEAD_LETTER_RETENTION,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      "This queue is itself the dead-letter queue of the product's EventBridge Scheduler schedules; nothing consumes it but the operator.",
  });
  return queue;
}

/**
 * What a schedule's role needs to deliver a failed firing to the dead-letter queue: SendMessage on
 * that queue only, and the key's GenerateDataKey and Decrypt that a producer of an SSE-KMS queue needs
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
 */
export function grantScheduleDeadLetter(queue: sqs.IQueue, key: kms.IKey, role: iam.IGrantable): void {
  role.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
  );
  role.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [key.keyArn] }),
  );
}

/**
 * Commit Image's Lambda errors, leaving out the periods in which a commit waited for a garbage
 * collection: a waiting commit fails its invocation on purpose (CollectionInProgressError, which
 * the state machine retries every minute for up to two hours), and Lambda counts every such
 * invocation in `Errors` (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
 * A period with a wait (STEP_WAITING_METRIC of the commit-image step) counts 0; a real failure in
 * such a period still ends its backup Failed, which BackupFailedAlarm reports. Only the first or
 * last wait of a collection whose Lambda and EMF datapoints land on the two sides of a period
 * boundary can slip through.
 */
function commitErrorsBesidesWaits(fn: lambda.IFunction): cloudwatch.IMetric {
  return new cloudwatch.MathExpression({
    expression: 'IF(FILL(waits, 0) > 0, 0, errors)',
    usingMetrics: {
      errors: fn.metricErrors({ period: ALARM_PERIOD, statistic: cloudwatch.Stats.SUM }),
      waits: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: STEP_WAITING_METRIC,
        dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME, [STEP_DIMENSION]: COMMIT_IMAGE_STEP },
        period: ALARM_PERIOD,
        statistic: cloudwatch.Stats.SUM,
      }),
    },
    period: ALARM_PERIOD,
    label: 'commitImage errors besides waits for a collection',
  });
}

export interface BackupMonitoringProps {
  /** The dashboard is named `<prefix>-backups`. */
  readonly prefix: string;
  /** Receives every alarm. */
  readonly topic: sns.ITopic;
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Readonly<Record<FunctionName, lambda.IFunction>>;
  /** One "RPO breached" alarm each (none when absent). */
  readonly servers?: readonly RpoWatchedServer[];
  /**
   * The product's other state machines by a label (`PlanRun`, `WorkflowRun`, `VolumeRestore`):
   * each gets an alarm on failed and on timed-out executions, as the backup's has, so a plan run, a
   * scheduled workflow run or a restore that ended badly at night reaches the topic too.
   */
  readonly otherStateMachines?: Readonly<Record<string, sfn.IStateMachine>>;
  /** The schedules' dead-letter queue (createScheduleDeadLetterQueue) and the groups of those schedules. */
  readonly schedules?: {
    readonly deadLetterQueue: sqs.IQueue;
    readonly groupNames: readonly string[];
  };
}

export class BackupMonitoring {
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, props: BackupMonitoringProps) {
    const { stateMachine, functions } = props;
    const action = new cwActions.SnsAction(props.topic);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(scope, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      this.alarms.push(created);
    };
    const sum = { period: ALARM_PERIOD, statistic: cloudwatch.Stats.SUM };
    alarm('BackupFailedAlarm', stateMachine.metricFailed(sum), 'A backup execution failed');
    alarm('BackupTimedOutAlarm', stateMachine.metricTimedOut(sum), 'A backup execution timed out');
    alarm('BackupAbortedAlarm', stateMachine.metricAborted(sum), 'A backup execution was aborted');
    for (const [label, machine] of Object.entries(props.otherStateMachines ?? {})) {
      const what = label.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
      alarm(`${label}FailedAlarm`, machine.metricFailed(sum), `A ${what} execution failed`);
      alarm(`${label}TimedOutAlarm`, machine.metricTimedOut(sum), `A ${what} execution timed out`);
    }
    for (const [name, fn] of Object.entries(functions) as [FunctionName, lambda.IFunction][]) {
      const id = functionIdStem(name);
      alarm(
        `${id}ErrorsAlarm`,
        name === 'commitImage' ? commitErrorsBesidesWaits(fn) : fn.metricErrors(sum),
        `Lambda ${name} reported errors`,
      );
      alarm(`${id}ThrottlesAlarm`, fn.metricThrottles(sum), `Lambda ${name} was throttled`);
    }
    for (const [index, server] of (props.servers ?? []).entries()) {
      const rpoMinutes = server.rpoAlarmMinutes ?? DEFAULT_RPO_ALARM_MINUTES;
      const { periodMinutes, evaluationPeriods } = rpoAlarmPeriods(rpoMinutes);
      // Every period without a committed backup breaches (no datapoint = missing = breaching); the
      // alarm fires when all periods of the window have none: no backup within rpoMinutes.
      const created = new cloudwatch.Alarm(scope, `RpoBreachedAlarm${index}`, {
        metric: new cloudwatch.Metric({
          namespace: METRICS_NAMESPACE,
          metricName: BACKUP_SUCCEEDED_METRIC,
          // Powertools adds the service dimension to every metric it writes.
          dimensionsMap: {
            [SERVICE_DIMENSION]: SERVICE_NAME,
            [SERVER_ID_DIMENSION]: server.serverId,
          },
          period: Duration.minutes(periodMinutes),
          statistic: cloudwatch.Stats.SUM,
        }),
        threshold: 1,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        alarmDescription: `RPO breached: no successful backup of ${server.serverId} within ${rpoMinutes} minutes`,
      });
      created.addAlarmAction(action);
      this.alarms.push(created);
    }
    // Plans' RPO targets (rpoMinutes or the default, rpo.ts): one alarm over every server a plan watches, on the count of
    // servers in breach that each RPO check writes (zero included). Missing data is breaching: an
    // empty period means the check stopped (schedule deleted or disabled, function failing), and
    // then no breach would be seen at all; a function error alone is also caught by its Errors alarm.
    const plansRpo = new cloudwatch.Alarm(scope, 'PlanRpoBreachedAlarm', {
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: SERVERS_RPO_BREACHED_METRIC,
        dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME },
        period: PLAN_RPO_ALARM_PERIOD,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      alarmDescription:
        "RPO breached: a server selected by a plan with an RPO target (rpoMinutes, or twice a scheduled plan's longest gap between runs) has no live recovery point within that target (RPO Breached events name it), or the RPO check stopped reporting",
    });
    plansRpo.addAlarmAction(action);
    this.alarms.push(plansRpo);
    if (props.schedules !== undefined) this.scheduleAlarms(scope, props.schedules, action);
    alarm(
      'FileCatalogDegradedAlarm',
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: FILE_CATALOGS_DEGRADED_METRIC,
        dimensionsMap: { [SERVICE_DIMENSION]: SERVICE_NAME },
        ...sum,
      }),
      "A backup succeeded but a volume's file catalog failed or is partial: its files cannot all be browsed or restored one by one (the Backup Succeeded event's catalogs name the volume)",
    );
    this.dashboard = new cloudwatch.Dashboard(scope, 'Dashboard', {
      dashboardName: `${props.prefix}-backups`,
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backup executions',
        left: [
          stateMachine.metricSucceeded(sum),
          stateMachine.metricFailed(sum),
          stateMachine.metricTimedOut(sum),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Range workers',
        left: [functions.copyRange.metricInvocations(sum), functions.copyRange.metricErrors(sum)],
        right: [
          functions.copyRange.metricDuration({
            period: ALARM_PERIOD,
            statistic: cloudwatch.Stats.p(DURATION_PERCENTILE),
          }),
        ],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }),
    );
  }

  /**
   * A schedule that could not start its target: the dead-letter queue holds a message (a firing
   * whose retries are spent), or Scheduler could not even put it there (AWS/Scheduler
   * InvocationsFailedToBeSentToDeadLetterCount per schedule group,
   * https://docs.aws.amazon.com/scheduler/latest/UserGuide/monitoring-cloudwatch.html). Scheduler's
   * TargetErrorCount is left out: it counts every failed attempt, retried ones that then succeed too.
   */
  private scheduleAlarms(
    scope: Construct,
    schedules: NonNullable<BackupMonitoringProps['schedules']>,
    action: cloudwatch.IAlarmAction,
  ): void {
    // An idle empty queue sends no datapoints; missing data keeps the state, so the alarm stays
    // raised until a datapoint says the operator has emptied the queue.
    const queued = new cloudwatch.Alarm(scope, 'ScheduleDeadLetterAlarm', {
      metric: schedules.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: ALARM_PERIOD,
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      alarmDescription:
        "A schedule (plan, workflow, lifecycle job or RPO check) failed to start its target after Scheduler's retries: the run did not happen. Each message of the schedules' dead-letter queue names the schedule and the error; delete the messages once handled",
    });
    queued.addAlarmAction(action);
    this.alarms.push(queued);
    const usingMetrics = Object.fromEntries(
      schedules.groupNames.map((group, index) => [
        `group${index}`,
        new cloudwatch.Metric({
          namespace: 'AWS/Scheduler',
          metricName: 'InvocationsFailedToBeSentToDeadLetterCount',
          dimensionsMap: { ScheduleGroup: group },
          period: ALARM_PERIOD,
          statistic: cloudwatch.Stats.SUM,
        }),
      ]),
    );
    const lost = new cloudwatch.Alarm(scope, 'ScheduleDeadLetterFailedAlarm', {
      metric: new cloudwatch.MathExpression({
        expression: Object.keys(usingMetrics)
          .map((id) => `FILL(${id}, 0)`)
          .join(' + '),
        usingMetrics,
        period: ALARM_PERIOD,
        label: 'Failed firings that could not be sent to the dead-letter queue',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `A schedule of the groups ${schedules.groupNames.join(', ')} failed to start its target and Scheduler could not send the firing to the dead-letter queue either (the schedule role's sqs:SendMessage or KMS grant): the run did not happen and no message says which`,
    });
    lost.addAlarmAction(action);
    this.alarms.push(lost);
  }
}
