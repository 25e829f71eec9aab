/**
 * Which server a run's recovery point is filed under (normaliseBackupRequest, serverOfRun): the
 * request's serverId, else a selector by rbp:source-server, else the volumes' rbp:source-server
 * tag, and the first volume's id only for volumes without the tag. A `--volume V` backup of a
 * tagged volume therefore joins its server's recovery points. The run's own server (locks,
 * outcome, the RPO metric) stays the request's serverId, else the selector's, else the volume id:
 * a `--volume` backup of one of S's volumes is not counted as a backup of S.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { silentLog } from '../../lambdas/core/ports.ts';
import { commitRecoveryPointStep } from '../../lambdas/core/recovery-points/recovery-points.ts';
import {
  commitRecoveryPointInputSchema,
  committedRecoveryPointSchema,
} from '../../lambdas/core/orchestration/step-state.ts';
import { createPublishOutcomeHandler } from '../../lambdas/handlers/publish-outcome.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryRecoveryPointStore, recordsLiveness } from './memory-recovery-point-store.ts';
import {
  normaliseBackupRequest,
  volumeServerTagsFrom,
  type BackupContext,
  type VolumeServerTags,
} from '../../lambdas/core/orchestration/backup-request.ts';

const execution = {
  id: 'arn:aws:states:eu-west-1:123456789012:execution:backup:bk-1',
  name: 'bk-1',
  startTime: '2026-12-03T10:00:00.000Z',
};
const noVolumes = () => Promise.resolve([]);

/** Tags of three volumes (vol-c has none, vol-e an empty server tag), counting DescribeVolumes calls. */
function tagReader() {
  const calls: string[][] = [];
  const tags: Record<string, Record<string, string>> = {
    'vol-a': { 'rbp:source-server': 'web-01', 'rbp:source-device': '/dev/xvda' },
    'vol-b': { 'rbp:source-server': 'web-01', 'rbp:source-device': '/dev/xvdb' },
    'vol-c': { Name: 'scratch' },
    'vol-d': { 'rbp:source-server': 'db-01' },
    'vol-e': { 'rbp:source-server': '' },
  };
  const serverTags: VolumeServerTags = volumeServerTagsFrom((ids) => {
    calls.push([...ids]);
    return Promise.resolve(ids.map((volumeId) => ({ volumeId, tags: tags[volumeId] ?? {} })));
  });
  return { calls, serverTags };
}

/** The server the run's recovery point is filed under, and the DescribeVolumes calls made. */
async function serverOf(request: object): Promise<{ serverId: string; calls: string[][] }> {
  const { calls, serverTags } = tagReader();
  const backup = await normaliseBackupRequest(request, execution, noVolumes, serverTags);
  return { serverId: backup.recoveryPointServerId ?? backup.serverId, calls };
}

describe('the server of a backup run', () => {
  it('is the rbp:source-server tag of a --volume backup’s volume, read with one DescribeVolumes', async () => {
    expect(await serverOf({ volumeIds: ['vol-a'] })).toEqual({ serverId: 'web-01', calls: [['vol-a']] });
    expect((await serverOf({ volumeIds: ['vol-b', 'vol-a'] })).serverId).toBe('web-01');
  });

  it('is the volume id only for a volume without the tag (or with an empty one)', async () => {
    expect(await serverOf({ volumeIds: ['vol-c'] })).toEqual({ serverId: 'vol-c', calls: [['vol-c']] });
    expect((await serverOf({ volumeIds: ['vol-e'] })).serverId).toBe('vol-e');
  });

  it('is the request’s serverId or a server selector’s value, without reading tags', async () => {
    expect(await serverOf({ volumeIds: ['vol-a'], serverId: 'other' })).toEqual({
      serverId: 'other',
      calls: [],
    });
    const { calls, serverTags } = tagReader();
    const selected = await normaliseBackupRequest(
      { volumeSelector: { tagKey: 'rbp:source-server', tagValue: 'web-01' } },
      execution,
      () => Promise.resolve(['vol-a', 'vol-b']),
      serverTags,
    );
    expect([selected.serverId, calls]).toEqual(['web-01', []]);
  });

  it('refuses a tagged volume beside an untagged one (a server of its own), like different servers', async () => {
    const { calls, serverTags } = tagReader();
    const error = await normaliseBackupRequest(
      { volumeIds: ['vol-c', 'vol-a'] },
      execution,
      noVolumes,
      serverTags,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'invalid backup request: volumes vol-c (untagged), vol-a (web-01) belong to different servers by their rbp:source-server tags; give serverId',
    );
    expect(calls).toEqual([['vol-c', 'vol-a']]);
    // An empty tag is no tag: refused the same way.
    await expect(serverOf({ volumeIds: ['vol-a', 'vol-e'] })).rejects.toThrow(
      'invalid backup request: volumes vol-a (web-01), vol-e (untagged) belong to different servers',
    );
    // With serverId the set is the request's server, and no tag is read.
    expect((await serverOf({ volumeIds: ['vol-c', 'vol-a'], serverId: 'web-01' })).calls).toEqual([]);
  });

  it('refuses volumes that belong to different servers, naming each volume’s server', async () => {
    const error = await serverOf({ volumeIds: ['vol-a', 'vol-c', 'vol-d'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'invalid backup request: volumes vol-a (web-01), vol-c (untagged), vol-d (db-01) belong to different servers by their rbp:source-server tags; give serverId',
    );
  });

  it('without a tag reader, is the first volume’s id (as before tags were read)', async () => {
    const backup = await normaliseBackupRequest({ volumeIds: ['vol-a'] }, execution, noVolumes);
    expect(backup.serverId).toBe('vol-a');
  });
});

/** Commit Recovery Point of a run whose one volume vol-a committed image img-bk-1. */
async function commitVolumeA(backup: BackupContext, points: MemoryRecoveryPointStore) {
  const records = new MemoryImageRecordStore();
  await records.putImageRecord(fullImageRecord('vol-a', 'img-bk-1', '2026-12-03T10:00:01.000Z'));
  return commitRecoveryPointStep(
    {
      records,
      points,
      devices: { devicesOf: () => Promise.resolve(new Map()) },
      liveness: recordsLiveness(records),
    },
    commitRecoveryPointInputSchema.parse({
      backup,
      volumes: [
        { volumeId: 'vol-a', imageId: 'img-bk-1', kind: 'full', createdAt: '2026-12-03T10:00:01.000Z' },
      ],
    }),
    silentLog,
  );
}

describe('Commit Recovery Point racing a deletion', () => {
  it('answers the point as stored: a point whose only image a deletion took meanwhile is removed, and named nowhere', async () => {
    const backup = await normaliseBackupRequest({ volumeIds: ['vol-a'] }, execution, noVolumes);
    const points = new MemoryRecoveryPointStore();
    // The deletion looked for the image's point before the commit wrote it: only its mark is left.
    await points.detachImage({ volumeId: 'vol-a', imageId: 'img-bk-1' });
    const committed = await commitVolumeA(backup, points);
    expect(committedRecoveryPointSchema.parse(committed)).toEqual({
      recoveryPointId: 'rp-bk-1',
      serverId: 'vol-a',
      createdAt: '2026-12-03T10:00:01.000Z',
      images: [],
      imageIds: [],
      removed: true,
    });
    expect(points.points.size).toBe(0);
  });
});

describe('a --volume backup of a tagged volume', () => {
  it('keeps the run’s own server (the volume id) and carries the server its point is filed under', async () => {
    const { serverTags } = tagReader();
    const backup = await normaliseBackupRequest({ volumeIds: ['vol-a'] }, execution, noVolumes, serverTags);
    expect([backup.serverId, backup.recoveryPointServerId]).toEqual(['vol-a', 'web-01']);
    // Where both are the same, the step state carries no second field.
    const whole = await normaliseBackupRequest(
      { serverId: 'web-01', volumeIds: ['vol-a', 'vol-b'] },
      execution,
      noVolumes,
      serverTags,
    );
    expect(whole).not.toHaveProperty('recoveryPointServerId');
    const untagged = await normaliseBackupRequest({ volumeIds: ['vol-c'] }, execution, noVolumes, serverTags);
    expect(untagged).not.toHaveProperty('recoveryPointServerId');
  });

  it('files its point under the server but counts its success (RPO metric, outcome) for the volume only', async () => {
    const { serverTags } = tagReader();
    const backup = await normaliseBackupRequest({ volumeIds: ['vol-a'] }, execution, noVolumes, serverTags);
    const points = new MemoryRecoveryPointStore();
    const committed = await commitVolumeA(backup, points);
    expect(committed.serverId).toBe('web-01');
    expect((await points.listByServer('web-01')).map((p) => p.recoveryPointId)).toEqual(['rp-bk-1']);
    expect(await points.listByServer('vol-a')).toEqual([]);

    const counted: string[] = [];
    const published: { detailType: string; serverId: unknown }[] = [];
    const handler = createPublishOutcomeHandler({
      events: {
        publish: (detailType, detail) => {
          published.push({ detailType, serverId: (detail as { serverId?: unknown }).serverId });
          return Promise.resolve();
        },
      },
      notifier: { notify: () => Promise.resolve() },
      clock: { now: () => new Date('2026-12-03T10:05:00.000Z') },
      countSuccess: (serverId) => counted.push(serverId),
    });
    await handler({ status: 'SUCCEEDED', backup, imageIds: committed.imageIds });
    expect(counted).toEqual(['vol-a']);
    expect(published).toEqual([{ detailType: 'Backup Succeeded', serverId: 'vol-a' }]);
  });
});
