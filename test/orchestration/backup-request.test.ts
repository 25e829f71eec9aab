import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lambdas/core/errors.ts';
import { COLLECTION_WAIT_SECONDS } from '../../lambdas/core/lifecycle/commit-gate.ts';
import {
  MIN_LOCK_TTL_SECONDS,
  normaliseBackupRequest,
} from '../../lambdas/core/orchestration/backup-request.ts';
import {
  checkpointIdFor,
  checkpointRequestDetail,
  checkpointWindow,
} from '../../lambdas/core/orchestration/checkpoint.ts';
import {
  outcomeDetail,
  readableCause,
  snsMessage,
  snsSubject,
} from '../../lambdas/core/orchestration/backup-outcome.ts';

const noVolumes = () => Promise.resolve([]);
const execution = {
  id: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:daily-vol-1',
  name: 'daily-vol-1',
  startTime: '2026-06-01T02:00:00.123Z',
};

describe('normaliseBackupRequest', () => {
  it('fills every default and derives the ids from the execution', async () => {
    expect(
      await normaliseBackupRequest({ volumeIds: ['vol-0123456789abcdef0'] }, execution, noVolumes),
    ).toEqual({
      backupId: 'daily-vol-1',
      ownerId: execution.id,
      serverId: 'vol-0123456789abcdef0',
      volumeIds: ['vol-0123456789abcdef0'],
      full: false,
      source: 'replica',
      trigger: 'manual',
      probe: { kind: 'tags' },
      syncWait: { intervalSeconds: 30, timeoutSeconds: 3_600 },
      snapshotWait: { intervalSeconds: 60, timeoutSeconds: 86_400 },
      lockTtlSeconds: 172_800,
      maxSnapshotRounds: 3,
      startedAt: '2026-06-01T02:00:00.123Z',
    });
  });

  it('keeps explicit settings, including a DRS probe with its default lag', async () => {
    const context = await normaliseBackupRequest(
      {
        serverId: 'web-1',
        volumeIds: ['vol-1'],
        full: true,
        trigger: 'schedule:nightly',
        probe: { kind: 'drs', sourceServerId: 's-1234567890abcdef0' },
        syncWait: { intervalSeconds: 1, timeoutSeconds: 5 },
      },
      execution,
      noVolumes,
    );
    expect(context.probe).toEqual({ kind: 'drs', sourceServerId: 's-1234567890abcdef0', maxLagSeconds: 60 });
    expect(context.syncWait).toEqual({ intervalSeconds: 1, timeoutSeconds: 5 });
    expect(context.serverId).toBe('web-1');
    expect(context.full).toBe(true);
  });

  it('lists every problem of a bad request in one ValidationError', async () => {
    let caught: unknown;
    try {
      await normaliseBackupRequest(
        { volumeIds: ['disk-1'], syncWait: { intervalSeconds: 10, timeoutSeconds: 5 }, color: 'red' },
        execution,
        noVolumes,
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as Error).message).toBe(
      'invalid backup request: volumeIds.0: must look like vol-0123456789abcdef0; ' +
        'syncWait: intervalSeconds must not exceed timeoutSeconds; (input): Unrecognized key: "color"',
    );
  });

  it('takes every volume of a server, refuses more than MAX_SERVER_VOLUMES, and both or neither of volumeIds and volumeSelector', async () => {
    const two = await normaliseBackupRequest({ volumeIds: ['vol-1', 'vol-2'] }, execution, noVolumes);
    expect([two.volumeIds, two.serverId]).toEqual([['vol-1', 'vol-2'], 'vol-1']);
    const many = Array.from({ length: 101 }, (_, i) => `vol-${i}`);
    await expect(normaliseBackupRequest({ volumeIds: many }, execution, noVolumes)).rejects.toThrow(
      'invalid backup request: volumeIds: a run backs up at most 100 volumes',
    );
    await expect(normaliseBackupRequest({}, execution, noVolumes)).rejects.toThrow(
      'invalid backup request: (input): give exactly one of volumeIds and volumeSelector',
    );
  });

  it('refuses a lock shorter than Commit Image’s wait for a collection plus an hour (MIN_LOCK_TTL_SECONDS)', async () => {
    expect(MIN_LOCK_TTL_SECONDS).toBe(COLLECTION_WAIT_SECONDS + 3_600);
    const request = (lockTtlSeconds: number) => ({
      volumeIds: ['vol-1'],
      syncWait: { intervalSeconds: 10, timeoutSeconds: 600 },
      snapshotWait: { intervalSeconds: 60, timeoutSeconds: 3_600 },
      lockTtlSeconds,
    });
    const tooShort =
      'lockTtlSeconds: must be at least 10800 (3 h): the lock is last renewed before Commit Image, which may wait 7200 s for a garbage collection';
    for (const ttl of [7_200, MIN_LOCK_TTL_SECONDS - 1]) {
      const refused = await normaliseBackupRequest(request(ttl), execution, noVolumes).catch(
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(ValidationError);
      expect((refused as Error).message).toBe(`invalid backup request: ${tooShort}`);
    }
    // The former minimum, 60 s, is also shorter than this request's waits (600 + 3,600 s): both said.
    await expect(normaliseBackupRequest(request(60), execution, noVolumes)).rejects.toThrow(
      `invalid backup request: ${tooShort}; lockTtlSeconds: must be longer than syncWait.timeoutSeconds + snapshotWait.timeoutSeconds: the lock is not renewed before the snapshots are complete`,
    );
    expect(
      (await normaliseBackupRequest(request(MIN_LOCK_TTL_SECONDS), execution, noVolumes)).lockTtlSeconds,
    ).toBe(10_800);
  });

  it('refuses a lock no longer than the sync and snapshot waits that come before its first renewal', async () => {
    const request = (lockTtlSeconds: number) => ({
      volumeIds: ['vol-1'],
      syncWait: { intervalSeconds: 30, timeoutSeconds: 3_600 },
      snapshotWait: { intervalSeconds: 60, timeoutSeconds: 86_400 },
      lockTtlSeconds,
    });
    await expect(normaliseBackupRequest(request(90_000), execution, noVolumes)).rejects.toThrow(
      'invalid backup request: lockTtlSeconds: must be longer than syncWait.timeoutSeconds + snapshotWait.timeoutSeconds: the lock is not renewed before the snapshots are complete',
    );
    expect((await normaliseBackupRequest(request(90_001), execution, noVolumes)).lockTtlSeconds).toBe(90_001);
  });

  it('resolves a tag selector into the replica volumes it matches', async () => {
    const seen: string[] = [];
    const finder = (key: string, value: string) => {
      seen.push(`${key}=${value}`);
      return Promise.resolve(value === 'web-1' ? ['vol-0b'] : value === 'db' ? ['vol-2', 'vol-1'] : []);
    };
    const selector = (tagValue: string) => ({ volumeSelector: { tagKey: 'rbp:source-server', tagValue } });
    const context = await normaliseBackupRequest(selector('web-1'), execution, finder);
    expect([context.volumeIds, context.serverId]).toEqual([['vol-0b'], 'web-1']);
    await expect(normaliseBackupRequest(selector('none'), execution, finder)).rejects.toThrow(
      'no replica volume is tagged rbp:source-server=none',
    );
    // A server's tag selects all its disks; the server is named after the tag's value.
    const db = await normaliseBackupRequest(selector('db'), execution, finder);
    expect([db.volumeIds, db.serverId]).toEqual([['vol-1', 'vol-2'], 'db']);
    expect(seen).toEqual(['rbp:source-server=web-1', 'rbp:source-server=none', 'rbp:source-server=db']);
  });
});

describe('checkpoint contract', () => {
  it('derives a stable id per run and round and a hold that outlives the sync deadline by the margin', () => {
    expect(checkpointIdFor('daily-vol-1', 2)).toBe('daily-vol-1-r2');
    const window = checkpointWindow('daily-vol-1-r1', new Date('2026-06-01T02:00:01.000Z'), 600);
    expect(window).toEqual({
      checkpointId: 'daily-vol-1-r1',
      requestedAt: '2026-06-01T02:00:01.000Z',
      deadline: '2026-06-01T02:10:01.000Z',
    });
    expect(
      checkpointRequestDetail(window, { backupId: 'daily-vol-1', serverId: 'web-1', volumeIds: ['vol-1'] }),
    ).toEqual({
      version: 1,
      checkpointId: 'daily-vol-1-r1',
      backupId: 'daily-vol-1',
      serverId: 'web-1',
      volumeIds: ['vol-1'],
      requestedAt: '2026-06-01T02:00:01.000Z',
      deadline: '2026-06-01T02:10:01.000Z',
      holdUntil: '2026-06-01T02:25:01.000Z',
    });
  });
});

describe('backup outcome', () => {
  const detail = {
    version: 1 as const,
    status: 'FAILED' as const,
    backupId: 'daily-vol-1',
    serverId: 'web-1',
    volumeIds: ['vol-1'],
    trigger: 'schedule:nightly',
    startedAt: '2026-06-01T02:00:00.000Z',
    finishedAt: '2026-06-01T03:00:00.000Z',
    imageIds: [],
    error: 'ReplicaSyncTimeoutError',
    cause: 'replica not in sync',
  };

  it('keeps only the message of a Lambda error cause and truncates long causes', () => {
    expect(
      readableCause(
        '{"errorType":"ReplicaSyncTimeoutError","errorMessage":"replica not in sync","trace":[]}',
      ),
    ).toBe('replica not in sync');
    expect(readableCause('plain text')).toBe('plain text');
    expect(readableCause('x'.repeat(5_000))).toHaveLength(2_000);
    expect(readableCause(undefined)).toBeUndefined();
  });

  it('writes an SNS subject and message an operator can act on', () => {
    expect(snsSubject(detail)).toBe('rbp: backup FAILED for web-1');
    expect(snsMessage(detail)).toBe(
      'Backup daily-vol-1 of web-1 (vol-1) FAILED.\n' +
        'Trigger: schedule:nightly. Started 2026-06-01T02:00:00.000Z, finished 2026-06-01T03:00:00.000Z.\n' +
        'Error: ReplicaSyncTimeoutError: replica not in sync',
    );
    expect(snsSubject({ ...detail, serverId: 'x'.repeat(200) })).toHaveLength(100);
  });

  it('names the backup and the command that resumes a suspended run, in the event and the SNS text', () => {
    const suspended = outcomeDetail(
      {
        status: 'FAILED',
        state: {
          volumeIds: ['vol-1'],
          serverId: 'web-1',
          trigger: 'schedule:nightly',
          error: {
            Error: 'ThrottledError',
            Cause: '{"errorType":"ThrottledError","errorMessage":"S3 503 Slow Down after every retry"}',
          },
          resume: { state: 'Back Up Volumes' },
          failure: { suspended: true },
        },
        execution: {
          id: 'arn:aws:states:eu-west-1:123456789012:execution:rbp-backup:daily-vol-1',
          name: 'daily-vol-1',
          startTime: '2026-06-01T02:00:00.000Z',
        },
      },
      new Date('2026-06-01T03:00:00.000Z'),
    );
    expect(suspended).toEqual({
      ...detail,
      error: 'ThrottledError',
      cause: 'S3 503 Slow Down after every retry',
      resumeAt: 'Back Up Volumes',
      resumeCommand: 'rbp backup resume daily-vol-1',
    });
    expect(snsMessage(suspended)).toBe(
      'Backup daily-vol-1 of web-1 (vol-1) FAILED.\n' +
        'Trigger: schedule:nightly. Started 2026-06-01T02:00:00.000Z, finished 2026-06-01T03:00:00.000Z.\n' +
        'Error: ThrottledError: S3 503 Slow Down after every retry\n' +
        'Backup daily-vol-1 is suspended: the volumes are free for the next backup and its snapshots are kept. ' +
        'Resume it within 14 days with: rbp backup resume daily-vol-1 ' +
        '(it goes on at Back Up Volumes; ranges already copied are not read again).',
    );
  });

  it('carries the reason of an image read in full in Backup Succeeded and its SNS text', () => {
    const backup = {
      backupId: 'daily-vol-1',
      ownerId: 'arn:aws:states:eu-west-1:123456789012:execution:rbp-backup:daily-vol-1',
      serverId: 'web-1',
      volumeIds: ['vol-1', 'vol-2'],
      trigger: 'manual',
      full: false,
      startedAt: '2026-06-01T02:00:00.000Z',
      lockTtlSeconds: 172_800,
    } as never;
    const succeeded = outcomeDetail(
      {
        status: 'SUCCEEDED',
        backup,
        imageIds: ['img-daily-vol-1-vol-1', 'img-daily-vol-1-vol-2'],
        volumes: [
          { volumeId: 'vol-1', imageId: 'img-daily-vol-1-vol-1', fullReadReason: 'UNRELATED_SNAPSHOTS' },
          { volumeId: 'vol-2', imageId: 'img-daily-vol-1-vol-2' },
        ],
      },
      new Date('2026-06-01T03:00:00.000Z'),
    );
    expect(succeeded.fullReads).toEqual([
      { volumeId: 'vol-1', imageId: 'img-daily-vol-1-vol-1', fullReadReason: 'UNRELATED_SNAPSHOTS' },
    ]);
    expect(snsMessage(succeeded).split('\n').slice(2)).toEqual([
      'Images: img-daily-vol-1-vol-1, img-daily-vol-1-vol-2.',
      'Image img-daily-vol-1-vol-1 of vol-1 was read in full, not incrementally: UNRELATED_SNAPSHOTS (rbp images show img-daily-vol-1-vol-1).',
    ]);
    const plain = outcomeDetail(
      {
        status: 'SUCCEEDED',
        backup,
        imageIds: ['img-daily-vol-1-vol-1'],
        volumes: [{ volumeId: 'vol-1', imageId: 'img-daily-vol-1-vol-1' }],
      },
      new Date('2026-06-01T03:00:00.000Z'),
    );
    expect('fullReads' in plain).toBe(false);
  });
});
