/**
 * What `rbp restore server` prints: `--json` keeps exactly {restoreId, status, snapshots:
 * [{device, volumeId, imageId, snapshotId}]} without --availability-zone and adds
 * restoredVolumeId and availabilityZone to each entry only with it; the human output lists each
 * device with its new volume (and the initialisation rate when one was asked).
 * `--initialization-rate MIBPS` is sent as `volumeInitializationRate`, only with
 * --availability-zone, and only as a whole number.
 */
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { describeServerRestore, serverRestoreJson } from '../../cli/commands/recovery-points.ts';
import type { ServerRestore } from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import { noRoute, useApiStandIn, type StandInRequest } from '../support/cli.ts';

const SNAPSHOTS_ONLY: ServerRestore = {
  restoreId: 'rs-1',
  recoveryPointId: 'rp-bk-1',
  serverId: 'web-01',
  status: 'RUNNING',
  createdAt: '2026-03-01T00:00:00.000Z',
  snapshots: [
    {
      device: '/dev/xvda',
      volumeId: 'vol-0a',
      imageId: 'img-bk-1-vol-0a',
      snapshotId: 'snap-0a',
      restoreId: 'rs-1-v0',
      status: 'SUCCEEDED',
    },
    {
      device: '/dev/xvdb',
      volumeId: 'vol-0b',
      imageId: 'img-bk-1-vol-0b',
      restoreId: 'rs-1-v1',
      status: 'RUNNING',
    },
  ],
};
const INTO_VOLUMES: ServerRestore = {
  ...SNAPSHOTS_ONLY,
  availabilityZone: 'us-east-1b',
  volumeType: 'gp3',
  snapshots: [
    { ...SNAPSHOTS_ONLY.snapshots[0]!, restoredVolumeId: 'vol-new0', availabilityZone: 'us-east-1b' },
    { ...SNAPSHOTS_ONLY.snapshots[1]!, availabilityZone: 'us-east-1b' },
  ],
};

describe('rbp restore server output', () => {
  it('--json is unchanged without volumes and adds restoredVolumeId and availabilityZone with them', () => {
    expect(serverRestoreJson(SNAPSHOTS_ONLY)).toEqual({
      restoreId: 'rs-1',
      status: 'RUNNING',
      snapshots: [
        { device: '/dev/xvda', volumeId: 'vol-0a', imageId: 'img-bk-1-vol-0a', snapshotId: 'snap-0a' },
        { device: '/dev/xvdb', volumeId: 'vol-0b', imageId: 'img-bk-1-vol-0b', snapshotId: null },
      ],
    });
    expect(serverRestoreJson(INTO_VOLUMES)).toEqual({
      restoreId: 'rs-1',
      status: 'RUNNING',
      snapshots: [
        {
          device: '/dev/xvda',
          volumeId: 'vol-0a',
          imageId: 'img-bk-1-vol-0a',
          snapshotId: 'snap-0a',
          restoredVolumeId: 'vol-new0',
          availabilityZone: 'us-east-1b',
        },
        {
          device: '/dev/xvdb',
          volumeId: 'vol-0b',
          imageId: 'img-bk-1-vol-0b',
          snapshotId: null,
          restoredVolumeId: null,
          availabilityZone: 'us-east-1b',
        },
      ],
    });
  });

  it('lists each device with its new volume', () => {
    expect(describeServerRestore(SNAPSHOTS_ONLY).split('\n')).toEqual([
      'restore rs-1: RUNNING',
      '  recovery point rp-bk-1 of web-01',
      '  /dev/xvda   vol-0a  SUCCEEDED snap-0a',
      '  /dev/xvdb   vol-0b  RUNNING   ',
    ]);
    expect(describeServerRestore(INTO_VOLUMES).split('\n')).toEqual([
      'restore rs-1: RUNNING',
      '  recovery point rp-bk-1 of web-01',
      '  new gp3 volumes in us-east-1b:',
      '  /dev/xvda   vol-0a  SUCCEEDED snap-0a -> vol-new0',
      '  /dev/xvdb   vol-0b  RUNNING    -> (not yet)',
    ]);
  });
});

const posted: StandInRequest[] = [];
const api = useApiStandIn((request) => {
  if (request.method === 'POST' && request.url === '/api/server-restores') {
    posted.push(request);
    return { status: 202, json: { restoreId: 'rs-1', status: 'PENDING' } };
  }
  if (request.method === 'GET' && request.url === '/api/server-restores/rs-1') {
    return { status: 200, json: { ...INTO_VOLUMES, volumeInitializationRate: 300 } };
  }
  return noRoute(request);
});

/** `rbp restore server --recovery-point rp-bk-1` with `options`, against the stand-in above. */
const restoreServer = (...options: string[]) =>
  api.rbp(['restore', 'server', '--recovery-point', 'rp-bk-1', ...options]);

describe('rbp restore server --initialization-rate', () => {
  it('sends volumeInitializationRate with the zone and shows the rate', async () => {
    posted.length = 0;
    const run = await restoreServer('--availability-zone', 'us-east-1b', '--initialization-rate', '300');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(posted.map((r) => JSON.parse(r.body) as unknown)).toEqual([
      { recoveryPointId: 'rp-bk-1', availabilityZone: 'us-east-1b', volumeInitializationRate: 300 },
    ]);
    expect(run.stdout.split('\n')[2]).toBe('  new gp3 volumes in us-east-1b, initialised at 300 MiB/s:');
  });

  it('is a usage error without --availability-zone, or when not a whole number; nothing is sent', async () => {
    posted.length = 0;
    const alone = await restoreServer('--initialization-rate', '200');
    expect(alone.code).toBe(EXIT.USAGE);
    expect(alone.stderr).toContain(
      '--initialization-rate needs --availability-zone: it is the rate of the volumes made in that zone',
    );
    const fraction = await restoreServer(
      '--availability-zone',
      'us-east-1b',
      '--initialization-rate',
      '150.5',
    );
    expect(fraction.code).toBe(EXIT.USAGE);
    expect(fraction.stderr).toContain(
      "error: option '--initialization-rate <mibps>' argument '150.5' is invalid. not a whole number of MiB/s",
    );
    expect(posted).toEqual([]);
  });
});
