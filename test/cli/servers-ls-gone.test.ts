/**
 * `rbp servers ls` with a server whose replica volumes EC2 no longer has: a last column STATE
 * (REPLICA GONE, `-` for the others) only then; the usual table otherwise.
 */
import { describe, expect, it } from 'vitest';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const LIVE = {
  name: 'WEB-01',
  replication: 'in-sync',
  lagSeconds: 0,
  volumes: [{ volumeId: 'vol-1' }],
  applications: [],
  hasPrimary: false,
  plans: ['nightly'],
};
const GONE = {
  name: 'DB-01',
  replication: 'disconnected',
  volumes: [{ volumeId: 'vol-8' }, { volumeId: 'vol-9' }],
  applications: [],
  hasPrimary: false,
  state: 'REPLICA GONE',
  lastRecoveryPoint: '2026-02-01T00:00:00.000Z',
  lastRecoveryPointId: 'rp-bk-9',
  plans: [],
};

let items: unknown[] = [];
const api = useApiStandIn((request) =>
  request.method === 'GET' && request.url.startsWith('/api/servers')
    ? { status: 200, json: { items } }
    : noRoute(request),
);

describe('rbp servers ls and gone replicas', () => {
  it('adds STATE last when a server is gone', async () => {
    items = [GONE, LIVE];
    const run = await api.rbp(['servers', 'ls']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout.split('\n')).toEqual([
      'SERVER  REPLICATION   LAG S  VOLUMES       PRIMARY  LAST RECOVERY POINT       RPO (TARGET)  PLANS    STATE',
      'DB-01   disconnected      -  vol-8, vol-9  no       2026-02-01T00:00:00.000Z  -                      REPLICA GONE',
      'WEB-01  in-sync           0  vol-1         no       -                         -             nightly  -',
      '',
    ]);
  });

  it('prints the usual columns when every server has its replicas', async () => {
    items = [LIVE];
    const run = await api.rbp(['servers', 'ls']);
    expect(run.stdout.split('\n')[0]).toBe(
      'SERVER  REPLICATION  LAG S  VOLUMES  PRIMARY  LAST RECOVERY POINT  RPO (TARGET)  PLANS',
    );
  });
});
