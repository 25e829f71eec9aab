/**
 * A backup whose file catalog failed still succeeds (the volume's image is committed and restores
 * whole), but the operator is told: Build Catalog's status travels with the image
 * (`$.image.result.catalog`, then `$.volumes`) into Publish Success, whose Backup Succeeded event
 * lists every volume's catalog and whose SNS subject and message say which one failed
 * (core/orchestration/backup-outcome.ts). Run on the real ASL with aws-local-stepfunctions.
 */
import { describe, expect, it } from 'vitest';
import { createPublishOutcomeHandler } from '../../lambdas/handlers/publish-outcome.ts';
import { testBackupContext } from '../support/backup-context.ts';
import { FakeWorld, happyEngine, runBackup, SteppingClock, type EngineDoubles } from './asl-harness.ts';

const START = Date.parse('2026-01-01T00:00:00.000Z');
const VOLUME = 'vol-0a1b2c3d4e5f60718';
const input = {
  volumeIds: [VOLUME],
  syncWait: { intervalSeconds: 5, timeoutSeconds: 600 },
  snapshotWait: { intervalSeconds: 5, timeoutSeconds: 3600 },
};

function world(): FakeWorld {
  const w = new FakeWorld(
    new SteppingClock(START),
    { syncAfterProbes: 1 },
    {
      completeAfterChecks: 1,
      failingCreations: [],
      limitExceededCalls: 0,
    },
  );
  w.addReplica(VOLUME);
  return w;
}

/** The happy engine with Build Catalog answering `status` and `errorCount`. */
function catalogAnswering(status: string, errorCount: number): EngineDoubles {
  return {
    ...happyEngine([]),
    catalog: () => Promise.resolve({ status, counts: { files: 3 }, errorCount }),
  };
}

describe('backup state machine: the catalog in the outcome', () => {
  it('a complete catalog: the event lists it, the subject and message are the plain success', async () => {
    const w = world();
    const outcome = await runBackup(w, catalogAnswering('complete', 0), input);
    expect({ status: outcome.status, error: outcome.error, cause: outcome.cause }).toEqual({
      status: 'SUCCEEDED',
    });
    const succeeded = w.events.find((e) => e.detailType === 'Backup Succeeded')!;
    expect(succeeded.detail.catalogs).toEqual([
      { volumeId: VOLUME, imageId: 'img-1', status: 'complete', errorCount: 0 },
    ]);
    expect(w.notifications.map((n) => n.subject)).toEqual([`rbp: backup succeeded for ${VOLUME}`]);
    expect(w.notifications[0]!.message).not.toContain('File catalog');
  });

  it('a failed catalog: the backup succeeds, and the event, subject and message name the volume', async () => {
    const w = world();
    const outcome = await runBackup(w, catalogAnswering('failed', 1), input);
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.statesEntered.at(-1)).toBe('Backup Succeeded');
    const succeeded = w.events.find((e) => e.detailType === 'Backup Succeeded')!;
    expect(succeeded.detail).toMatchObject({
      status: 'SUCCEEDED',
      imageIds: ['img-1'],
      catalogs: [{ volumeId: VOLUME, imageId: 'img-1', status: 'failed', errorCount: 1 }],
    });
    expect(w.notifications.map((n) => n.subject)).toEqual([
      `rbp: backup succeeded, file catalog FAILED for ${VOLUME}`,
    ]);
    expect(w.notifications[0]!.message.split('\n').at(-1)).toBe(
      `File catalog of ${VOLUME} (img-1): FAILED: its files cannot be browsed or restored one by one (rbp images show img-1); the volume restores whole.`,
    );
  });

  it('a partial catalog: INCOMPLETE in the subject, the error count in the message', async () => {
    const w = world();
    await runBackup(w, catalogAnswering('partial', 7), input);
    expect(w.notifications.map((n) => n.subject)).toEqual([
      `rbp: backup succeeded, file catalog INCOMPLETE for ${VOLUME}`,
    ]);
    expect(w.notifications[0]!.message.split('\n').at(-1)).toBe(
      `File catalog of ${VOLUME} (img-1): partial, 7 error(s): some files cannot be found or restored one by one (rbp images show img-1); the volume restores whole.`,
    );
  });
});

describe('publish-outcome: the degraded-catalog count', () => {
  const backup = testBackupContext({
    backupId: 'bk-2',
    ownerId: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-2',
    serverId: 'db01',
    volumeIds: ['vol-a', 'vol-b', 'vol-c'],
    startedAt: '2026-12-04T02:00:00.000Z',
  });

  function handlerCounting(counts: number[]) {
    return createPublishOutcomeHandler({
      events: { publish: () => Promise.resolve() },
      notifier: { notify: () => Promise.resolve() },
      clock: { now: () => new Date('2026-12-04T02:10:00.000Z') },
      countDegradedCatalogs: (count) => counts.push(count),
    });
  }

  it('counts failed and partial catalogs (not unsupported or complete), zero included; nothing when the run passed none or a list that does not parse', async () => {
    const counts: number[] = [];
    const handler = handlerCounting(counts);
    const volume = (volumeId: string, status: string, errorCount = 0) => ({
      volumeId,
      imageId: `img-${volumeId}`,
      catalog: { status, counts: { files: 1 }, errorCount },
    });
    await handler({
      status: 'SUCCEEDED',
      backup,
      imageIds: ['img-vol-a', 'img-vol-b', 'img-vol-c'],
      volumes: [volume('vol-a', 'failed', 1), volume('vol-b', 'partial', 4), volume('vol-c', 'unsupported')],
    });
    await handler({
      status: 'SUCCEEDED',
      backup,
      imageIds: ['img-vol-a'],
      volumes: [volume('vol-a', 'complete')],
    });
    await handler({ status: 'SUCCEEDED', backup, imageIds: ['img-vol-a'] });
    await handler({ status: 'SUCCEEDED', backup, imageIds: ['img-vol-a'], volumes: [{ volumeId: 7 }] });
    expect(counts).toEqual([2, 0]);
  });
});
