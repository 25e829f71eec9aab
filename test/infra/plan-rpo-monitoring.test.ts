/**
 * The plans' RPO check synthesised (with cdk-nag, through bin/app.ts): its schedule invokes the
 * plan-run function with `{action: "checkRpo"}` every RPO_CHECK_MINUTES, the function may read
 * recovery points and image records and write only the RPOSTATE# breach items, and one alarm on
 * ServersRpoBreached (> 0, missing data breaching) goes to the outcome topic.
 */
import { describe, expect, it } from 'vitest';
import { SERVERS_RPO_BREACHED_METRIC } from '../../lambdas/core/metrics.ts';
import { RPO_CHECK_MINUTES } from '../../lambdas/core/plans/rpo.ts';
import { roleStatements, type IamStatement } from '../support/iam-statements.ts';
import { STACK, alarmSettings, useSynthResources } from './synth.ts';

const resources = useSynthResources('rbp-plan-rpo-');

const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type);
const actionsOf = (s: IamStatement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const leadingKeysOf = (s: IamStatement) =>
  (s.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] as string[] | undefined) ?? [];

describe('the plans RPO check', () => {
  it('is a schedule of its own invoking the plan-run function with checkRpo', () => {
    const schedules = ofType('AWS::Scheduler::Schedule').filter(
      ([, s]) => s.Properties['Name'] === `${STACK}-rpo-check`,
    );
    expect(schedules).toHaveLength(1);
    const props = schedules[0]![1].Properties as {
      ScheduleExpression: string;
      GroupName?: string;
      Target: { Arn: unknown; Input: string; RetryPolicy: { MaximumRetryAttempts: number } };
    };
    expect(props.ScheduleExpression).toBe(`rate(${RPO_CHECK_MINUTES} minutes)`);
    expect(JSON.parse(props.Target.Input)).toEqual({ action: 'checkRpo' });
    expect(JSON.stringify(props.Target.Arn)).toContain('PlanRun');
    expect(props.Target.RetryPolicy.MaximumRetryAttempts).toBe(2);
  });

  it('lets the plan-run function write only the RPOSTATE# breach items among its new grants', () => {
    const statements = roleStatements(resources(), 'ReplicaBackupPlanRunRole');
    const onKeys = (key: string) =>
      statements.filter((s) => leadingKeysOf(s).includes(key)).map((s) => actionsOf(s).sort());
    expect(onKeys('RPOSTATE#')).toEqual([['dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Query']]);
    expect(onKeys('RP#*')).toEqual([['dynamodb:Query']]);
    expect(onKeys('VOLUME#*')).toEqual([['dynamodb:BatchGetItem']]);
  });

  it('has one alarm on ServersRpoBreached: above zero, missing data breaching, to the outcome topic', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties['MetricName'] === SERVERS_RPO_BREACHED_METRIC,
    );
    expect(alarms).toHaveLength(1);
    const alarm = alarms[0]![1].Properties;
    expect(alarmSettings(alarm)).toEqual({
      namespace: 'ReplicaBackupProxy',
      dimensions: [{ Name: 'service', Value: 'rbp' }],
      period: 2 * RPO_CHECK_MINUTES * 60,
      statistic: 'Maximum',
      threshold: 0,
      comparison: 'GreaterThanThreshold',
      evaluationPeriods: 1,
      missing: 'breaching',
    });
    expect(JSON.stringify(alarm['AlarmActions'])).toContain('OutcomeTopic');
  });
});
