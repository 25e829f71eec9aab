/**
 * Committing a recovery point: written only when every volume's image is committed, with each
 * volume's device; a partial failure keeps the images that did commit (as single-volume images)
 * and writes no recovery point; re-running the commit is a no-op.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, ThrottledError, ValidationError } from '../../lambdas/core/errors.ts';
import type { ImageRecord } from '../../lambdas/core/image/image-records.ts';
import {
  assignDevices,
  commitRecoveryPoint,
  volumeDevicesFromTags,
  type VolumeDevices,
} from '../../lambdas/core/recovery-points/recovery-points.ts';
import { fullImageRecord, MemoryImageRecordStore } from '../fakes/memory-image-records.ts';
import { MemoryRecoveryPointStore, recordsLiveness } from './memory-recovery-point-store.ts';

function image(volumeId: string, imageId: string, createdAt: string): ImageRecord {
  return { ...fullImageRecord(volumeId, imageId, createdAt), snapshotId: `snap-${volumeId.slice(4)}` };
}

const devices = (tagged: Record<string, string>): VolumeDevices => ({
  devicesOf: () => Promise.resolve(new Map(Object.entries(tagged))),
});

const VOLUMES = ['vol-0b', 'vol-0a'];
const IMAGE_IDS = new Map([
  ['vol-0a', 'img-bk-1-vol-0a'],
  ['vol-0b', 'img-bk-1-vol-0b'],
]);

describe('commitRecoveryPoint', () => {
  it('writes one record listing every volume’s image under its device, ordered by device', async () => {
    const records = new MemoryImageRecordStore();
    await records.putImageRecord(image('vol-0a', 'img-bk-1-vol-0a', '2026-05-01T02:00:01.000Z'));
    await records.putImageRecord(image('vol-0b', 'img-bk-1-vol-0b', '2026-05-01T02:00:00.500Z'));
    const points = new MemoryRecoveryPointStore();
    const deps = {
      records,
      points,
      devices: devices({ 'vol-0a': '/dev/xvdb', 'vol-0b': '/dev/xvda' }),
      liveness: recordsLiveness(records),
    };
    const request = {
      backupId: 'bk-1',
      serverId: 'web-01',
      volumeIds: VOLUMES,
      imageIds: IMAGE_IDS,
      checkpointId: 'bk-1-r1',
    };
    const { written: committed, stored } = await commitRecoveryPoint(deps, request);
    expect(stored).toEqual(committed);
    expect(committed).toEqual({
      version: 1,
      recoveryPointId: 'rp-bk-1',
      serverId: 'web-01',
      backupId: 'bk-1',
      createdAt: '2026-05-01T02:00:00.500Z',
      checkpointId: 'bk-1-r1',
      images: [
        {
          volumeId: 'vol-0b',
          device: '/dev/xvda',
          imageId: 'img-bk-1-vol-0b',
          snapshotId: 'snap-0b',
          kind: 'full',
        },
        {
          volumeId: 'vol-0a',
          device: '/dev/xvdb',
          imageId: 'img-bk-1-vol-0a',
          snapshotId: 'snap-0a',
          kind: 'full',
        },
      ],
    });
    expect(await points.get('rp-bk-1')).toEqual(committed);
    // A retry or redrive of the step: the same record, success.
    expect(await commitRecoveryPoint(deps, request)).toEqual({ written: committed, stored: committed });
    expect(points.points.size).toBe(1);
    expect(points.puts).toBe(2);
  });

  it('a failed read after a conflicting write is thrown as it is (retried), not as a conflict', async () => {
    const records = new MemoryImageRecordStore();
    await records.putImageRecord(image('vol-0a', 'img-bk-1-vol-0a', '2026-05-01T02:00:01.000Z'));
    await records.putImageRecord(image('vol-0b', 'img-bk-1-vol-0b', '2026-05-01T02:00:00.500Z'));
    const points = new MemoryRecoveryPointStore();
    const throttled = new ThrottledError('DynamoDB GetItem throttled');
    points.put = () =>
      Promise.reject(new ConflictError('recovery point rp-bk-1 exists with different images'));
    points.get = () => Promise.reject(throttled);
    const deps = { records, points, devices: devices({}), liveness: recordsLiveness(records) };
    const request = { backupId: 'bk-1', serverId: 'web-01', volumeIds: VOLUMES, imageIds: IMAGE_IDS };
    expect(await commitRecoveryPoint(deps, request).catch((e: unknown) => e)).toBe(throttled);
  });

  it('a partial failure keeps the committed images and writes no recovery point', async () => {
    const records = new MemoryImageRecordStore();
    const kept = image('vol-0a', 'img-bk-1-vol-0a', '2026-05-01T02:00:01.000Z');
    await records.putImageRecord(kept);
    const points = new MemoryRecoveryPointStore();
    const error = await commitRecoveryPoint(
      { records, points, devices: devices({}), liveness: recordsLiveness(records) },
      { backupId: 'bk-1', serverId: 'web-01', volumeIds: VOLUMES, imageIds: IMAGE_IDS },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe(
      'recovery point rp-bk-1: image img-bk-1-vol-0b of vol-0b is not committed; not committing',
    );
    expect(points.puts).toBe(0);
    expect(await points.listByServer('web-01')).toEqual([]);
    // The image that did commit stays a usable single-volume image.
    expect(await records.listImageRecords('vol-0a')).toEqual([kept]);
  });

  it('refuses a run in which a volume has no image at all', async () => {
    const records = new MemoryImageRecordStore();
    const points = new MemoryRecoveryPointStore();
    const error = await commitRecoveryPoint(
      { records, points, devices: devices({}), liveness: recordsLiveness(records) },
      {
        backupId: 'bk-1',
        serverId: 'web-01',
        volumeIds: VOLUMES,
        imageIds: new Map([['vol-0a', 'img-bk-1-vol-0a']]),
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(
      'recovery point rp-bk-1: no image of vol-0b in this run; not committing',
    );
    expect(points.puts).toBe(0);
  });

  it('is written exactly when every volume committed, and never removes a committed image (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        async (numbers, committedFlags) => {
          const volumeIds = numbers.map((n) => `vol-${String(n).padStart(2, '0')}`);
          const imageIds = new Map(volumeIds.map((v) => [v, `img-bk-p-${v}`]));
          const records = new MemoryImageRecordStore();
          const committed = volumeIds.filter((_, i) => committedFlags[i]);
          for (const v of committed)
            await records.putImageRecord(image(v, `img-bk-p-${v}`, '2026-05-01T00:00:00.000Z'));
          const before = structuredClone([...records.records.entries()]);
          const points = new MemoryRecoveryPointStore();
          const outcome = await commitRecoveryPoint(
            { records, points, devices: devices({}), liveness: recordsLiveness(records) },
            { backupId: 'bk-p', serverId: 's', volumeIds, imageIds },
          ).then(
            () => 'committed',
            (e: unknown) => (e instanceof NotFoundError ? 'refused' : 'other'),
          );
          expect(outcome).toBe(committed.length === volumeIds.length ? 'committed' : 'refused');
          expect(points.points.size).toBe(outcome === 'committed' ? 1 : 0);
          if (outcome === 'committed') {
            const point = await points.get('rp-bk-p');
            expect(point.images.map((i) => i.volumeId).sort()).toEqual([...volumeIds].sort());
            expect(new Set(point.images.map((i) => i.device)).size).toBe(volumeIds.length);
          }
          expect([...records.records.entries()]).toEqual(before);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('devices', () => {
  it('uses rbp:source-device and names an untagged volume disk<N> by its position', () => {
    const assigned = assignDevices(['vol-0c', 'vol-0a', 'vol-0b'], new Map([['vol-0b', '/dev/sdb']]));
    expect([...assigned.entries()].sort()).toEqual([
      ['vol-0a', 'disk0'],
      ['vol-0b', '/dev/sdb'],
      ['vol-0c', 'disk2'],
    ]);
  });

  it('refuses two volumes that claim one device', () => {
    expect(() =>
      assignDevices(
        ['vol-0a', 'vol-0b'],
        new Map([
          ['vol-0a', '/dev/xvda'],
          ['vol-0b', '/dev/xvda'],
        ]),
      ),
    ).toThrow('volumes vol-0a and vol-0b both say they are device /dev/xvda');
  });

  it('reads the device tag through the tag reader and skips empty tags', async () => {
    const reader = volumeDevicesFromTags((ids) =>
      Promise.resolve(
        ids.map((volumeId) => ({
          volumeId,
          tags: volumeId === 'vol-0a' ? { 'rbp:source-device': '/dev/xvda' } : { 'rbp:source-device': '' },
        })),
      ),
    );
    expect([...(await reader.devicesOf(['vol-0a', 'vol-0b'])).entries()]).toEqual([['vol-0a', '/dev/xvda']]);
  });
});
