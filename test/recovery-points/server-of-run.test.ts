/**
 * Which server a run's recovery point is filed under (normaliseBackupRequest, serverOfRun): the
 * request's serverId, else a selector by rbp:source-server, else the volumes' rbp:source-server
 * tag, and the first volume's id only for volumes without the tag. A `--volume V` backup of a
 * tagged volume therefore joins its server's recovery points.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import {
  normaliseBackupRequest,
  volumeServerTagsFrom,
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

async function serverOf(request: object): Promise<{ serverId: string; calls: string[][] }> {
  const { calls, serverTags } = tagReader();
  const backup = await normaliseBackupRequest(request, execution, noVolumes, serverTags);
  return { serverId: backup.serverId, calls };
}

describe('the server of a backup run', () => {
  it('is the rbp:source-server tag of a --volume backup’s volume, read with one DescribeVolumes', async () => {
    expect(await serverOf({ volumeIds: ['vol-a'] })).toEqual({ serverId: 'web-01', calls: [['vol-a']] });
    expect((await serverOf({ volumeIds: ['vol-b', 'vol-a'] })).serverId).toBe('web-01');
  });

  it('is the volume id only for a volume without the tag (or with an empty one)', async () => {
    expect(await serverOf({ volumeIds: ['vol-c'] })).toEqual({ serverId: 'vol-c', calls: [['vol-c']] });
    expect((await serverOf({ volumeIds: ['vol-e'] })).serverId).toBe('vol-e');
    // Untagged volumes beside tagged ones of one server: the server.
    expect((await serverOf({ volumeIds: ['vol-c', 'vol-a'] })).serverId).toBe('web-01');
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
