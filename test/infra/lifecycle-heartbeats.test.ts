/**
 * "Nothing ran" raises an alarm: one heartbeat alarm per scheduled lifecycle job (GC, scrub, and
 * the restore test only when it is enabled), each on its Completed metric of the lifecycle job,
 * breaching when HEARTBEAT_WINDOW_DAYS daily periods have none, missing data breaching.
 */
import '../support/quiet-powertools.ts';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config.ts';
import { HEARTBEAT_WINDOW_DAYS } from '../../lib/constructs/lifecycle-jobs.ts';
import { ReplicaBackupStack } from '../../lib/stacks/replica-backup-stack.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

function heartbeatAlarms(config: unknown): Record<string, Record<string, unknown>> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new ReplicaBackupStack(app, 'HeartbeatTest', {
    config: parseConfig(config),
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  const resources = Template.fromStack(stack).toJSON()['Resources'] as Record<string, Resource>;
  return Object.fromEntries(
    Object.entries(resources)
      .filter(([id, r]) => r.Type === 'AWS::CloudWatch::Alarm' && /HeartbeatAlarm/.test(id))
      .map(([id, r]) => [id.replace(/[0-9A-F]{8}$/, ''), r.Properties]),
  );
}

/** The alarm of `metricName`: no datapoint of at least 1 in two days of daily sums, missing data breaching. */
function heartbeat(metricName: string, job: string): Record<string, unknown> {
  return {
    AlarmDescription: `No ${job} has completed for 2 days: its daily schedule stopped firing (the schedules' dead-letter queue may say why) or every run died before its end`,
    Namespace: 'ReplicaBackupProxy',
    MetricName: metricName,
    Dimensions: [
      { Name: 'service', Value: 'rbp' },
      { Name: 'step', Value: 'lifecycle-job' },
    ],
    Statistic: 'Sum',
    Period: 86_400,
    Threshold: 1,
    EvaluationPeriods: 2,
    DatapointsToAlarm: 2,
    ComparisonOperator: 'LessThanThreshold',
    TreatMissingData: 'breaching',
    AlarmActions: [{ Ref: expect.stringMatching(/^ReplicaBackupOutcomeTopic/) as unknown }],
  };
}

describe('lifecycle heartbeat alarms', () => {
  it('watch GC, scrub and the (default, enabled) restore test over two days', { timeout: 120_000 }, () => {
    expect(HEARTBEAT_WINDOW_DAYS).toBe(2);
    expect(heartbeatAlarms({ servers: [] })).toEqual({
      ReplicaBackupGcHeartbeatAlarm: heartbeat('GcCompleted', 'garbage collection'),
      ReplicaBackupScrubHeartbeatAlarm: heartbeat('ScrubCompleted', 'scrub'),
      ReplicaBackupRestoreTestHeartbeatAlarm: heartbeat('RestoreTestCompleted', 'restore test'),
    });
  });

  it('leave out the restore test when the configuration disables it', () => {
    expect(Object.keys(heartbeatAlarms({ servers: [], restoreTests: { enabled: false } })).sort()).toEqual([
      'ReplicaBackupGcHeartbeatAlarm',
      'ReplicaBackupScrubHeartbeatAlarm',
    ]);
  }, 120_000);
});
