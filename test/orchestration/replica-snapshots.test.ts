import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SnapshotFailedError,
  SnapshotWaitTimeoutError,
} from '../../lambdas/core/orchestration/orchestration-errors.ts';
import {
  evaluateSnapshotProgress,
  nextSnapshotPollSeconds,
  reusableSnapshot,
  selectSnapshotsToDelete,
  snapshotTags,
  type SnapshotState,
  type SnapshotView,
} from '../../lambdas/core/orchestration/replica-snapshots.ts';

const now = new Date('2026-05-01T00:00:00.000Z');
const deadline = '2026-05-01T06:00:00.000Z';

function snap(
  snapshotId: string,
  state: SnapshotState,
  tags: Record<string, string> = {},
  startTime?: string,
): SnapshotView {
  return {
    snapshotId,
    volumeId: tags['rbp:volume-id'] ?? 'vol-a',
    state,
    progress: state === 'completed' ? '100%' : '40%',
    ...(startTime === undefined ? {} : { startTime }),
    tags: { 'rbp:managed': 'true', 'rbp:volume-id': 'vol-a', ...tags },
  };
}

describe('snapshotTags', () => {
  it('tags a new snapshot as a pending, managed snapshot of its backup, volume and checkpoint', () => {
    expect(
      snapshotTags({ backupId: 'bk', serverId: 'srv', volumeId: 'vol-a', checkpointId: 'bk-r1' }),
    ).toEqual({
      'rbp:managed': 'true',
      'rbp:backup-id': 'bk',
      'rbp:server-id': 'srv',
      'rbp:volume-id': 'vol-a',
      'rbp:checkpoint-id': 'bk-r1',
      'rbp:role': 'pending',
    });
  });
});

describe('reusableSnapshot', () => {
  it('reuses a pending or completed snapshot of the same checkpoint, never one in error', () => {
    const existing = [
      snap('snap-err', 'error', { 'rbp:checkpoint-id': 'bk-r1' }),
      snap('snap-old', 'completed', { 'rbp:checkpoint-id': 'bk-r0' }),
      snap('snap-ok', 'pending', { 'rbp:checkpoint-id': 'bk-r1' }),
    ];
    expect(reusableSnapshot(existing, 'vol-a', 'bk-r1')?.snapshotId).toBe('snap-ok');
    expect(reusableSnapshot(existing.slice(0, 2), 'vol-a', 'bk-r1')).toBeUndefined();
    expect(reusableSnapshot(existing, 'vol-b', 'bk-r1')).toBeUndefined();
  });
});

describe('evaluateSnapshotProgress', () => {
  const expected = [
    { volumeId: 'vol-a', snapshotId: 'snap-a' },
    { volumeId: 'vol-b', snapshotId: 'snap-b' },
  ];
  const base = { expected, round: 1, maxRounds: 3, deadline, now };

  it('is COMPLETED when every snapshot is completed', () => {
    expect(
      evaluateSnapshotProgress({
        ...base,
        observed: [snap('snap-a', 'completed'), snap('snap-b', 'completed')],
      }),
    ).toEqual({ status: 'COMPLETED' });
  });

  it('is PENDING with the progress of the snapshots not done yet', () => {
    expect(
      evaluateSnapshotProgress({
        ...base,
        observed: [snap('snap-a', 'completed'), snap('snap-b', 'pending')],
      }),
    ).toEqual({
      status: 'PENDING',
      progress: ['snap-b (vol-b): pending 40%'],
    });
  });

  it('starts a new round when a snapshot failed or vanished, and gives up after the last round', () => {
    expect(evaluateSnapshotProgress({ ...base, observed: [snap('snap-a', 'error')] })).toEqual({
      status: 'NEW_ROUND',
      nextRound: 2,
      failed: ['snap-a (vol-a): error', 'snap-b (vol-b): vanished'],
    });
    expect(() =>
      evaluateSnapshotProgress({
        ...base,
        round: 3,
        observed: [snap('snap-a', 'error'), snap('snap-b', 'completed')],
      }),
    ).toThrow(new SnapshotFailedError('snapshots failed in round 3 of 3: snap-a (vol-a): error').message);
  });

  it('times out while pending at the deadline', () => {
    const late = {
      ...base,
      now: new Date(deadline),
      observed: [snap('snap-a', 'pending'), snap('snap-b', 'completed')],
    };
    expect(() => evaluateSnapshotProgress(late)).toThrow(SnapshotWaitTimeoutError);
    expect(() => evaluateSnapshotProgress(late)).toThrow(
      'snapshots still pending at 2026-05-01T06:00:00.000Z: snap-a (vol-a): pending 40%',
    );
  });
});

describe('selectSnapshotsToDelete', () => {
  const common = {
    volumeId: 'vol-a',
    newBaseId: 'snap-new',
    backupId: 'bk-now',
    orphanAgeSeconds: 86_400,
    now,
  };

  it('keeps the newest bases up to the retention, deletes older ones and old orphans only', () => {
    const snapshots = [
      snap(
        'snap-new',
        'completed',
        { 'rbp:role': 'pending', 'rbp:backup-id': 'bk-now' },
        '2026-04-30T23:00:00.000Z',
      ),
      snap('snap-b3', 'completed', { 'rbp:role': 'base' }, '2026-04-29T00:00:00.000Z'),
      snap('snap-b2', 'completed', { 'rbp:role': 'base' }, '2026-04-28T00:00:00.000Z'),
      snap('snap-b1', 'completed', { 'rbp:role': 'base' }, '2026-04-27T00:00:00.000Z'),
      snap(
        'snap-orphan-old',
        'completed',
        { 'rbp:role': 'pending', 'rbp:backup-id': 'bk-x' },
        '2026-04-20T00:00:00.000Z',
      ),
      snap(
        'snap-orphan-young',
        'pending',
        { 'rbp:role': 'pending', 'rbp:backup-id': 'bk-y' },
        '2026-04-30T12:00:00.000Z',
      ),
      snap(
        'snap-other-volume',
        'completed',
        { 'rbp:role': 'base', 'rbp:volume-id': 'vol-b' },
        '2026-01-01T00:00:00.000Z',
      ),
      {
        ...snap('snap-unmanaged', 'completed', { 'rbp:role': 'base' }, '2026-01-01T00:00:00.000Z'),
        tags: { 'rbp:role': 'base' },
      },
    ];
    expect(selectSnapshotsToDelete({ ...common, snapshots, retainBases: 2 })).toEqual([
      'snap-b1',
      'snap-b2',
      'snap-orphan-old',
    ]);
    expect(selectSnapshotsToDelete({ ...common, snapshots, retainBases: 1 })).toEqual([
      'snap-b1',
      'snap-b2',
      'snap-b3',
      'snap-orphan-old',
    ]);
  });

  it('refuses a retention below one: the newest base is the parent of the next incremental', () => {
    expect(() => selectSnapshotsToDelete({ ...common, snapshots: [], retainBases: 0 })).toThrow(RangeError);
  });

  it('property: never selects the new base, unmanaged snapshots, other volumes, or this run; keeps retainBases-1 older bases', () => {
    const arbSnapshot = fc.record({
      id: fc.integer({ min: 0, max: 50 }),
      role: fc.constantFrom('base', 'pending', undefined),
      managed: fc.boolean(),
      volume: fc.constantFrom('vol-a', 'vol-b'),
      backup: fc.constantFrom('bk-now', 'bk-old'),
      day: fc.integer({ min: 1, max: 30 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(arbSnapshot, { selector: (s) => s.id, maxLength: 20 }),
        fc.integer({ min: 1, max: 4 }),
        (raw, retainBases) => {
          const snapshots: SnapshotView[] = raw.map((r) => ({
            snapshotId: `snap-${r.id}`,
            volumeId: r.volume,
            state: 'completed',
            startTime: `2026-04-${String(r.day).padStart(2, '0')}T00:00:00.000Z`,
            tags: {
              ...(r.managed ? { 'rbp:managed': 'true' } : {}),
              ...(r.role === undefined ? {} : { 'rbp:role': r.role }),
              'rbp:backup-id': r.backup,
            },
          }));
          const deleted = new Set(
            selectSnapshotsToDelete({ ...common, newBaseId: 'snap-0', snapshots, retainBases }),
          );
          for (const s of snapshots) {
            if (!deleted.has(s.snapshotId)) continue;
            expect(s.snapshotId).not.toBe('snap-0');
            expect(s.tags['rbp:managed']).toBe('true');
            expect(s.volumeId).toBe('vol-a');
            if (s.tags['rbp:role'] === 'pending') expect(s.tags['rbp:backup-id']).not.toBe('bk-now');
          }
          const olderBases = snapshots.filter(
            (s) =>
              s.volumeId === 'vol-a' &&
              s.tags['rbp:managed'] === 'true' &&
              s.tags['rbp:role'] === 'base' &&
              s.snapshotId !== 'snap-0',
          );
          const keptBases = olderBases.filter((s) => !deleted.has(s.snapshotId));
          expect(keptBases.length).toBe(Math.min(olderBases.length, retainBases - 1));
        },
      ),
    );
  });
});

describe('nextSnapshotPollSeconds', () => {
  it('starts at 2 s, grows to half the time waited, and stops at the cap', () => {
    const waits: number[] = [];
    let elapsed = 0;
    while (elapsed < 600) {
      const wait = nextSnapshotPollSeconds(elapsed, 60);
      waits.push(wait);
      elapsed += wait;
    }
    expect(waits).toEqual([2, 2, 2, 3, 5, 7, 11, 16, 24, 36, 54, 60, 60, 60, 60, 60, 60, 60, 60]);
  });

  it('never waits less than a second, more than the cap, or more than half the wait plus the first look', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 604_800 }),
        fc.integer({ min: 1, max: 604_800 }),
        (elapsed, cap) => {
          const wait = nextSnapshotPollSeconds(elapsed, cap);
          expect(wait).toBeGreaterThanOrEqual(1);
          expect(wait).toBeLessThanOrEqual(cap);
          expect(wait).toBeLessThanOrEqual(Math.max(2, Math.ceil(elapsed / 2)));
        },
      ),
    );
  });
});

describe('selectSnapshotsToDelete: released snapshots of suspended runs', () => {
  it("deletes the released snapshots of other runs at once, never this run's", () => {
    const snapshots = [
      snap('snap-new', 'completed', { 'rbp:role': 'base', 'rbp:backup-id': 'bk-2' }),
      snap('snap-susp', 'completed', { 'rbp:role': 'released', 'rbp:backup-id': 'bk-1' }),
      snap('snap-mine', 'completed', { 'rbp:role': 'released', 'rbp:backup-id': 'bk-2' }),
    ];
    expect(
      selectSnapshotsToDelete({
        snapshots,
        volumeId: 'vol-a',
        newBaseId: 'snap-new',
        backupId: 'bk-2',
        retainBases: 1,
        orphanAgeSeconds: 172_800,
        now,
      }),
    ).toEqual(['snap-susp']);
  });
});
