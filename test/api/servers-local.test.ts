/**
 * On the local stack with the real state machine, handlers and API: a `rbp backup start --volume`
 * of a replica tagged rbp:source-server=web-01 files its recovery point under web-01, and the
 * operator sees it there: `rbp backup status --json` names the server (`serverId`), and
 * `rbp servers ls` shows the point under LAST RECOVERY POINT (`lastRecoveryPoint`,
 * `lastRecoveryPointId` with --json), while a server with no backup shows none. Once the
 * replica loses its `rbp:replica` tag, `rbp volumes ls` and `rbp servers ls` still list it and its
 * server, REPLICA GONE, from the protected-volume registry.
 */
import '../support/quiet-powertools.ts';
import { DeleteTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { beforeAll, describe, expect, it } from 'vitest';
import { useDeployedProduct, type ReplicaDisk } from '../support/local-product.ts';

const deployment = useDeployedProduct('servers-local');
const json = deployment.rbp.json;
let web: ReplicaDisk;
let idle: ReplicaDisk;

beforeAll(async () => {
  web = await deployment.makeReplica(
    'web',
    { 'etc/hostname': 'web-01\n' },
    { serverId: 'web-01', device: '/dev/xvda' },
  );
  idle = await deployment.makeReplica('idle', { 'etc/hostname': 'idle-01\n' }, { serverId: 'idle-01' });
}, 300_000);

interface BackupJson {
  readonly backupId: string;
  readonly status: string;
  readonly volumeId: string;
  readonly serverId?: string;
  readonly recoveryPointId?: string;
}

interface ServerJson {
  readonly name: string;
  readonly volumes: { volumeId: string }[];
  readonly lastRecoveryPoint?: string;
  readonly lastRecoveryPointId?: string;
}

describe('a --volume backup as the operator sees it', () => {
  it('names the server its point is filed under, and servers ls shows that point', async () => {
    const started = await json<BackupJson>(
      'backup',
      'start',
      '--volume',
      web.volumeId,
      '--wait',
      '--timeout',
      '600',
    );
    expect(started.status).toBe('SUCCEEDED');
    const status = await json<BackupJson>('backup', 'status', started.backupId);
    expect(status).toMatchObject({
      backupId: started.backupId,
      status: 'SUCCEEDED',
      volumeId: web.volumeId,
      serverId: 'web-01',
      recoveryPointId: `rp-${started.backupId}`,
    });

    const [point] = await json<{ recoveryPointId: string; createdAt: string }[]>(
      'recovery-points',
      'ls',
      '--server',
      'web-01',
    );
    expect(point?.recoveryPointId).toBe(`rp-${started.backupId}`);

    const servers = await json<ServerJson[]>('servers', 'ls');
    expect(
      servers.map((s) => [
        s.name,
        s.volumes.map((v) => v.volumeId),
        s.lastRecoveryPoint,
        s.lastRecoveryPointId,
      ]),
    ).toEqual([
      ['idle-01', [idle.volumeId], undefined, undefined],
      ['web-01', [web.volumeId], point!.createdAt, point!.recoveryPointId],
    ]);

    const table = await deployment.rbp('servers', 'ls');
    expect(table.stderr).toBe('');
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    const column = header!.indexOf('LAST RECOVERY POINT');
    expect(column).toBeGreaterThan(0);
    const cell = (line: string) => line.slice(column).split(/\s{2,}/)[0];
    expect(rows.map((line) => [line.split(/\s+/)[0], cell(line)])).toEqual([
      ['idle-01', '-'],
      ['web-01', point!.createdAt],
    ]);
  }, 900_000);

  it('a replica that leaves EC2 stays listed, REPLICA GONE, with its server and backups', async () => {
    // The replica loses its rbp:replica tag (as when DRS deletes it, EC2 no longer lists it as one).
    const ec2 = new EC2Client(deployment.local.clientConfig());
    await ec2.send(new DeleteTagsCommand({ Resources: [web.volumeId], Tags: [{ Key: 'rbp:replica' }] }));
    ec2.destroy();
    const volumes = await json<{ volumeId: string; serverId?: string; imageCount: number; state?: string }[]>(
      'volumes',
      'ls',
    );
    // One page: ordered by volume id, the gone volume among the others.
    expect(volumes.map((v) => [v.volumeId, v.serverId, v.imageCount, v.state])).toEqual(
      [
        [idle.volumeId, 'idle-01', 0, undefined],
        [web.volumeId, 'web-01', 1, 'REPLICA GONE'],
      ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    const servers = await json<(ServerJson & { state?: string; replication: string })[]>('servers', 'ls');
    expect(servers.map((s) => [s.name, s.volumes.map((v) => v.volumeId), s.replication, s.state])).toEqual([
      ['idle-01', [idle.volumeId], 'in-sync', undefined],
      ['web-01', [web.volumeId], 'disconnected', 'REPLICA GONE'],
    ]);
    expect(servers[1]?.lastRecoveryPointId).toMatch(/^rp-/);
    const table = await deployment.rbp('servers', 'ls');
    const [header, , gone] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/\s+PLANS\s+STATE$/);
    expect(gone).toMatch(/^web-01\s+disconnected\s.*\sREPLICA GONE$/);
  }, 300_000);
});
