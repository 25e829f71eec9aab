/**
 * `rbp volumes ls` with a protected volume whose replica EC2 no longer has: the table gains a last
 * column STATE (REPLICA GONE, `-` for the others) only then, and is byte for byte the old table
 * otherwise; --json passes the API's items through (`state` only on the gone volume).
 */
import { describe, expect, it } from 'vitest';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const PRESENT = {
  volumeId: 'vol-0123456789abcdef0',
  serverId: 'web-01',
  device: '/dev/xvda',
  sizeGib: 8,
  imageCount: 2,
  latestImageId: 'img-b',
  latestImageAt: '2026-03-02T00:00:00.000Z',
};
const GONE = {
  volumeId: 'vol-0fedcba9876543210',
  serverId: 'db-01',
  imageCount: 1,
  latestImageId: 'img-g',
  latestImageAt: '2026-02-01T00:00:00.000Z',
  state: 'REPLICA GONE',
};

let items: unknown[] = [];
const api = useApiStandIn((request) =>
  request.method === 'GET' && request.url.startsWith('/api/volumes')
    ? { status: 200, json: { items } }
    : noRoute(request),
);

describe('rbp volumes ls and gone replicas', () => {
  it('adds STATE last, REPLICA GONE on the gone volume, when one is gone', async () => {
    items = [PRESENT, GONE];
    const run = await api.rbp(['volumes', 'ls']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toBe(
      [
        'VOLUME                 SERVER  DEVICE     SIZE GIB  IMAGES  LATEST IMAGE  LATEST AT                 STATE',
        'vol-0123456789abcdef0  web-01  /dev/xvda         8       2  img-b         2026-03-02T00:00:00.000Z  -',
        'vol-0fedcba9876543210  db-01   -                 -       1  img-g         2026-02-01T00:00:00.000Z  REPLICA GONE',
        '',
      ].join('\n'),
    );
    const json = await api.rbp(['volumes', 'ls', '--json']);
    expect(JSON.parse(json.stdout)).toEqual([PRESENT, GONE]);
  });

  it('prints the table it always did when every replica exists', async () => {
    items = [PRESENT];
    const run = await api.rbp(['volumes', 'ls']);
    expect(run.stdout).toBe(
      [
        'VOLUME                 SERVER  DEVICE     SIZE GIB  IMAGES  LATEST IMAGE  LATEST AT',
        'vol-0123456789abcdef0  web-01  /dev/xvda         8       2  img-b         2026-03-02T00:00:00.000Z',
        '',
      ].join('\n'),
    );
  });
});
