/**
 * Server restores that make volumes (`rbp restore server --availability-zone`) on in-memory parts:
 * POST's checks before any job (zone EC2 knows, the type's smallest size), the volume jobs it
 * starts (the volume target in each job, the stack key), the Create Volume step (one CreateVolume
 * however often it runs, even where ClientToken is ignored; `creating` waits, `available`
 * finishes, `error` and a refused CreateVolume fail with the reason and keep the snapshot), and
 * GET /server-restores with the new volume ids.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Image } from '../../lambdas/core/api/schemas.ts';
import { PermanentError, ValidationError } from '../../lambdas/core/errors.ts';
import { GIB_BYTES } from '../../lambdas/core/geometry.ts';
import {
  RecoveryPointService,
  type ApiServices,
} from '../../lambdas/core/recovery-points/recovery-point-service.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import {
  createRestoredVolumeStep,
  provisionedIops,
  restoredVolumeClientToken,
  RESTORED_VOLUME_CREATE_TIMEOUT_MS,
} from '../../lambdas/core/restore/restored-volumes.ts';
import { volumeRestoreJobs, type VolumeRestoreJob } from '../../lambdas/core/restore/volume-restore-jobs.ts';
import { checkVolumeRestoreSnapshot } from '../../lambdas/core/restore/volume-restore-steps.ts';
import { FixedClock, MemoryExecutions, MemoryLocks, seededMemoryApi } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { MemoryAvailabilityZones, MemoryRestoredVolumes } from './memory-restored-volumes.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { answerOf, proxyEvent } from '../api/api-events.ts';

const KEY = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000001';
const SIZES_GIB: Record<string, number> = { 'vol-0a': 8, 'vol-0b': 64 };

const POINT: RecoveryPoint = {
  version: 1,
  recoveryPointId: 'rp-bk-1',
  serverId: 'web-01',
  backupId: 'bk-1',
  createdAt: '2026-03-01T00:00:00.000Z',
  images: ['vol-0a', 'vol-0b'].map((volumeId, n) => ({
    volumeId,
    device: `/dev/xvd${'ab'[n]!}`,
    imageId: `img-bk-1-${volumeId}`,
    snapshotId: `snap-bk-1-${n}`,
    kind: 'full' as const,
  })),
};

async function fixture(
  options: { readonly ignoreClientToken?: boolean; readonly withoutRestoredVolumes?: boolean } = {},
) {
  const clock = new FixedClock();
  const points = new MemoryRecoveryPointStore();
  await points.put(POINT);
  const jobs = new MemoryJobStore();
  const launched: string[] = [];
  const zones = new MemoryAvailabilityZones();
  const volumes = new MemoryRestoredVolumes(options);
  const snapshotOnly: string[] = [];
  const rp = new RecoveryPointService({
    points,
    replicas: { listReplicaVolumes: () => Promise.resolve([]) },
    executions: new MemoryExecutions(clock),
    locks: new MemoryLocks(clock),
    jobs,
    clock,
    ...(options.withoutRestoredVolumes === true
      ? {}
      : {
          restoredVolumes: {
            launcher: {
              launch: (event: { readonly restoreId: string }) => {
                launched.push(event.restoreId);
                return Promise.resolve();
              },
            },
            zones,
            kmsKeyArn: KEY,
          },
        }),
  });
  const api = {
    images: {
      getImage: (imageId: string) => {
        const volumeId = imageId.slice('img-bk-1-'.length);
        return Promise.resolve({
          imageId,
          volumeId,
          volumeSizeBytes: SIZES_GIB[volumeId]! * GIB_BYTES,
        } as Image);
      },
    },
    restores: {
      start: (restoreId: string) => {
        snapshotOnly.push(restoreId);
        return Promise.reject(new Error('not reached: volumes go straight to their jobs'));
      },
      get: () => Promise.reject(new Error('not reached')),
    },
    catalog: {},
  } as unknown as ApiServices;
  const volumeJobs = volumeRestoreJobs(jobs);
  /** Brings a volume job to "snapshot completed", as the state machine's earlier steps do. */
  const snapshotDone = async (restoreId: string, snapshotId: string) => {
    const job = await volumeJobs.get(restoreId);
    await volumeJobs.update({ ...job, status: 'running', snapshotId, written: true }, ['pending']);
  };
  const stepDeps = { jobs: volumeJobs, clock, volumes, retry: fastRetry() };
  return { rp, api, jobs, volumeJobs, launched, zones, volumes, snapshotOnly, clock, snapshotDone, stepDeps };
}

describe('POST /server-restores with availabilityZone', () => {
  it('starts one volume job per volume with the zone, type, size, device and the stack key', async () => {
    const f = await fixture();
    const started = await f.rp.startServerRestore(f.api, 'rs-1', 'rp-bk-1', {
      availabilityZone: 'us-east-1b',
      volumeType: 'io2',
    });
    expect(f.launched).toEqual(['rs-1-v0', 'rs-1-v1']);
    expect(f.snapshotOnly).toEqual([]);
    expect(f.zones.requests).toBe(1);
    const v0 = await f.volumeJobs.get('rs-1-v0');
    expect([v0.status, v0.kmsKeyArn, v0.volumeId, v0.imageId]).toEqual([
      'pending',
      KEY,
      'vol-0a',
      'img-bk-1-vol-0a',
    ]);
    expect(v0.volume).toEqual({
      availabilityZone: 'us-east-1b',
      volumeType: 'io2',
      sizeGib: 8,
      serverRestoreId: 'rs-1',
      serverId: 'web-01',
      device: '/dev/xvda',
    });
    expect((await f.volumeJobs.get('rs-1-v1')).volume?.sizeGib).toBe(64);
    expect(started).toMatchObject({
      restoreId: 'rs-1',
      status: 'PENDING',
      availabilityZone: 'us-east-1b',
      volumeType: 'io2',
    });
    expect(started.snapshots.map((s) => [s.device, s.availabilityZone, s.restoredVolumeId])).toEqual([
      ['/dev/xvda', 'us-east-1b', undefined],
      ['/dev/xvdb', 'us-east-1b', undefined],
    ]);
  });

  it.each([
    {
      why: 'a zone EC2 does not know',
      options: { availabilityZone: 'us-east-1z' },
      message:
        'availabilityZone us-east-1z is not an Availability Zone of this region (EC2 knows us-east-1a, us-east-1b, us-east-1c)',
    },
    {
      why: 'a type the volumes are too small for',
      options: { availabilityZone: 'us-east-1a', volumeType: 'st1' as const },
      message: 'volumeType st1 needs at least 125 GiB: /dev/xvda is 8 GiB',
    },
    {
      why: 'a deployment without restored volumes',
      withoutRestoredVolumes: true,
      options: { availabilityZone: 'us-east-1a' },
      message: 'restored volumes (availabilityZone) are not configured in this deployment',
    },
  ])('refuses $why with a 400 before any job', async ({ withoutRestoredVolumes, options, message }) => {
    const f = await fixture({ withoutRestoredVolumes: withoutRestoredVolumes === true });
    const error = await f.rp.startServerRestore(f.api, 'rs-1', 'rp-bk-1', options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(message);
    expect(f.jobs.jobs.size).toBe(0);
    expect(f.launched).toEqual([]);
  });
});

describe('Create Volume', () => {
  it('makes the volume once from the completed snapshot, waits while creating, and GET shows it', async () => {
    const f = await fixture({ ignoreClientToken: true });
    await f.rp.startServerRestore(f.api, 'rs-1', 'rp-bk-1', { availabilityZone: 'us-east-1a' });
    await f.snapshotDone('rs-1-v0', 'snap-0aa');
    expect(
      await checkVolumeRestoreSnapshot(
        {
          jobs: f.volumeJobs,
          snapshots: { describeSnapshot: () => Promise.resolve({ state: 'completed' }) },
        },
        'rs-1-v0',
      ),
    ).toEqual({ state: 'completed', createVolume: true });
    const first = await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0');
    expect(first).toEqual({ volumeId: 'vol-00000000000000000', state: 'creating' });
    // Retried, redriven, looped while creating: found by its tags, never made again.
    expect(await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0')).toEqual(first);
    f.volumes.settle('available');
    expect(await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0')).toEqual({
      volumeId: 'vol-00000000000000000',
      state: 'available',
    });
    expect([f.volumes.createRequests, f.volumes.describeRequests]).toEqual([1, 3]);
    expect(f.volumes.volumes[0]!.request).toEqual({
      snapshotId: 'snap-0aa',
      availabilityZone: 'us-east-1a',
      volumeType: 'gp3',
      sizeGib: 8,
      kmsKeyArn: KEY,
      clientToken: restoredVolumeClientToken('rs-1', '/dev/xvda'),
      tags: {
        'rbp:restore-id': 'rs-1',
        'rbp:source-server': 'web-01',
        'rbp:source-volume': 'vol-0a',
        'rbp:device': '/dev/xvda',
        Name: 'web-01 /dev/xvda (rbp restore rs-1)',
      },
    });
    const job = await f.volumeJobs.get('rs-1-v0');
    await f.volumeJobs.update({ ...job, status: 'succeeded' }, ['running']);
    f.api.restores.get = () => Promise.reject(new Error('not reached'));
    const shown = await f.rp.getServerRestore(f.api, 'rs-1');
    expect(shown.snapshots.map((s) => [s.device, s.status, s.snapshotId, s.restoredVolumeId])).toEqual([
      ['/dev/xvda', 'SUCCEEDED', 'snap-0aa', 'vol-00000000000000000'],
      ['/dev/xvdb', 'PENDING', undefined, undefined],
    ]);
    expect(shown.status).toBe('RUNNING');
  });

  it('passes the request’s volumeInitializationRate (MiB/s) from POST through the job to CreateVolume', async () => {
    const f = await fixture();
    const started = await f.rp.startServerRestore(f.api, 'rs-1', 'rp-bk-1', {
      availabilityZone: 'us-east-1a',
      volumeInitializationRate: 250,
    });
    expect(started).toMatchObject({
      availabilityZone: 'us-east-1a',
      volumeType: 'gp3',
      volumeInitializationRate: 250,
    });
    expect((await f.volumeJobs.get('rs-1-v1')).volume).toEqual({
      availabilityZone: 'us-east-1a',
      volumeType: 'gp3',
      volumeInitializationRate: 250,
      sizeGib: 64,
      serverRestoreId: 'rs-1',
      serverId: 'web-01',
      device: '/dev/xvdb',
    });
    await f.snapshotDone('rs-1-v1', 'snap-0bb');
    await createRestoredVolumeStep(f.stepDeps, 'rs-1-v1');
    expect(f.volumes.volumes.map((v) => [v.request.snapshotId, v.request.volumeInitializationRate])).toEqual([
      ['snap-0bb', 250],
    ]);
  });

  it('io1/io2 get provisioned IOPS within the type’s ratio', () => {
    expect([
      provisionedIops('io1', 4),
      provisionedIops('io1', 8),
      provisionedIops('io1', 1000),
      provisionedIops('io2', 4),
      provisionedIops('io2', 8),
      provisionedIops('gp3', 8),
    ]).toEqual([200, 400, 3000, 2000, 3000, undefined]);
  });

  it('fails with EC2’s reason and keeps the snapshot: a refused CreateVolume, a volume in error, one stuck creating', async () => {
    const f = await fixture();
    await f.rp.startServerRestore(f.api, 'rs-1', 'rp-bk-1', { availabilityZone: 'us-east-1a' });
    await f.snapshotDone('rs-1-v0', 'snap-0aa');
    await f.snapshotDone('rs-1-v1', 'snap-0bb');
    f.volumes.refuse = new ValidationError(
      'CreateVolume failed: VolumeLimitExceeded: You have exceeded your maximum gp3 storage limit',
    );
    const refused = await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermanentError);
    expect((refused as Error).message).toBe(
      'CreateVolume of /dev/xvda from snapshot snap-0aa in us-east-1a failed: CreateVolume failed: VolumeLimitExceeded: You have exceeded your maximum gp3 storage limit; the restored snapshot snap-0aa is kept',
    );
    f.volumes.refuse = undefined;
    await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0');
    f.volumes.settle('error');
    const broken = await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0').catch((e: unknown) => e);
    expect((broken as Error).message).toBe(
      'volume vol-00000000000000000 (/dev/xvda from snapshot snap-0aa in us-east-1a) is error; the restored snapshot snap-0aa is kept',
    );
    await createRestoredVolumeStep(f.stepDeps, 'rs-1-v1');
    f.clock.advance(RESTORED_VOLUME_CREATE_TIMEOUT_MS + 1);
    const stuck = await createRestoredVolumeStep(f.stepDeps, 'rs-1-v1').catch((e: unknown) => e);
    expect((stuck as Error).message).toBe(
      'volume vol-00000000000000001 (/dev/xvdb from snapshot snap-0bb in us-east-1a) is still creating after 30 minutes; the restored snapshot snap-0bb is kept',
    );
  });

  it('any number of runs and state changes make exactly one volume per device, always the same (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('run', 'settle'), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        async (events, ignoreClientToken) => {
          const f = await fixture({ ignoreClientToken });
          await f.rp.startServerRestore(f.api, 'rs-1', 'rp-bk-1', { availabilityZone: 'us-east-1c' });
          await f.snapshotDone('rs-1-v0', 'snap-0aa');
          const answers: string[] = [];
          for (const event of ['run', ...events]) {
            if (event === 'settle') f.volumes.settle('available');
            else answers.push((await createRestoredVolumeStep(f.stepDeps, 'rs-1-v0')).volumeId);
          }
          expect(f.volumes.createRequests).toBe(1);
          expect(new Set(answers)).toEqual(new Set(['vol-00000000000000000']));
          const job: VolumeRestoreJob = await f.volumeJobs.get('rs-1-v0');
          expect(job.restoredVolumeId).toBe('vol-00000000000000000');
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('POST /server-restores volumeInitializationRate', () => {
  const handler = createApiHandler(seededMemoryApi().deps, () => undefined);
  const post = async (body: Record<string, unknown>) =>
    answerOf(await handler(proxyEvent({ method: 'POST', path: '/server-restores', body })));
  const RANGE = 'must be between 100 and 300 MiB/s (EBS Provisioned Rate for Volume Initialization)';

  it.each([
    { rate: 99, message: `invalid request: body.volumeInitializationRate: ${RANGE}` },
    { rate: 301, message: `invalid request: body.volumeInitializationRate: ${RANGE}` },
    {
      rate: 150.5,
      message: 'invalid request: body.volumeInitializationRate: must be a whole number of MiB/s',
    },
  ])('refuses $rate MiB/s with a 400 saying the range', async ({ rate, message }) => {
    const answer = await post({
      recoveryPointId: 'rp-bk-1',
      availabilityZone: 'us-east-1a',
      volumeInitializationRate: rate,
    });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe(message);
  });

  it('refuses a rate without availabilityZone (snapshots only make no volume to initialise)', async () => {
    const answer = await post({ recoveryPointId: 'rp-bk-1', volumeInitializationRate: 200 });
    expect(answer.status).toBe(400);
    expect(answer.body.message).toBe(
      'invalid request: body.volumeInitializationRate: volumeInitializationRate needs availabilityZone: it is the rate of the volumes made in that zone',
    );
  });
});
