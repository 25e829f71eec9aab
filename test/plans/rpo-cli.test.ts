/** How `rbp servers ls`, `rbp plans ls` and `rbp plans run-status` show RPOs (cli/commands/plans.ts). */
import { describe, expect, it } from 'vitest';
import { durationText, planRpoText, rpoText, runReport } from '../../cli/commands/plans.ts';
import { parsePlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import type { PlanRunView } from '../../lambdas/core/plans/plan-api.ts';

describe('RPO in the CLI', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [720, '12m'],
    [3_600, '1h'],
    [7_500, '2h 5m'],
    [273_600, '3d 4h'],
    [604_800, '7d'],
  ])('durationText(%i) is %s', (seconds, text) => {
    expect(durationText(seconds)).toBe(text);
  });

  it('rpoText: achieved, the target in brackets, BREACHED when breached', () => {
    expect(rpoText({ targetMinutes: 60, achievedSeconds: 7_500, breached: true })).toBe(
      '2h 5m (1h) BREACHED',
    );
    expect(rpoText({ targetMinutes: 60, achievedSeconds: 720, breached: false })).toBe('12m (1h)');
    expect(rpoText({ targetMinutes: 30, breached: true })).toBe('never (30m) BREACHED');
    expect(rpoText({ achievedSeconds: 273_600, breached: false })).toBe('3d 4h');
    expect(rpoText(undefined)).toBeUndefined();
  });

  it("plans ls: a plan's rpoMinutes, else the default it is watched against, else nothing", () => {
    const plan = (fields: Record<string, unknown>) =>
      parsePlanDocument({ name: 'p', activities: [{ servers: 'DB*' }], ...fields });
    const daily = [{ expression: 'cron(0 1 * * ? *)', timeZone: 'UTC' }];
    expect(planRpoText(plan({ schedules: daily, rpoMinutes: 90 }))).toBe('1h 30m');
    expect(planRpoText(plan({ schedules: daily }))).toBe('2d (default)');
    expect(planRpoText(plan({ schedules: daily, enabled: false }))).toBeUndefined();
    expect(planRpoText(plan({}))).toBeUndefined();
  });

  it('run-status shows the RPO each task achieved', () => {
    const run: PlanRunView = {
      runId: 'pr-1',
      plan: 'hourly',
      status: 'Succeeded',
      trigger: 'manual',
      startedAt: '2026-11-05T12:00:00.000Z',
      finishedAt: '2026-11-05T12:03:00.000Z',
      tasks: [
        {
          server: 'DB1',
          status: 'Succeeded',
          source: 'replica',
          imageIds: ['img-1'],
          rpoAchievedSeconds: 3_660,
          step: 'Done',
        },
        { server: 'DB2', status: 'Succeeded', source: 'replica', imageIds: ['img-2'], step: 'Done' },
      ],
    };
    expect(runReport(run).split('\n')).toEqual([
      'plan run pr-1 (hourly): Succeeded',
      '  started  2026-11-05T12:00:00.000Z, finished 2026-11-05T12:03:00.000Z',
      '    1. DB1  Succeeded  from replica; image img-1; RPO achieved 1h 1m',
      '    2. DB2  Succeeded  from replica; image img-2',
    ]);
  });
});
