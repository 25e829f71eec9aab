/**
 * Outcome notifications and monitoring: the SNS topic of backup outcomes (and its e-mail
 * subscriptions), one alarm per failure signal of the state machine and of every function, and a
 * dashboard. Resources are added to the given scope (see backup-storage.ts for why).
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { functionIdStem, type FunctionName } from '../function-manifest.ts';

/** A failed backup deserves a look at once: one failed execution in five minutes raises the alarm. */
export const ALARM_PERIOD = Duration.minutes(5);
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

export interface BackupMonitoringProps {
  /** The dashboard is named `<prefix>-backups`. */
  readonly prefix: string;
  /** Receives every alarm. */
  readonly topic: sns.ITopic;
  readonly stateMachine: sfn.StateMachine;
  readonly functions: Readonly<Record<FunctionName, lambda.IFunction>>;
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
    for (const [name, fn] of Object.entries(functions) as [FunctionName, lambda.IFunction][]) {
      const id = functionIdStem(name);
      alarm(`${id}ErrorsAlarm`, fn.metricErrors(sum), `Lambda ${name} reported errors`);
      alarm(`${id}ThrottlesAlarm`, fn.metricThrottles(sum), `Lambda ${name} was throttled`);
    }
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
}
