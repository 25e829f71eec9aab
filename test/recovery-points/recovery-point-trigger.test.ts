/**
 * Commit Recovery Point stores the run's trigger (`$.backup.trigger`) on the point, which a plan's
 * expiry goes by (retention-apply.ts). A point the same run wrote before points recorded their
 * trigger (a redrive across an upgrade) is the same point: the re-commit succeeds and leaves it as
 * stored. A stored record without a trigger reads as before.
 */
import { describe, expect, it } from 'vitest';
import type { BackupContext } from '../../lambdas/core/orchestration/backup-request.ts';
import {
  commitRecoveryPointStep,
  readRecoveryPoint,
  type RecoveryPoint,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryRecoveryPointStore, recordsLiveness } from './memory-recovery-point-store.ts';
import { testBackupContext } from '../support/backup-context.ts';

const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

function backup(trigger: string): BackupContext {
  const context = testBackupContext({
    backupId: 'pr-1-t0',
    ownerId: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:pr-1-t0',
    serverId: 'web-01',
    volumeIds: ['vol-0a'],
    startedAt: '2026-05-01T02:00:00.000Z',
  });
  return { ...context, trigger };
}

async function setUp() {
  const records = new MemoryImageRecordStore();
  await records.putImageRecord({
    ...fullImageRecord('vol-0a', 'img-pr-1-t0-vol-0a', '2026-05-01T02:00:01.000Z'),
    snapshotId: 'snap-0a',
  });
  const points = new MemoryRecoveryPointStore();
  const deps = {
    records,
    points,
    devices: { devicesOf: () => Promise.resolve(new Map([['vol-0a', '/dev/xvda']])) },
    liveness: recordsLiveness(records),
  };
  return { points, deps };
}

const volumes = [
  {
    volumeId: 'vol-0a',
    imageId: 'img-pr-1-t0-vol-0a',
    kind: 'full' as const,
    createdAt: '2026-05-01T02:00:01.000Z',
  },
];

const EXPECTED: RecoveryPoint = {
  version: 1,
  recoveryPointId: 'rp-pr-1-t0',
  serverId: 'web-01',
  backupId: 'pr-1-t0',
  createdAt: '2026-05-01T02:00:01.000Z',
  images: [
    {
      volumeId: 'vol-0a',
      device: '/dev/xvda',
      imageId: 'img-pr-1-t0-vol-0a',
      snapshotId: 'snap-0a',
      kind: 'full',
    },
  ],
  trigger: 'plan:nightly',
};

describe('the trigger of a recovery point', () => {
  it('Commit Recovery Point stores the run’s trigger on the point', async () => {
    const { points, deps } = await setUp();
    await commitRecoveryPointStep(deps, { backup: backup('plan:nightly'), volumes }, log);
    expect(await points.get('rp-pr-1-t0')).toEqual(EXPECTED);
  });

  it('a re-commit over the same point written without a trigger succeeds and leaves it as stored', async () => {
    const { points, deps } = await setUp();
    const { trigger: _trigger, ...untriggered } = EXPECTED;
    points.points.set('rp-pr-1-t0', structuredClone(untriggered));
    const answer = await commitRecoveryPointStep(deps, { backup: backup('plan:nightly'), volumes }, log);
    expect(answer.imageIds).toEqual(['img-pr-1-t0-vol-0a']);
    expect(await points.get('rp-pr-1-t0')).toEqual(untriggered);
    // Another point under the same id is still a conflict.
    points.points.set('rp-pr-1-t0', { ...untriggered, serverId: 'db-01' });
    const error = await commitRecoveryPointStep(deps, { backup: backup('plan:nightly'), volumes }, log).catch(
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe('recovery point rp-pr-1-t0 already has a different record');
  });

  it('reads a stored record without a trigger as before, and one with a trigger with it', () => {
    const { trigger: _trigger, ...old } = EXPECTED;
    expect(readRecoveryPoint('rp-pr-1-t0', JSON.parse(JSON.stringify(old)))).toEqual(old);
    expect(readRecoveryPoint('rp-pr-1-t0', JSON.parse(JSON.stringify(EXPECTED)))).toEqual(EXPECTED);
  });
});
