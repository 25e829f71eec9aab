/**
 * The plans, servers and settings commands of `rbp` against a small HTTP server that answers as
 * the plan routes do: the requests they send, what they print, their exit codes.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodeOfRun, runProgressLine, runReport } from '../../cli/commands/plans.ts';
import type { PlanRunView } from '../../lambdas/core/plans/plan-api.ts';
import { noRoute, useApiStandIn, type StandInRequest } from '../support/cli.ts';

const finishedRun: PlanRunView = {
  runId: 'r1',
  plan: 'nightly-qa',
  status: 'PartiallySucceeded',
  reason: '1 succeeded, 0 failed, 1 skipped of 2 tasks',
  trigger: 'api:tester',
  startedAt: '2026-03-02T01:00:00.000Z',
  finishedAt: '2026-03-02T01:05:00.000Z',
  tasks: [
    {
      server: 'QA1',
      status: 'Succeeded',
      source: 'replica',
      backupId: 'r1-t0',
      imageIds: ['img-r1-t0'],
      step: 'Done',
      startedAt: '2026-03-02T01:00:01.000Z',
      finishedAt: '2026-03-02T01:04:00.000Z',
    },
    {
      server: 'TEST9',
      application: 'DOMAIN*',
      status: 'Skipped',
      reason: 'server TEST9 is unavailable: replication disconnected',
      step: 'Done',
    },
  ],
};
const runningRun: PlanRunView = {
  ...finishedRun,
  status: 'Running',
  tasks: [{ ...finishedRun.tasks[0]!, status: 'Running', step: 'AwaitBackup' }, finishedRun.tasks[1]!],
};
delete (runningRun as { reason?: string }).reason;
delete (runningRun as { finishedAt?: string }).finishedAt;

const seen: StandInRequest[] = [];
let runPolls = 0;
const api = useApiStandIn((request) => {
  seen.push(request);
  const { method, url } = request;
  if (method === 'POST' && url === '/api/plans') {
    return {
      status: 400,
      json: {
        code: 'InvalidRequest',
        message: 'invalid plan: window.timeZone: is required; (plan): Unrecognized key: "colour"',
        details: {},
      },
    };
  }
  if (method === 'POST' && url === '/api/plans/nightly-qa/runs') {
    return { status: 202, json: { runId: 'r1', plan: 'nightly-qa', status: 'Running' } };
  }
  if (url === '/api/plan-runs/r1') {
    runPolls += 1;
    return { status: 200, json: runPolls < 2 ? runningRun : finishedRun };
  }
  if (url === '/api/settings') {
    return {
      status: 200,
      json: { formatVersion: 1, backupsEnabled: false, updatedAt: '2026-03-02T00:00:00.000Z' },
    };
  }
  return noRoute(request);
});
const rbp = (args: string[]) => api.rbp(args);

describe('rbp plans', () => {
  it('run --wait --json prints the run in the issue’s shape and exits 8 unless every task succeeded', async () => {
    runPolls = 0;
    const result = await rbp(['plans', 'run', 'nightly-qa', '--wait', '--json', '--poll-interval', '0.05']);
    expect(JSON.parse(result.stdout)).toEqual({
      runId: 'r1',
      plan: 'nightly-qa',
      status: 'PartiallySucceeded',
      reason: '1 succeeded, 0 failed, 1 skipped of 2 tasks',
      tasks: [
        { server: 'QA1', status: 'Succeeded', source: 'replica', backupId: 'r1-t0', imageIds: ['img-r1-t0'] },
        {
          server: 'TEST9',
          application: 'DOMAIN*',
          status: 'Skipped',
          reason: 'server TEST9 is unavailable: replication disconnected',
        },
      ],
    });
    expect(result.stderr).toContain('plan run r1: Running — 1/2 tasks done; QA1: AwaitBackup');
    expect(result.code).toBe(8);
    expect(
      seen.filter((s) => s.url.includes('nightly-qa')).map((s) => `${s.method} ${s.url} ${s.body}`),
    ).toEqual(['POST /api/plans/nightly-qa/runs {}']);
  }, 60_000);

  it('create passes the API’s list of problems through and exits 5', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rbp-plan-'));
    const file = join(dir, 'plan.json');
    writeFileSync(file, JSON.stringify({ name: 'x', colour: 'blue', activities: [{ servers: 'A' }] }));
    const result = await rbp(['plans', 'create', '--file', file]);
    expect(result.stderr).toContain(
      'invalid plan: window.timeZone: is required; (plan): Unrecognized key: "colour"',
    );
    expect(result.code).toBe(5);
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      url: '/api/plans',
      body: JSON.stringify({ name: 'x', colour: 'blue', activities: [{ servers: 'A' }] }),
    });
  }, 60_000);

  it('settings set --backups disabled sends exactly {backupsEnabled: false}', async () => {
    const result = await rbp(['settings', 'set', '--backups', 'disabled']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('backups  disabled\nceiling  (none)\nupdated  2026-03-02T00:00:00.000Z\n');
    expect(seen.at(-1)).toEqual({ method: 'PUT', url: '/api/settings', body: '{"backupsEnabled":false}' });
  }, 60_000);
});

describe('run views', () => {
  it('progress line, report and exit code', () => {
    expect(runProgressLine(runningRun)).toBe('plan run r1: Running — 1/2 tasks done; QA1: AwaitBackup');
    expect(runProgressLine(finishedRun)).toBe(
      'plan run r1: PartiallySucceeded — 1 succeeded, 0 failed, 1 skipped of 2 tasks',
    );
    expect(runReport(finishedRun)).toBe(
      [
        'plan run r1 (nightly-qa): PartiallySucceeded',
        '  reason   1 succeeded, 0 failed, 1 skipped of 2 tasks',
        '  started  2026-03-02T01:00:00.000Z, finished 2026-03-02T01:05:00.000Z',
        '    1. QA1  Succeeded  from replica; image img-r1-t0',
        '    2. TEST9/DOMAIN*  Skipped  server TEST9 is unavailable: replication disconnected',
      ].join('\n'),
    );
    expect(exitCodeOfRun(finishedRun)).toBe(8);
    expect(exitCodeOfRun({ ...finishedRun, status: 'Succeeded' })).toBe(0);
  });
});
