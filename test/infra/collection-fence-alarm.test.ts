/**
 * A collection fence held too long is an alarm (docs/lifecycle.md, "No takeover"), and a commit that
 * waits for a collection is not a Lambda error alarm: both synthesised through bin/app.ts.
 */
import { describe, expect, it } from 'vitest';
import { FENCE_HELD_ALARM_SECONDS } from '../../lambdas/core/lifecycle/commit-gate.ts';
import { alarmSettings, useSynthResources } from './synth.ts';

const resources = useSynthResources('rbp-fence-alarm-');

const alarms = () => Object.entries(resources()).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');

describe('the collection fence alarm', () => {
  it('fires when the fence has been held more than two hours (the longest a commit waits), keeps its state without data, to the outcome topic', () => {
    const fence = alarms().filter(([, a]) => a.Properties['MetricName'] === 'CollectionFenceHeldSeconds');
    expect(fence).toHaveLength(1);
    expect(fence[0]![0]).toMatch(/CollectionFenceHeldAlarm[0-9A-F]{8}$/);
    const alarm = fence[0]![1].Properties;
    expect(alarmSettings(alarm)).toEqual({
      namespace: 'ReplicaBackupProxy',
      dimensions: [{ Name: 'service', Value: 'rbp' }],
      statistic: 'Maximum',
      period: 900,
      threshold: 7200,
      comparison: 'GreaterThanThreshold',
      evaluationPeriods: 1,
      missing: 'ignore',
    });
    expect(FENCE_HELD_ALARM_SECONDS).toBe(7200);
    expect(JSON.stringify(alarm['AlarmActions'])).toContain('OutcomeTopic');
  });

  it("Commit Image's errors alarm leaves out the periods in which a commit waited for a collection", () => {
    const commit = alarms().filter(([id]) => /CommitImageErrorsAlarm[0-9A-F]{8}$/.test(id));
    expect(commit).toHaveLength(1);
    const alarm = commit[0]![1].Properties as {
      Metrics: {
        Id: string;
        Expression?: string;
        ReturnData?: boolean;
        MetricStat?: {
          Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
          Period: number;
          Stat: string;
        };
      }[];
    } & Record<string, unknown>;
    expect(alarm['MetricName']).toBeUndefined();
    expect(alarm['Threshold']).toBe(1);
    expect(alarm['ComparisonOperator']).toBe('GreaterThanOrEqualToThreshold');
    expect(alarm['TreatMissingData']).toBe('notBreaching');
    const expression = alarm.Metrics.find((m) => m.Expression !== undefined)!;
    expect(expression.Expression).toBe('IF(FILL(waits, 0) > 0, 0, errors)');
    const byId = Object.fromEntries(
      alarm.Metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!]),
    );
    expect(byId['waits']).toEqual({
      Metric: {
        Namespace: 'ReplicaBackupProxy',
        MetricName: 'StepWaiting',
        Dimensions: [
          { Name: 'service', Value: 'rbp' },
          { Name: 'step', Value: 'commit-image' },
        ],
      },
      Period: 300,
      Stat: 'Sum',
    });
    expect(byId['errors']).toMatchObject({
      Metric: { Namespace: 'AWS/Lambda', MetricName: 'Errors' },
      Period: 300,
      Stat: 'Sum',
    });
    expect(JSON.stringify(byId['errors']!.Metric.Dimensions)).toContain('CommitImage');
    // Every other function keeps its plain Errors alarm.
    const errors = alarms().filter(([id]) => /ErrorsAlarm[0-9A-F]{8}$/.test(id));
    expect(errors.length).toBeGreaterThan(10);
    expect(errors.filter(([, a]) => a.Properties['MetricName'] !== 'Errors').map(([id]) => id)).toEqual([
      commit[0]![0],
    ]);
  });
});
