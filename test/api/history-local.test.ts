/**
 * History on the local stack (history-routes.ts): GET /backups over the Step Functions emulator's
 * executions (one failing in a Lambda task the state machine catches, one succeeding with its
 * image's stats, one running) with filters and cursors; GET /restores over the job store's listing
 * in DynamoDB (moto), newest first, by status, page by page.
 */
import { randomBytes } from 'node:crypto';
import { CreateStateMachineCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { SfnBackupExecutions } from '../../lambdas/aws/sfn-backup-executions.ts';
import type { ApiDeps } from '../../lambdas/core/api/api-ports.ts';
import { StateMachineBackupLauncher } from '../../lambdas/core/api/backup-launcher.ts';
import { CursorCodec } from '../../lambdas/core/api/cursor.ts';
import { RestoreService } from '../../lambdas/core/api/restore-service.ts';
import { FILE_RESTORE_JOB } from '../../lambdas/core/file-restore/restore-jobs.ts';
import { VOLUME_RESTORE_JOB } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { answerOf, proxyEvent } from './api-events.ts';

const local = useLocalStack();
const VOLUME_A = 'vol-0a0a0a0a0a0a0a0a0';
const VOLUME_B = 'vol-0b0b0b0b0b0b0b0b0';
const FAILING_FUNCTION = 'rbp-history-copy';
let sfn: SFNClient;
let handler: ReturnType<typeof createApiHandler>;
let jobs: DynamoDbJobStore;

const definition = {
  StartAt: 'Wait?',
  States: {
    'Wait?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.outcome', StringEquals: 'run', Next: 'Wait For Snapshots' }],
      Default: 'Copy Ranges',
    },
    'Wait For Snapshots': { Type: 'Wait', Seconds: 600, Next: 'Copy Ranges' },
    'Copy Ranges': {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke',
      Parameters: { FunctionName: FAILING_FUNCTION, 'Payload.$': '$' },
      ResultPath: null,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: 'Clean Up' }],
      Next: 'Commit Image',
    },
    'Commit Image': {
      Type: 'Pass',
      Result: {
        result: { imageId: 'img-x', kind: 'full', stats: { blocksRead: 10, bytesCreated: 4321 } },
      },
      ResultPath: '$.image',
      End: true,
    },
    'Clean Up': { Type: 'Pass', Next: 'Backup Failed' },
    'Backup Failed': { Type: 'Fail', Error: 'BackupFailed', Cause: 'the copy failed' },
  },
};

/** The stand-in's ended executions run one Lambda task and Pass states: seconds at most. */
const STOP_WAIT: ExecutionWait = { timeoutMs: 30_000, pollMs: 100 };

async function get(path: string, query: Record<string, string> = {}) {
  const answer = answerOf(await handler(proxyEvent({ method: 'GET', path, query })));
  return answer as { status: number; body: Record<string, unknown> };
}

beforeAll(async () => {
  sfn = new SFNClient(local.clientConfig());
  local.stack.gateway.registerFunction(FAILING_FUNCTION, (event) => {
    if ((event as { outcome?: string }).outcome === 'fail') throw new Error('disk on fire');
    return Promise.resolve({});
  });
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: 'rbp-history-standin',
      roleArn: 'arn:aws:iam::123456789012:role/rbp-standin',
      definition: JSON.stringify(definition),
    }),
  );
  const arn = machine.stateMachineArn!;
  const start = async (name: string, input: Record<string, unknown>) =>
    (await sfn.send(new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify(input) })))
      .executionArn!;
  // Oldest first: a succeeded backup of A, a failed one of server web-01 (A and B), a running one of B.
  await executionEnded(
    sfn,
    await start('bk-1-ok', { volumeIds: [VOLUME_A], full: true, outcome: 'ok' }),
    STOP_WAIT,
  );
  await executionEnded(
    sfn,
    await start('bk-2-fail', {
      volumeIds: [VOLUME_A, VOLUME_B],
      serverId: 'web-01',
      full: false,
      outcome: 'fail',
    }),
    STOP_WAIT,
  );
  await start('bk-3-run', { volumeIds: [VOLUME_B], full: false, outcome: 'run' });

  const table = 'rbp-history';
  const documents = await createCatalogTable(local.clientConfig(), table);
  jobs = new DynamoDbJobStore(documents, table);
  const refuse = () => Promise.reject(new Error('not used'));
  const restores = new RestoreService({
    jobs,
    objects: { presignGet: refuse } as never,
    launcher: { launch: () => Promise.resolve() },
    clock: { now: () => new Date('2026-12-03T09:00:00.000Z') },
    keyToken: () => 'x',
  });
  const deps = {
    backups: new StateMachineBackupLauncher({
      executions: new SfnBackupExecutions(sfn, arn),
      locks: { acquire: refuse, release: refuse },
      volumes: { assertProtected: refuse },
      clock: { now: () => new Date() },
    }),
    restores,
    cursors: new CursorCodec(randomBytes(32)),
  } as unknown as ApiDeps;
  handler = createApiHandler(deps, () => undefined);
}, 180_000);

afterAll(() => {
  local.stack.gateway.unregisterFunction(FAILING_FUNCTION);
  sfn?.destroy();
});

describe('GET /backups', () => {
  it('lists running and past backups newest first with outcome, duration, bytes and the failed step', async () => {
    const answer = await get('/backups');
    expect(answer.status).toBe(200);
    const items = answer.body['items'] as Record<string, unknown>[];
    expect(items.map((b) => [b['backupId'], b['status']])).toEqual([
      ['bk-3-run', 'RUNNING'],
      ['bk-2-fail', 'FAILED'],
      ['bk-1-ok', 'SUCCEEDED'],
    ]);
    const [running, failed, succeeded] = items as [
      Record<string, unknown>,
      Record<string, unknown>,
      Record<string, unknown>,
    ];
    expect(running['durationSeconds']).toBeUndefined();
    expect(failed).toMatchObject({
      serverId: 'web-01',
      failedStep: 'Copy Ranges',
      error: 'BackupFailed',
      cause: 'the copy failed',
    });
    expect(failed['durationSeconds']).toEqual(expect.any(Number));
    expect(succeeded).toMatchObject({
      volumeId: VOLUME_A,
      imageId: 'img-x',
      full: true,
      bytesCopied: 10 * 524_288,
      bytesStored: 4321,
    });
    expect(succeeded['failedStep']).toBeUndefined();
    expect(answer.body['nextCursor']).toBeUndefined();
  }, 60_000);

  it('filters by status, server and volume, and pages with a cursor valid only for its query', async () => {
    const ids = async (query: Record<string, string>) =>
      ((await get('/backups', query)).body['items'] as { backupId: string }[]).map((b) => b.backupId);
    expect(await ids({ status: 'FAILED' })).toEqual(['bk-2-fail']);
    expect(await ids({ server: 'web-01' })).toEqual(['bk-2-fail']);
    expect(await ids({ volume: VOLUME_B })).toEqual(['bk-3-run', 'bk-2-fail']);

    const first = await get('/backups', { limit: '2' });
    expect((first.body['items'] as { backupId: string }[]).map((b) => b.backupId)).toEqual([
      'bk-3-run',
      'bk-2-fail',
    ]);
    const cursor = first.body['nextCursor'] as string;
    expect(cursor).toEqual(expect.any(String));
    const second = await get('/backups', { limit: '2', cursor });
    expect((second.body['items'] as { backupId: string }[]).map((b) => b.backupId)).toEqual(['bk-1-ok']);
    expect(second.body['nextCursor']).toBeUndefined();
    const wrong = await get('/backups', { status: 'FAILED', cursor });
    expect(wrong.status).toBe(400);

    expect((await get('/backups', { limit: '51' })).status).toBe(400);
    expect((await get('/backups', { status: 'DONE' })).status).toBe(400);
  }, 60_000);

  it('GET /backups/{id} of a failed backup names the step that failed', async () => {
    const answer = await get('/backups/bk-2-fail');
    expect(answer.body).toMatchObject({ status: 'FAILED', failedStep: 'Copy Ranges', error: 'BackupFailed' });
  }, 60_000);
});

describe('GET /restores', () => {
  it('lists restores newest first from the job store, by status, page by page', async () => {
    const at = (minute: number) => `2026-12-03T08:${String(minute).padStart(2, '0')}:00.000Z`;
    await jobs.create({
      version: 1,
      kind: FILE_RESTORE_JOB.kind,
      jobId: 'rs-1',
      status: 'SUCCEEDED',
      params: { volumeId: VOLUME_A, imageId: 'img-x', kind: 'file', path: '/etc/hosts', keyToken: 't' },
      result: { key: 'restores/rs-1/t/hosts', bytes: 321, contentType: 'application/octet-stream' },
      createdAt: at(1),
      updatedAt: at(3),
      expiresAtEpochSeconds: 1_900_000_000,
    });
    await jobs.create(
      VOLUME_RESTORE_JOB.toRecord({
        restoreId: 'rs-2',
        volumeId: VOLUME_A,
        imageId: 'img-x',
        status: 'failed',
        createdAt: at(5),
        updatedAt: at(6),
        failure: { reason: 'snapshot limit reached', errorName: 'ValidationError' },
      }),
    );
    await jobs.create(
      VOLUME_RESTORE_JOB.toRecord({
        restoreId: 'rs-3',
        volumeId: VOLUME_B,
        imageId: 'img-y',
        status: 'running',
        createdAt: at(9),
        updatedAt: at(9),
      }),
    );
    const all = await get('/restores');
    expect(all.status).toBe(200);
    const items = all.body['items'] as Record<string, unknown>[];
    expect(items.map((r) => [r['restoreId'], r['status'], r['kind']])).toEqual([
      ['rs-3', 'RUNNING', 'volume'],
      ['rs-2', 'FAILED', 'volume'],
      ['rs-1', 'SUCCEEDED', 'file'],
    ]);
    expect(items[1]).toMatchObject({ error: 'snapshot limit reached', durationSeconds: 60 });
    expect(items[2]).toMatchObject({ path: '/etc/hosts', sizeBytes: 321, durationSeconds: 120 });
    expect(items[2]!['downloadUrl']).toBeUndefined();

    const failed = await get('/restores', { status: 'FAILED' });
    expect((failed.body['items'] as { restoreId: string }[]).map((r) => r.restoreId)).toEqual(['rs-2']);

    const first = await get('/restores', { limit: '2' });
    expect((first.body['items'] as { restoreId: string }[]).map((r) => r.restoreId)).toEqual([
      'rs-3',
      'rs-2',
    ]);
    const second = await get('/restores', { limit: '2', cursor: first.body['nextCursor'] as string });
    expect((second.body['items'] as { restoreId: string }[]).map((r) => r.restoreId)).toEqual(['rs-1']);
  }, 60_000);
});
