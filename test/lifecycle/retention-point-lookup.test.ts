/**
 * Retention finds each image's recovery point exactly (the store's image index, backfilled for
 * points written before it), whatever server the point is filed under: a point filed under a
 * configured serverId over untagged volumes, or under a server the volumes' tag no longer names, is
 * kept or deleted whole, never split. A fast-check property over random filing servers, tags,
 * unindexed points, scopes and rules: after an expiry every point is whole or gone.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';
import {
  expireScope,
  INDEX_BACKFILL_BUDGET,
  type ExpiryScope,
} from '../../lambdas/core/lifecycle/image-deletion.ts';
import {
  applyRetentionRequest,
  expireAfterPlanRun,
  retentionResultSchema,
  type RetentionResult,
} from '../../lambdas/core/lifecycle/retention-apply.ts';
import { retentionText } from '../../cli/commands/lifecycle.ts';
import type { RecoveryPoint } from '../../lambdas/core/recovery-points/recovery-points.ts';
import { MemoryRecoveryPointStore } from '../recovery-points/memory-recovery-point-store.ts';
import { committedPointImage } from './image-deletion-points.ts';
import { imageDeletionDeps, newWorld, type World } from './lifecycle-fixture.ts';

const HOUR = 3_600_000;
const VOLUMES = ['vol-a', 'vol-b'] as const;

interface PointSpec {
  /** Where the run filed it. */
  readonly server: string;
  /** Written before points indexed their images. */
  readonly unindexed: boolean;
}

/** Points 0..n-1 an hour apart, each of both volumes (image `i<n>-<volume>`), volumes tagged `tag` or untagged. */
function setUp(specs: readonly PointSpec[], tag: string | undefined) {
  const world: World = newWorld();
  const points = new MemoryRecoveryPointStore();
  const original = specs.map((spec, n): RecoveryPoint => {
    const createdAt = new Date(world.clock.time + n * HOUR).toISOString();
    const images = VOLUMES.map((volumeId, d) =>
      committedPointImage(world, volumeId, n, d, createdAt, tag === undefined ? {} : { serverId: tag }),
    );
    return {
      version: 1,
      recoveryPointId: `rp-${n}`,
      serverId: spec.server,
      backupId: `${n}`,
      createdAt,
      images,
    };
  });
  for (const [n, point] of original.entries()) {
    points.points.set(point.recoveryPointId, structuredClone(point));
    if (specs[n]!.unindexed) points.unindexed.add(point.recoveryPointId);
  }
  world.clock.time += 10 * 24 * HOUR;
  const deps = imageDeletionDeps(world, points);
  return { world, points, original, deps };
}

/** An expiry once the index backfill has run (the expiry after a plan run runs it). */
async function expire(deps: ImageDeletionDeps, scope: ExpiryScope, keepLast: number) {
  await deps.recoveryPoints?.backfillImageIndex(INDEX_BACKFILL_BUDGET);
  return expireScope(deps, scope, { keepLast }, { timeZone: 'UTC' }, false);
}

describe('retention and recovery points filed under any server', () => {
  it('deletes a point filed under a configured serverId over untagged volumes whole, from a volume scope and from the server scope', async () => {
    for (const scope of [{ volume: 'vol-a' }, { server: 'db-config' }] as const) {
      const specs = [0, 1, 2].map((n) => ({ server: 'db-config', unindexed: n === 0 }));
      const { world, points, deps } = setUp(specs, undefined);
      const result = await expire(deps, scope, 2);
      expect(result.groups.map((g) => [g.group, [...g.result.deleted].sort()])).toEqual([
        ['db-config#replica', ['vol-a/i0-vol-a', 'vol-b/i0-vol-b']],
      ]);
      expect([...points.points.keys()].sort()).toEqual(['rp-1', 'rp-2']);
      for (const point of points.points.values()) expect(point.images).toHaveLength(2);
      expect([...world.records.images.keys()].sort()).toEqual([
        'vol-a/i1-vol-a',
        'vol-a/i2-vol-a',
        'vol-b/i1-vol-b',
        'vol-b/i2-vol-b',
      ]);
    }
  });

  it('deletes a point filed under the server the volumes were tagged with before, whole', async () => {
    const { points, deps } = setUp(
      [
        { server: 'srv-old', unindexed: true },
        { server: 'srv-new', unindexed: false },
      ],
      'srv-new',
    );
    const result = await expire(deps, { server: 'srv-new' }, 1);
    expect(result.groups.flatMap((g) => [...g.result.deleted]).sort()).toEqual([
      'vol-a/i0-vol-a',
      'vol-b/i0-vol-b',
    ]);
    expect([...points.points.keys()]).toEqual(['rp-1']);
    expect(points.unindexed.size).toBe(0);
  });

  it('runs the index backfill only in the expiry after a plan run, never in POST /retention/apply (dry run or not)', async () => {
    const { points, deps } = setUp(
      [
        { server: 'db-config', unindexed: true },
        { server: 'db-config', unindexed: false },
      ],
      'srv-1',
    );
    const budgets: unknown[] = [];
    const backfill = points.backfillImageIndex.bind(points);
    points.backfillImageIndex = (budget) => {
      budgets.push(budget);
      return backfill(budget);
    };
    for (const dryRun of [true, false]) {
      await applyRetentionRequest(deps, { scope: { server: 'srv-1' }, rules: { keepLast: 5 }, dryRun });
    }
    expect(budgets).toEqual([
      { pages: 0, requests: 0 },
      { pages: 0, requests: 0 },
    ]);
    expect([...points.unindexed]).toEqual(['rp-0']);
    const plans = () => Promise.resolve({ servers: ['srv-1'], rules: { keepLast: 5 } });
    await expireAfterPlanRun({ ...deps, plans }, { plan: 'nightly' });
    expect(budgets.slice(2)).toEqual([
      { pages: 20, requests: 300 },
      { pages: 0, requests: 0 },
    ]);
    expect(points.unindexed.size).toBe(0);
  });

  it('marks each image that joined a volume scope with its recovery point, in the JSON and the table (dry run and run)', async () => {
    const specs = [0, 1, 2].map(() => ({ server: 'srv-1', unindexed: false }));
    const { deps } = setUp(specs, 'srv-1');
    const request = { scope: { volume: 'vol-a' }, rules: { keepLast: 2 } } as const;
    const marks = (result: RetentionResult) =>
      result.images.map((i) => [i.imageId, i.outcome, i.withRecoveryPoint ?? null]);
    const dry = await applyRetentionRequest(deps, { ...request, dryRun: true });
    expect(marks(dry)).toEqual([
      ['i2-vol-a', 'kept', null],
      ['i2-vol-b', 'kept', 'kept with its recovery point rp-2'],
      ['i1-vol-a', 'kept', null],
      ['i1-vol-b', 'kept', 'kept with its recovery point rp-1'],
      ['i0-vol-a', 'would-delete', null],
      ['i0-vol-b', 'would-delete', 'deleted with its recovery point rp-0'],
    ]);
    // In scope: no field at all.
    expect(dry.images[0]).not.toHaveProperty('withRecoveryPoint');
    expect(retentionResultSchema.parse(dry)).toEqual(dry);
    expect(retentionText(dry)).toBe(
      [
        'IMAGE     VOLUME  CREATED                   ACTION            REASONS',
        'i2-vol-a  vol-a   2026-11-01T02:00:00.000Z  keep              last 2',
        'i2-vol-b  vol-b   2026-11-01T02:00:00.000Z  keep              last 2, kept with its recovery point rp-2',
        'i1-vol-a  vol-a   2026-11-01T01:00:00.000Z  keep              last 2',
        'i1-vol-b  vol-b   2026-11-01T01:00:00.000Z  keep              last 2, kept with its recovery point rp-1',
        'i0-vol-a  vol-a   2026-11-01T00:00:00.000Z  delete (dry run)  -',
        'i0-vol-b  vol-b   2026-11-01T00:00:00.000Z  delete (dry run)  deleted with its recovery point rp-0',
        '',
      ].join('\n'),
    );
    const run = await applyRetentionRequest(deps, { ...request, dryRun: false });
    expect(marks(run).slice(4)).toEqual([
      ['i0-vol-a', 'deleted', null],
      ['i0-vol-b', 'deleted', 'deleted with its recovery point rp-0'],
    ]);
    expect(retentionText(run).split('\n').at(-2)).toBe(
      'i0-vol-b  vol-b   2026-11-01T00:00:00.000Z  deleted  deleted with its recovery point rp-0',
    );
  });

  it('never splits a point: after an expiry every point is whole or gone, and its images with it (property)', async () => {
    const serverArb = fc.constantFrom('db-config', 'srv-1', 'srv-old', 'vol-a');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ server: serverArb, unindexed: fc.boolean() }), { minLength: 1, maxLength: 5 }),
        fc.constantFrom(undefined, 'srv-1'),
        fc.constantFrom<ExpiryScope>(
          { volume: 'vol-a' },
          { volume: 'vol-b' },
          { server: 'srv-1' },
          { server: 'db-config' },
        ),
        fc.integer({ min: 1, max: 4 }),
        async (specs, tag, scope, keepLast) => {
          const { world, points, original, deps } = setUp(specs, tag);
          await expire(deps, scope, keepLast);
          for (const point of original) {
            const stored = points.points.get(point.recoveryPointId);
            const live = point.images.map((i) => world.records.images.has(`${i.volumeId}/${i.imageId}`));
            if (stored === undefined) expect(live, point.recoveryPointId).toEqual([false, false]);
            else {
              expect(stored).toEqual(point);
              expect(live, point.recoveryPointId).toEqual([true, true]);
            }
          }
          expect(await points.listDetached()).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
