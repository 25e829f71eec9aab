/**
 * `rbp recovery-points ls --server S`: one row per recovery point, newest first as the API pages
 * them, with who started the run (TRIGGER: `plan:<plan>` points are the ones a plan's expiry may
 * delete; `-` for points written before the trigger was recorded).
 */
import { describe, expect, it } from 'vitest';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const image = (device: string, n: number) => ({
  volumeId: `vol-0000000000000000${n}`,
  device,
  imageId: `img-bk-${n}`,
  snapshotId: `snap-${n}`,
  kind: 'incremental',
});

const POINTS = [
  {
    version: 1,
    recoveryPointId: 'rp-bk-2',
    serverId: 'web01',
    backupId: 'bk-2',
    createdAt: '2026-12-04T02:00:00.000Z',
    images: [image('/dev/xvda', 1), image('/dev/xvdb', 2)],
    trigger: 'plan:nightly',
  },
  {
    version: 1,
    recoveryPointId: 'rp-bk-1',
    serverId: 'web01',
    backupId: 'bk-1',
    createdAt: '2026-12-03T02:00:00.000Z',
    images: [image('/dev/xvda', 1)],
  },
];

const seen: string[] = [];
const api = useApiStandIn((request) => {
  seen.push(`${request.method} ${request.url}`);
  if (request.method === 'GET' && request.url.startsWith('/api/servers/web01/recovery-points')) {
    return { status: 200, json: { items: POINTS } };
  }
  return noRoute(request);
});

describe('rbp recovery-points ls', () => {
  it('shows each point with its trigger, - when the point has none', async () => {
    const result = await api.rbp(['recovery-points', 'ls', '--server', 'web01']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(seen).toHaveLength(1);
    const rows = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s{2,}/).filter((c) => c !== ''));
    expect(rows).toEqual([
      ['RECOVERY POINT', 'CREATED', 'TRIGGER', 'VOLUMES', 'DEVICES'],
      ['rp-bk-2', '2026-12-04T02:00:00.000Z', 'plan:nightly', '2', '/dev/xvda /dev/xvdb'],
      ['rp-bk-1', '2026-12-03T02:00:00.000Z', '-', '1', '/dev/xvda'],
    ]);
  });
});
