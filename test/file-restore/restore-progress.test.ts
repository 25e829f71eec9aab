/**
 * A file, directory or application restore's progress as GET /restores/{id} and `rbp restore
 * status` show it: the bytes stored and the invocations used, from the job record's progress,
 * never the worker's upload id.
 */
import { describe, expect, it } from 'vitest';
import { restoreOfFileJob } from '../../lambdas/core/api/restore-service.ts';
import { restoreSchema } from '../../lambdas/core/api/schemas.ts';
import type { RestoreJob } from '../../lambdas/core/file-restore/restore-jobs.ts';
import { progressLine } from '../../cli/api/job-progress.ts';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const MIB = 1024 * 1024;

const pending: RestoreJob = {
  restoreId: 'rs-progress',
  volumeId: 'vol-0123456789abcdef0',
  imageId: 'img-vol-0123456789abcdef0-20261120t120000000z',
  kind: 'directory',
  path: '/srv',
  keyToken: 'token',
  status: 'pending',
  createdAt: '2026-11-20T12:00:00.000Z',
  updatedAt: '2026-11-20T12:00:00.000Z',
};

const running: RestoreJob = {
  ...pending,
  status: 'running',
  progress: { uploadId: 'secret-upload-id', parts: 3, bytes: 24 * MIB, handovers: 1 },
};

describe('file restore progress in the API answer', () => {
  it('a pending restore, and a running one before its first part, have no progress', () => {
    expect(restoreOfFileJob(pending).progress).toBeUndefined();
    expect(restoreOfFileJob({ ...pending, status: 'running' }).progress).toBeUndefined();
  });

  it('a running restore shows the bytes stored and the invocations used, without the upload id', () => {
    const answer = restoreSchema.parse(restoreOfFileJob(running));
    expect(answer.status).toBe('RUNNING');
    expect(answer.progress).toEqual({ bytesWritten: 24 * MIB, invocations: 2 });
    expect(JSON.stringify(answer)).not.toContain('secret-upload-id');
  });

  it('a succeeded restore shows the whole result and every invocation it used', () => {
    const done: RestoreJob = {
      ...running,
      status: 'succeeded',
      progress: { uploadId: 'secret-upload-id', parts: 5, bytes: 40 * MIB, handovers: 2 },
      result: {
        key: 'restores/rs-progress/token/srv.tar',
        fileName: 'srv.tar',
        contentType: 'application/x-tar',
        bytes: 41 * MIB + 512,
        files: 7,
        problemCount: 0,
        problems: [],
      },
    };
    expect(restoreSchema.parse(restoreOfFileJob(done)).progress).toEqual({
      bytesWritten: 41 * MIB + 512,
      invocations: 3,
    });
    // One plain upload: no progress record, one invocation.
    const { progress: _unused, ...plain } = done;
    expect(restoreOfFileJob(plain).progress).toEqual({ bytesWritten: 41 * MIB + 512, invocations: 1 });
  });

  it('`rbp restore status` and the --wait line print the figures', () => {
    const answer = restoreOfFileJob(running);
    expect(progressLine('restore rs-progress: RUNNING', answer.progress)).toBe(
      'restore rs-progress: RUNNING · 24.0 MiB written · 2 invocations',
    );
    expect(progressLine('restore rs-progress: SUCCEEDED', { bytesWritten: 512, invocations: 1 })).toBe(
      'restore rs-progress: SUCCEEDED · 512 B written · 1 invocation',
    );
  });
});

/** The API stand-in answers GET /restores/{id} with the API's own mapping of the running job. */
const api = useApiStandIn((request) =>
  request.method === 'GET' && request.url === `/api/restores/${running.restoreId}`
    ? { status: 200, json: restoreOfFileJob(running) }
    : noRoute(request),
);

describe('rbp restore status of a running file restore', () => {
  it('prints the progress line, and --json carries progress as the API has it', async () => {
    const plain = await api.rbp(['restore', 'status', running.restoreId]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('  progress  24.0 MiB written · 2 invocations');
    const json = await api.rbp(['restore', 'status', running.restoreId, '--json']);
    expect(json.code).toBe(0);
    const printed = JSON.parse(json.stdout) as { progress: unknown };
    expect(printed.progress).toEqual({ bytesWritten: 24 * MIB, invocations: 2 });
    expect(json.stdout).not.toContain('secret-upload-id');
  }, 60_000);
});
