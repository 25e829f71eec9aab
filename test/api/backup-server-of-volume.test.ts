/**
 * A `--volume` backup of a volume tagged `rbp:source-server` files its recovery point under that
 * server: `GET /backups/{id}` and `GET /backups?server=` show that server once the backup
 * succeeded, from the committed point in the execution output (`$.recoveryPoint.result`), and
 * `GET /backups/{id}` shows it while the backup runs, from the volume's tag.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import {
  listBackups,
  StateMachineBackupLauncher,
  type BackupExecutions,
  type ExecutionDetail,
} from '../../lambdas/core/api/backup-launcher.ts';
import { RecordDirectories, type ReplicaVolume } from '../../lambdas/core/api/record-directories.ts';
import { MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { seededMemoryApi, VOLUME_A, VOLUME_B, type MemoryApi } from '../fakes/memory-api-ports.ts';
import { answerOf, proxyEvent, type Answer, type EventSpec } from './api-events.ts';

let api: MemoryApi;
let handler: ApiProxyHandler;
const call = async (spec: EventSpec): Promise<Answer> => answerOf(await handler(proxyEvent(spec)));

/** The execution output of a run that committed its point (the shape backup.asl.json leaves). */
function committedOutput(serverId: string, volumeId: string, imageId: string): string {
  return JSON.stringify({
    backup: { backupId: 'bk-0001', serverId: volumeId, recoveryPointServerId: serverId },
    recoveryPoint: {
      result: {
        recoveryPointId: 'rp-bk-0001',
        serverId,
        createdAt: '2026-11-20T12:00:00.000Z',
        images: [
          { volumeId, device: '/dev/xvda', imageId, snapshotId: 'snap-0123456789abcdef0', kind: 'full' },
        ],
        imageIds: [imageId],
      },
    },
  });
}

beforeEach(() => {
  api = seededMemoryApi();
  handler = createApiHandler(api.deps, () => undefined);
});

/** The API with the launcher over the product's RecordDirectories, which read the volumes' tags. */
function withReplicaTags(replicas: readonly ReplicaVolume[]): ApiProxyHandler {
  const directories = new RecordDirectories({
    replicas: { listReplicaVolumes: () => Promise.resolve(replicas) },
    records: new MemoryImageRecordStore(),
    cataloged: () => Promise.resolve(false),
  });
  const backups = new StateMachineBackupLauncher({
    executions: api.executions,
    locks: api.locks,
    volumes: directories,
    clock: api.clock,
  });
  return createApiHandler({ ...api.deps, backups }, () => undefined);
}

describe('GET /backups/{id} of a running --volume backup', () => {
  it('names the server of the volume’s rbp:source-server tag, the one its point will be filed under', async () => {
    handler = withReplicaTags([{ volumeId: VOLUME_A, serverId: 'web-01' }, { volumeId: VOLUME_B }]);
    expect((await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A } })).status).toBe(202);
    const running = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(running.body).toEqual({
      backupId: 'bk-0001',
      volumeId: VOLUME_A,
      serverId: 'web-01',
      full: false,
      status: 'RUNNING',
      startedAt: '2026-11-20T12:00:00.000Z',
      step: 'Acquire Lock',
    });
    expect(Object.keys(running.body).slice(0, 3)).toEqual(['backupId', 'volumeId', 'serverId']);
  });

  it('names the volume itself when it has no rbp:source-server tag, and none when it is no longer a replica volume', async () => {
    handler = withReplicaTags([{ volumeId: VOLUME_A, serverId: 'web-01' }, { volumeId: VOLUME_B }]);
    await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_B } });
    expect((await call({ method: 'GET', path: '/backups/bk-0001' })).body).toMatchObject({
      volumeId: VOLUME_B,
      serverId: VOLUME_B,
      status: 'RUNNING',
    });
    handler = withReplicaTags([]);
    const gone = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(gone.body).toMatchObject({ volumeId: VOLUME_B, status: 'RUNNING' });
    expect(gone.body).not.toHaveProperty('serverId');
  });
});

describe('GET /backups/{id} of a --volume backup', () => {
  it('names no server while it runs when the deployment cannot read the volume’s tag, and the server its point is filed under once it succeeded', async () => {
    const started = await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_A } });
    expect(started.status).toBe(202);
    const running = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(running.body).toEqual({
      backupId: 'bk-0001',
      volumeId: VOLUME_A,
      full: false,
      status: 'RUNNING',
      startedAt: '2026-11-20T12:00:00.000Z',
      step: 'Acquire Lock',
    });

    api.executions.finish('bk-0001', {
      status: 'SUCCEEDED',
      stoppedAt: '2026-11-20T12:01:00.000Z',
      currentStep: 'Backup Succeeded',
      output: committedOutput('web-01', VOLUME_A, 'img-9'),
    });
    const done = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(done.body).toEqual({
      backupId: 'bk-0001',
      volumeId: VOLUME_A,
      serverId: 'web-01',
      recoveryPointId: 'rp-bk-0001',
      images: [{ volumeId: VOLUME_A, device: '/dev/xvda', imageId: 'img-9' }],
      full: true,
      status: 'SUCCEEDED',
      startedAt: '2026-11-20T12:00:00.000Z',
      stoppedAt: '2026-11-20T12:01:00.000Z',
      step: 'Backup Succeeded',
      imageId: 'img-9',
      durationSeconds: 60,
    });
  });

  it('shows the volume as its server when the volume has no rbp:source-server tag (the point is filed under the volume)', async () => {
    await call({ method: 'POST', path: '/backups', body: { volumeId: VOLUME_B } });
    api.executions.finish('bk-0001', {
      status: 'SUCCEEDED',
      output: committedOutput(VOLUME_B, VOLUME_B, 'img-7'),
    });
    const untagged = await call({ method: 'GET', path: '/backups/bk-0001' });
    expect(untagged.body).toMatchObject({
      volumeId: VOLUME_B,
      serverId: VOLUME_B,
      recoveryPointId: 'rp-bk-0001',
    });
  });
});

describe('GET /backups?server=', () => {
  it('lists a succeeded --volume backup under the server its point is filed under', async () => {
    const details: ExecutionDetail[] = [
      {
        name: 'bk-other',
        status: 'SUCCEEDED',
        startedAt: '2026-11-20T11:30:00.000Z',
        input: JSON.stringify({ volumeIds: [VOLUME_B], full: false, trigger: 'api:t' }),
        output: committedOutput('db-01', VOLUME_B, 'img-8'),
      },
      {
        name: 'bk-vol',
        status: 'SUCCEEDED',
        startedAt: '2026-11-20T11:00:00.000Z',
        input: JSON.stringify({ volumeIds: [VOLUME_A], full: false, trigger: 'api:t' }),
        output: committedOutput('web-01', VOLUME_A, 'img-9'),
      },
    ];
    const executions: BackupExecutions = Object.assign(api.executions, {
      list: () => Promise.resolve({ items: details }),
    });
    const listed = await listBackups(executions, { serverId: 'web-01', limit: 50 });
    expect(listed.items.map((b) => [b.backupId, b.serverId, b.volumeId])).toEqual([
      ['bk-vol', 'web-01', VOLUME_A],
    ]);
  });
});
