import { describe, expect, it } from 'vitest';
import {
  BACKUP_LEASE_TTL_MS,
  GC_SAFETY_MARGIN_MS,
  commitGate,
  objectsToVerify,
  sweepCutoff,
} from '../../lambdas/core/lifecycle/gc-fence.ts';
import type { BackupLease } from '../../lambdas/core/lifecycle/gc-fence.ts';
import {
  certainlyLockedUntil,
  generationOf,
  parseObjectLockConfig,
  retainUntilForGeneration,
  retainUntilForNewObject,
} from '../../lambdas/core/lifecycle/object-lock.ts';

const NOW = new Date('2026-12-01T12:00:00.000Z');
const lease = (startedAt: string, epoch = 3, phase: 'idle' | 'collecting' = 'idle'): BackupLease => ({
  backupId: 'b',
  startedAt,
  epoch,
  phase,
});

describe('collection fence', () => {
  it('a commit waits while collecting, commits when nothing ran, verifies otherwise', () => {
    const l = lease('2026-12-01T11:00:00.000Z');
    expect(commitGate(l, { epoch: 4, phase: 'collecting', runId: 'r' }, NOW).action).toBe('wait');
    expect(commitGate(l, { epoch: 3, phase: 'idle' }, NOW)).toEqual({
      action: 'commit',
      fence: { epoch: 3, phase: 'idle' },
    });
    expect(commitGate(l, { epoch: 4, phase: 'idle' }, NOW)).toEqual({
      action: 'verify-then-commit',
      fence: { epoch: 4, phase: 'idle' },
      verifyWritten: false,
    });
    // Started while a run held the fence: that run may sweep what it reused.
    expect(
      commitGate(lease('2026-12-01T11:00:00.000Z', 3, 'collecting'), { epoch: 3, phase: 'idle' }, NOW).action,
    ).toBe('verify-then-commit');
    const old = lease(new Date(NOW.getTime() - BACKUP_LEASE_TTL_MS).toISOString());
    expect(commitGate(old, { epoch: 4, phase: 'idle' }, NOW)).toMatchObject({ verifyWritten: true });
  });

  it('the cutoff is the run start or the oldest live lease, minus the margin; expired leases do not count', () => {
    expect(sweepCutoff(NOW, []).getTime()).toBe(NOW.getTime() - GC_SAFETY_MARGIN_MS);
    const leases = [
      lease('2026-12-01T08:00:00.000Z'),
      lease('2026-11-01T00:00:00.000Z'),
      lease('2026-12-01T10:00:00.000Z'),
    ];
    expect(sweepCutoff(NOW, leases).toISOString()).toBe('2026-12-01T07:00:00.000Z');
  });

  it('re-checks only objects neither written nor taken from a live parent', () => {
    expect(objectsToVerify(['a', 'b', 'c', 'd'], new Set(['a']), new Set(['b']))).toEqual(['c', 'd']);
  });
});

describe('Object Lock generations', () => {
  const config = parseObjectLockConfig({ mode: 'COMPLIANCE', retentionDays: 30, generationDays: 7 });

  it('new objects are locked to the end of their generation plus the retention', () => {
    const g = generationOf(NOW, config);
    expect(g).toBe(Math.floor(NOW.getTime() / (7 * 86_400_000)));
    const until = retainUntilForNewObject(NOW, config);
    expect(until).toEqual(retainUntilForGeneration(g, config));
    expect(until.getTime() - NOW.getTime()).toBeGreaterThanOrEqual(30 * 86_400_000);
    expect(until.getTime() - NOW.getTime()).toBeLessThanOrEqual(37 * 86_400_000);
    expect(certainlyLockedUntil(NOW, config)).toEqual(until);
  });

  it('refuses a generation longer than the retention', () => {
    expect(() => parseObjectLockConfig({ mode: 'GOVERNANCE', retentionDays: 7, generationDays: 14 })).toThrow(
      'invalid Object Lock configuration: the generation window must not exceed the retention',
    );
  });
});
