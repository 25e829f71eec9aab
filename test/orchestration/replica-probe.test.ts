import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lambdas/core/errors.ts';
import {
  NotAReplicaError,
  ReplicaSyncTimeoutError,
} from '../../lambdas/core/orchestration/orchestration-errors.ts';
import {
  evaluateDrsProbe,
  evaluateTagProbe,
  isoDurationSeconds,
  requireNotTimedOut,
  type DrsSourceServerView,
  type ReplicaVolumeTags,
} from '../../lambdas/core/orchestration/replica-probe.ts';

const window = {
  checkpointId: 'bk-1-r1',
  requestedAt: '2026-01-01T00:00:00.000Z',
  deadline: '2026-01-01T01:00:00.000Z',
};
const before = new Date('2026-01-01T00:30:00.000Z');
const atDeadline = new Date('2026-01-01T01:00:00.000Z');

function replica(volumeId: string, tags: Record<string, string> = {}): ReplicaVolumeTags {
  return {
    volumeId,
    tags: {
      'rbp:replica': 'true',
      'rbp:checkpoint-id': 'bk-1-r1',
      'rbp:checkpoint-time': '2026-01-01T00:00:05.000Z',
      'rbp:sync-state': 'IN_SYNC',
      'rbp:backlog-bytes': '0',
      ...tags,
    },
  };
}

describe('evaluateTagProbe', () => {
  it('is IN_SYNC with the latest checkpoint time when every volume reports the checkpoint in sync', () => {
    const verdict = evaluateTagProbe(
      [replica('vol-a'), replica('vol-b', { 'rbp:checkpoint-time': '2026-01-01T00:00:09.000Z' })],
      ['vol-a', 'vol-b'],
      window,
      before,
    );
    expect(verdict).toEqual({ status: 'IN_SYNC', checkpointTime: '2026-01-01T00:00:09.000Z', reasons: [] });
  });

  it('waits, with one reason per lagging volume, while any volume is behind', () => {
    const verdict = evaluateTagProbe(
      [
        replica('vol-a', { 'rbp:checkpoint-id': 'bk-0-r1' }),
        replica('vol-b', { 'rbp:sync-state': 'BACKLOG', 'rbp:backlog-bytes': '4096' }),
        replica('vol-c', { 'rbp:backlog-bytes': '12' }),
        replica('vol-d'),
      ],
      ['vol-a', 'vol-b', 'vol-c', 'vol-d'],
      window,
      before,
    );
    expect(verdict).toEqual({
      status: 'WAITING',
      reasons: [
        'vol-a: replica reports checkpoint bk-0-r1, waiting for bk-1-r1',
        'vol-b: sync state is BACKLOG',
        'vol-c: 12 bytes of backlog',
      ],
    });
  });

  it('reports missing tags by name and times out at the deadline', () => {
    const bare: ReplicaVolumeTags = { volumeId: 'vol-a', tags: { 'rbp:replica': 'true' } };
    const verdict = evaluateTagProbe([bare], ['vol-a'], window, atDeadline);
    expect(verdict).toEqual({
      status: 'TIMED_OUT',
      reasons: ['vol-a: replica reports checkpoint (none), waiting for bk-1-r1'],
    });
    expect(() => requireNotTimedOut(verdict, window)).toThrow(ReplicaSyncTimeoutError);
    expect(() => requireNotTimedOut(verdict, window)).toThrow(
      'replica not in sync at checkpoint bk-1-r1 by 2026-01-01T01:00:00.000Z: vol-a: replica reports checkpoint (none), waiting for bk-1-r1',
    );
  });

  it('refuses a volume not tagged as a replica and a volume that does not exist', () => {
    expect(() =>
      evaluateTagProbe([replica('vol-a', { 'rbp:replica': 'false' })], ['vol-a'], window, before),
    ).toThrow(NotAReplicaError);
    expect(() => evaluateTagProbe([], ['vol-a'], window, before)).toThrow(NotFoundError);
  });

  it('treats a malformed backlog tag as not in sync', () => {
    const verdict = evaluateTagProbe(
      [replica('vol-a', { 'rbp:backlog-bytes': '1e3' })],
      ['vol-a'],
      window,
      before,
    );
    expect(verdict).toEqual({
      status: 'WAITING',
      reasons: ['vol-a: backlog-bytes tag is not a number: 1e3'],
    });
  });

  it('property: IN_SYNC exactly when every volume has the checkpoint, IN_SYNC state and zero backlog', () => {
    const volumeState = fc.record({
      matches: fc.boolean(),
      inSync: fc.boolean(),
      backlog: fc.nat({ max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(volumeState, { minLength: 1, maxLength: 6 }), fc.boolean(), (states, late) => {
        const volumes = states.map((s, i) =>
          replica(`vol-${i}`, {
            'rbp:checkpoint-id': s.matches ? 'bk-1-r1' : 'other',
            'rbp:sync-state': s.inSync ? 'IN_SYNC' : 'BACKLOG',
            'rbp:backlog-bytes': String(s.backlog),
          }),
        );
        const verdict = evaluateTagProbe(
          volumes,
          volumes.map((v) => v.volumeId),
          window,
          late ? atDeadline : before,
        );
        const allGood = states.every((s) => s.matches && s.inSync && s.backlog === 0);
        const lagging = states.filter((s) => !(s.matches && s.inSync && s.backlog === 0)).length;
        expect(verdict.status).toBe(allGood ? 'IN_SYNC' : late ? 'TIMED_OUT' : 'WAITING');
        expect(verdict.reasons).toHaveLength(lagging);
      }),
    );
  });
});

describe('isoDurationSeconds', () => {
  it.each([
    ['PT0S', 0],
    ['P0D', 0],
    ['PT45S', 45],
    ['PT1M30S', 90],
    ['PT2H', 7_200],
    ['P1DT1S', 86_401],
    ['PT0.5S', 0.5],
  ])('%s is %d s', (text, seconds) => {
    expect(isoDurationSeconds(text)).toBe(seconds);
  });

  it('is undefined for text that is not a duration', () => {
    expect(isoDurationSeconds('5 minutes')).toBeUndefined();
    expect(isoDurationSeconds('')).toBeUndefined();
  });
});

describe('evaluateDrsProbe', () => {
  const healthy: DrsSourceServerView = {
    sourceServerId: 's-1234567890abcdef0',
    dataReplicationState: 'CONTINUOUS',
    lagDuration: 'PT10S',
    replicatedDisks: [
      { deviceName: '/dev/sda', backloggedStorageBytes: 0 },
      { deviceName: '/dev/sdb', backloggedStorageBytes: 0 },
    ],
    lastSeenByServiceDateTime: '2026-01-01T00:00:30.000Z',
  };

  it('is IN_SYNC for CONTINUOUS, zero backlog, lag within the threshold, seen after the request', () => {
    expect(evaluateDrsProbe(healthy, healthy.sourceServerId, 60, window, before)).toEqual({
      status: 'IN_SYNC',
      reasons: [],
    });
    const { lagDuration: _lag, ...withoutLag } = healthy;
    expect(evaluateDrsProbe(withoutLag, healthy.sourceServerId, 0, window, before).status).toBe('IN_SYNC');
  });

  it('lists every reason the server is not in sync', () => {
    const verdict = evaluateDrsProbe(
      {
        ...healthy,
        dataReplicationState: 'BACKLOG',
        lagDuration: 'PT5M',
        replicatedDisks: [
          { deviceName: '/dev/sda', backloggedStorageBytes: 1_048_576 },
          { deviceName: '/dev/sdb' },
        ],
        lastSeenByServiceDateTime: '2025-12-31T23:59:00.000Z',
      },
      healthy.sourceServerId,
      60,
      window,
      before,
    );
    expect(verdict).toEqual({
      status: 'WAITING',
      reasons: [
        's-1234567890abcdef0: replication state is BACKLOG, not CONTINUOUS',
        's-1234567890abcdef0 /dev/sda: 1048576 bytes of backlog',
        's-1234567890abcdef0 /dev/sdb: backlog unknown',
        's-1234567890abcdef0: lag 300 s exceeds 60 s',
        's-1234567890abcdef0: DRS has not heard from the agent since the checkpoint was requested',
      ],
    });
  });

  it('times out at the deadline, refuses garbage lag and an unknown server', () => {
    expect(
      evaluateDrsProbe({ ...healthy, lagDuration: 'soon' }, healthy.sourceServerId, 60, window, atDeadline),
    ).toEqual({
      status: 'TIMED_OUT',
      reasons: ['s-1234567890abcdef0: lag duration is not ISO 8601: soon'],
    });
    expect(
      evaluateDrsProbe({ ...healthy, replicatedDisks: [] }, healthy.sourceServerId, 60, window, before),
    ).toEqual({
      status: 'WAITING',
      reasons: ['s-1234567890abcdef0: DRS reports no replicated disks'],
    });
    expect(() => evaluateDrsProbe(undefined, healthy.sourceServerId, 60, window, before)).toThrow(
      'DRS source server s-1234567890abcdef0 does not exist',
    );
  });

  it('property: lag decides exactly at the threshold', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), fc.nat({ max: 10_000 }), (lagSeconds, maxLag) => {
        const verdict = evaluateDrsProbe(
          { ...healthy, lagDuration: `PT${lagSeconds}S` },
          healthy.sourceServerId,
          maxLag,
          window,
          before,
        );
        expect(verdict.status).toBe(lagSeconds <= maxLag ? 'IN_SYNC' : 'WAITING');
      }),
    );
  });
});
