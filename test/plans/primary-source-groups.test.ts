/**
 * Backups from the primary, the pure part: which primaries one CreateSnapshots covers, the error
 * for a server without a primary (an on-premises source), and the lineage rule of the parent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import {
  groupPrimaries,
  sameLineage,
  type PrimaryVolumeView,
} from '../../lambdas/core/backup/primary-source.ts';

describe('groupPrimaries', () => {
  it('puts the primaries of one instance in one group and an unattached primary in a group of its own', () => {
    const views: PrimaryVolumeView[] = [
      { replicaVolumeId: 'vol-r1', primaryVolumeId: 'vol-p1', instanceId: 'i-1' },
      { replicaVolumeId: 'vol-r2', primaryVolumeId: 'vol-p2' },
      { replicaVolumeId: 'vol-r3', primaryVolumeId: 'vol-p3', instanceId: 'i-1' },
    ];
    expect(groupPrimaries('DB1', ['vol-r1', 'vol-r2', 'vol-r3'], views)).toEqual([
      {
        instanceId: 'i-1',
        volumes: [
          { replicaVolumeId: 'vol-r1', primaryVolumeId: 'vol-p1' },
          { replicaVolumeId: 'vol-r3', primaryVolumeId: 'vol-p3' },
        ],
      },
      { volumes: [{ replicaVolumeId: 'vol-r2', primaryVolumeId: 'vol-p2' }] },
    ]);
  });

  it('names every replica volume without a primary: an on-premises source has none', () => {
    const attempt = () =>
      groupPrimaries(
        'ONPREM1',
        ['vol-a', 'vol-b', 'vol-c'],
        [{ replicaVolumeId: 'vol-a' }, { replicaVolumeId: 'vol-b', primaryVolumeId: 'vol-p' }],
      );
    expect(attempt).toThrow(NotFoundError);
    expect(attempt).toThrow(
      'server ONPREM1 has no primary for vol-a, vol-c (no rbp:primary-volume tag); an on-premises source has none: back up its replica',
    );
  });

  it('covers every volume exactly once, instance groups in first-seen order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.constantFrom('i-1', 'i-2', 'i-3'), { nil: undefined }), {
          minLength: 1,
          maxLength: 12,
        }),
        (instances) => {
          const ids = instances.map((_, i) => `vol-r${i}`);
          const views = instances.map((instanceId, i) => ({
            replicaVolumeId: `vol-r${i}`,
            primaryVolumeId: `vol-p${i}`,
            ...(instanceId === undefined ? {} : { instanceId }),
          }));
          const groups = groupPrimaries('S', ids, views);
          expect(groups.flatMap((g) => g.volumes.map((v) => v.replicaVolumeId)).sort()).toEqual(
            [...ids].sort(),
          );
          for (const group of groups) {
            if (group.instanceId === undefined) expect(group.volumes).toHaveLength(1);
            else
              expect(
                group.volumes.every(
                  (v) => instances[Number(v.replicaVolumeId.slice(5))] === group.instanceId,
                ),
              ).toBe(true);
          }
          const instanceGroups = groups.filter((g) => g.instanceId !== undefined).map((g) => g.instanceId);
          expect(new Set(instanceGroups).size).toBe(instanceGroups.length);
        },
      ),
    );
  });
});

describe('sameLineage', () => {
  it('keeps a primary image from ever being the parent of a replica image; old records are replica images', () => {
    expect(sameLineage({ source: 'primary' }, 'replica')).toBe(false);
    expect(sameLineage({ source: 'replica' }, 'primary')).toBe(false);
    expect(sameLineage({}, 'replica')).toBe(true);
    expect(sameLineage({}, 'primary')).toBe(false);
    expect(sameLineage({ source: 'primary' }, 'primary')).toBe(true);
  });
});
