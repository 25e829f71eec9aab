/**
 * POST /backups with a serverId, the service behind it: every replica volume of the server in one
 * execution, the locks of all of them reserved for it in one step (409 naming the holder when one
 * is held, nothing started), 404 for a server without replica volumes.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { RecoveryPointService } from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import { FixedClock, MemoryExecutions, MemoryLocks } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryRecoveryPointStore } from './memory-recovery-point-store.ts';

const clock = new FixedClock();

function service() {
  const executions = new MemoryExecutions(clock);
  const locks = new MemoryLocks(clock);
  const replicas = {
    listReplicaVolumes: () =>
      Promise.resolve([
        { volumeId: 'vol-0b', serverId: 'web-01', device: '/dev/xvdb' },
        { volumeId: 'vol-0a', serverId: 'web-01', device: '/dev/xvda' },
        { volumeId: 'vol-0c', serverId: 'db-01', device: '/dev/xvda' },
      ]),
  };
  const points = new MemoryRecoveryPointStore();
  const rp = new RecoveryPointService({
    points,
    replicas,
    executions,
    locks,
    jobs: new MemoryJobStore(),
    clock,
  });
  return { rp, executions, locks };
}

describe('startServerBackup', () => {
  it('starts one execution for every volume of the server, holding all their locks', async () => {
    const { rp, executions, locks } = service();
    const backup = await rp.startServerBackup({
      backupId: 'bk-1',
      serverId: 'web-01',
      full: false,
      trigger: 'api:me',
    });
    expect(backup).toMatchObject({ backupId: 'bk-1', serverId: 'web-01', status: 'RUNNING' });
    expect(JSON.parse(executions.executions.get('bk-1')!.input!)).toEqual({
      serverId: 'web-01',
      volumeIds: ['vol-0a', 'vol-0b'],
      full: false,
      trigger: 'api:me',
    });
    expect([...locks.locks.keys()].sort()).toEqual(['vol-0a', 'vol-0b']);
    expect(locks.locks.get('vol-0a')?.ownerId).toBe(executions.executionIdOf('bk-1'));
  });

  it('refuses with 409 naming the running backup when one volume is locked, and starts nothing', async () => {
    const { rp, executions, locks } = service();
    await rp.startServerBackup({ backupId: 'bk-1', serverId: 'web-01', full: false, trigger: 'api:me' });
    const error = await rp
      .startServerBackup({ backupId: 'bk-2', serverId: 'web-01', full: false, trigger: 'api:me' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toBe(
      'a backup of server web-01 is already running (bk-1); wait for it to finish',
    );
    expect(executions.startCalls).toBe(1);
    expect(locks.locks.get('vol-0b')?.backupId).toBe('bk-1');
  });

  it('answers 404 for a server with no replica volumes', async () => {
    const { rp, executions } = service();
    const error = await rp
      .startServerBackup({ backupId: 'bk-1', serverId: 'web-99', full: false, trigger: 'api:me' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe('server web-99 has no replica volumes (tag rbp:source-server)');
    expect(executions.startCalls).toBe(0);
  });
});
