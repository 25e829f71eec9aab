import { describe, expect, it } from 'vitest';
import { restoreTestSummary } from '../../cli/commands/restore-test.ts';
import type { RestoreTestRun } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';

type ServerResult = RestoreTestRun['servers'][number];

function serverResult(overrides: Partial<ServerResult> = {}): ServerResult {
  return {
    server: 'web-01',
    imageId: 'img-b',
    images: ['vol-0123456789abcdef0/img-b'],
    recoveryPointId: 'rp-b',
    filesChecked: 4,
    bytesChecked: 643_088,
    durationMs: 217,
    result: 'Passed',
    failures: [],
    files: [],
    notes: [],
    ...overrides,
  };
}

function runOf(servers: ServerResult[], wholeVolume: boolean): RestoreTestRun {
  return {
    runId: 'restore-test-1',
    status: 'passed',
    files: 16,
    wholeVolume,
    servers,
    createdAt: '2026-12-03T22:22:06.000Z',
    updatedAt: '2026-12-03T22:22:07.000Z',
  };
}

describe('rbp restore-test run --json', () => {
  it('shows what a --whole-volume test read, per server', () => {
    const run = runOf([serverResult({ wholeVolume: { chunksVerified: 9, bytes: 9_437_184 } })], true);
    expect(restoreTestSummary(run)).toEqual({
      status: 'passed',
      servers: [
        {
          server: 'web-01',
          imageId: 'img-b',
          filesChecked: 4,
          bytesChecked: 643_088,
          durationMs: 217,
          result: 'Passed',
          failures: [],
          wholeVolume: { chunksVerified: 9, bytes: 9_437_184 },
        },
      ],
    });
  });

  it('adds no wholeVolume field when the test sampled files alone', () => {
    const [server] = restoreTestSummary(runOf([serverResult()], false)).servers;
    expect(server).not.toHaveProperty('wholeVolume');
    expect(server).toMatchObject({ server: 'web-01', result: 'Passed', failures: [] });
  });
});
