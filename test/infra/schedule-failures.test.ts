/**
 * A schedule that cannot start its target is never silent (synthesised through bin/app.ts, so
 * cdk-nag passes too): one KMS-encrypted, TLS-only SQS dead-letter queue; every schedule of the
 * product (the configuration's plan schedules, the lifecycle jobs', the RPO check's) carries a
 * RetryPolicy and that queue; the scheduler roles may send to that queue only; the API is told the
 * queue for the schedules it writes; and two alarms reach the outcome topic.
 */
import '../support/quiet-powertools.ts';
import { describe, expect, it } from 'vitest';
import {
  SCHEDULE_MAX_EVENT_AGE_SECONDS,
  SCHEDULE_RETRY_ATTEMPTS,
} from '../../lambdas/aws/scheduler-state-machine-schedules.ts';
import { NIGHTLY_QA } from '../plans/plan-fixtures.ts';
import { roleStatements, type IamStatement } from '../support/iam-statements.ts';
import { STACK, useSynthResources } from './synth.ts';

const resources = useSynthResources('rbp-schedule-failures-', { plans: [NIGHTLY_QA] });

const ofType = (type: string) => Object.entries(resources()).filter(([, r]) => r.Type === type);
const QUEUE_ARN = { 'Fn::GetAtt': [expect.stringMatching(/^ReplicaBackupScheduleDeadLetterQueue/), 'Arn'] };
const KEY_ARN = { 'Fn::GetAtt': [expect.stringMatching(/^ReplicaBackupKey[0-9A-F]{8}$/), 'Arn'] };
const queueId = () => ofType('AWS::SQS::Queue').map(([id]) => id);

type Target = {
  Arn: unknown;
  RoleArn: { 'Fn::GetAtt': [string, string] };
  RetryPolicy?: { MaximumRetryAttempts: number; MaximumEventAgeInSeconds: number };
  DeadLetterConfig?: { Arn: unknown };
};

describe("the schedules' dead-letter queue", () => {
  it('is one standard queue encrypted with the stack key, keeping messages 14 days, TLS only', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(1);
    const [id, queue] = queues[0]!;
    expect(id).toMatch(/^ReplicaBackupScheduleDeadLetterQueue/);
    expect(queue.Properties).toEqual({
      KmsMasterKeyId: KEY_ARN,
      MessageRetentionPeriod: 1_209_600,
    });
    const [policy] = ofType('AWS::SQS::QueuePolicy');
    expect(policy![1].Properties['PolicyDocument']).toMatchObject({
      Statement: [
        {
          Action: 'sqs:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Effect: 'Deny',
          Principal: { AWS: '*' },
        },
      ],
    });
  });

  it('is on every schedule with the retry policy: the configured plan, the lifecycle jobs and the RPO check', () => {
    const schedules = ofType('AWS::Scheduler::Schedule').map(
      ([, s]) => [s.Properties['Name'], s.Properties['Target'] as Target] as const,
    );
    expect(schedules.map(([name]) => name).sort()).toEqual(
      [
        'nightly-qa--0',
        `${STACK}-gc`,
        `${STACK}-restore-test`,
        `${STACK}-rpo-check`,
        `${STACK}-scrub`,
      ].sort(),
    );
    for (const [name, target] of schedules) {
      expect(target.DeadLetterConfig, String(name)).toEqual({ Arn: QUEUE_ARN });
      expect(target.RetryPolicy, String(name)).toEqual(
        name === `${STACK}-rpo-check`
          ? // The RPO check's own: two retries within its 5-minute period (plan-runs.ts).
            { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 }
          : {
              MaximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS,
              MaximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE_SECONDS,
            },
      );
    }
    expect(SCHEDULE_RETRY_ATTEMPTS).toBe(3);
    expect(SCHEDULE_MAX_EVENT_AGE_SECONDS).toBe(3_600);
  });

  it('may be sent to by the four scheduler roles only, each with SendMessage on it and the key for SSE-KMS', () => {
    const senders = ofType('AWS::IAM::Policy')
      .filter(([, p]) =>
        (p.Properties['PolicyDocument'] as { Statement: IamStatement[] }).Statement.some((s) =>
          JSON.stringify(s.Action).includes('sqs:'),
        ),
      )
      .map(([id]) => id.replace(/DefaultPolicy[0-9A-F]{8}$/, ''));
    expect(senders.sort()).toEqual([
      'ReplicaBackupLifecycleSchedulerRole',
      'ReplicaBackupPlanSchedulerRole',
      'ReplicaBackupRpoCheckSchedulerRole',
      'ReplicaBackupWorkflowSchedulerRole',
    ]);
    for (const role of senders) {
      const statements = roleStatements(resources(), role);
      const sqs = statements.filter((s) => JSON.stringify(s.Action).includes('sqs:'));
      expect(sqs, role).toEqual([{ Action: 'sqs:SendMessage', Effect: 'Allow', Resource: QUEUE_ARN }]);
      const send = { Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Effect: 'Allow', Resource: KEY_ARN };
      // The lifecycle and RPO-check schedules are encrypted with the key: CDK lets their role decrypt them.
      const decryptSchedule = { Action: 'kms:Decrypt', Effect: 'Allow', Resource: KEY_ARN };
      expect(
        statements.filter((s) => JSON.stringify(s.Action).includes('kms:')),
        role,
      ).toEqual(role.includes('Plan') || role.includes('Workflow') ? [send] : [send, decryptSchedule]);
    }
    // Every schedule runs as one of those roles.
    const roles = new Set(
      ofType('AWS::Scheduler::Schedule').map(([, s]) =>
        (s.Properties['Target'] as Target).RoleArn['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, ''),
      ),
    );
    expect([...roles].sort()).toEqual([
      'ReplicaBackupLifecycleSchedulerRole',
      'ReplicaBackupPlanSchedulerRole',
      'ReplicaBackupRpoCheckSchedulerRole',
    ]);
  });

  it("is named in the API's environment for the plan and workflow schedules it writes", () => {
    const [api] = ofType('AWS::Lambda::Function').filter(([id]) => id.startsWith('ReplicaBackupApiFunction'));
    const variables = (api![1].Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
    expect(variables['SCHEDULE_DEAD_LETTER_QUEUE_ARN']).toEqual(QUEUE_ARN);
  });

  it('raises an alarm when it holds a message, and when Scheduler could not send one to it', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm');
    const [queued] = alarms.filter(([id]) => id.startsWith('ReplicaBackupScheduleDeadLetterAlarm'));
    expect(queued![1].Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId()[0], 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'ignore',
      AlarmActions: [{ Ref: expect.stringMatching(/OutcomeTopic/) as unknown }],
    });
    const [lost] = alarms.filter(([id]) => id.startsWith('ReplicaBackupScheduleDeadLetterFailedAlarm'));
    const properties = lost![1].Properties as {
      Metrics: { Id: string; Expression?: string; MetricStat?: { Metric: { Dimensions: unknown } } }[];
    };
    expect(properties).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: expect.stringMatching(/OutcomeTopic/) as unknown }],
    });
    const expression = properties.Metrics.find((m) => m.Expression !== undefined)!;
    expect(expression.Expression).toBe('FILL(group0, 0) + FILL(group1, 0) + FILL(group2, 0)');
    expect(
      properties.Metrics.filter((m) => m.MetricStat !== undefined).map((m) => [m.Id, m.MetricStat!.Metric]),
    ).toEqual([
      [
        'group0',
        {
          Namespace: 'AWS/Scheduler',
          MetricName: 'InvocationsFailedToBeSentToDeadLetterCount',
          Dimensions: [{ Name: 'ScheduleGroup', Value: `${STACK}-plans` }],
        },
      ],
      [
        'group1',
        {
          Namespace: 'AWS/Scheduler',
          MetricName: 'InvocationsFailedToBeSentToDeadLetterCount',
          Dimensions: [{ Name: 'ScheduleGroup', Value: `${STACK}-workflows` }],
        },
      ],
      [
        'group2',
        {
          Namespace: 'AWS/Scheduler',
          MetricName: 'InvocationsFailedToBeSentToDeadLetterCount',
          Dimensions: [{ Name: 'ScheduleGroup', Value: 'default' }],
        },
      ],
    ]);
  });
});
