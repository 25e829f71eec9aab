/**
 * The backup state machine over a server of two volumes, in aws-local-stepfunctions with the real
 * orchestration handlers (test/statemachines/asl-harness.ts) and volume-aware engine doubles:
 * Back Up Volumes runs one iteration per volume and Commit Recovery Point receives every volume's
 * image; a permanent failure of one volume fails the run before any recovery point is written.
 */
import { describe, expect, it } from 'vitest';
import {
  FakeWorld,
  runBackup,
  SteppingClock,
  type EngineDoubles,
  type SnapshotScript,
} from '../statemachines/asl-harness.ts';

const START = Date.parse('2026-01-01T00:00:00.000Z');
const ROOT = 'vol-0a1b2c3d4e5f60718';
const DATA = 'vol-0b1b2c3d4e5f60718';
const snapshots: SnapshotScript = { completeAfterChecks: 1, failingCreations: [], limitExceededCalls: 0 };
const input = {
  serverId: 'web-01',
  volumeIds: [ROOT, DATA],
  syncWait: { intervalSeconds: 5, timeoutSeconds: 600 },
  snapshotWait: { intervalSeconds: 5, timeoutSeconds: 3600 },
};

function world(): FakeWorld {
  const w = new FakeWorld(new SteppingClock(START), { syncAfterProbes: 0 }, snapshots);
  w.addReplica(ROOT);
  w.addReplica(DATA);
  return w;
}

/** Engine doubles that answer for the volume each iteration names. */
function volumeEngine(log: string[], failCommitOf?: string): EngineDoubles {
  return {
    plan: (payload) => {
      const volumeId = payload['volumeId'] as string;
      log.push(`plan ${volumeId}`);
      return Promise.resolve({
        volumeId,
        imageId: `img-bk-1-${volumeId}`,
        workItems: {
          bucket: 'rbp-images-test',
          key: `work/bk-1/${volumeId}/items.json`,
          inlineItems: [{ startBlock: 0 }],
        },
        maxConcurrency: 1,
        job: { backupId: 'bk-1' },
      });
    },
    copyRange: () => Promise.resolve({ chunksCreated: 1 }),
    commit: (payload) => {
      const plan = payload['plan'] as { volumeId: string; imageId: string };
      if (plan.volumeId === failCommitOf) {
        return Promise.reject(
          Object.assign(new Error(`image ${plan.imageId} already has a different record`), {
            name: 'ConflictError',
          }),
        );
      }
      log.push(`commit ${plan.volumeId}`);
      return Promise.resolve({
        volumeId: plan.volumeId,
        imageId: plan.imageId,
        kind: 'full',
        createdAt: '2026-01-01T00:01:00.000Z',
      });
    },
    catalog: () => Promise.resolve({ status: 'complete', counts: { files: 1 }, errorCount: 0 }),
  };
}

describe('backup state machine over a two-volume server', () => {
  it('backs up each volume in its own iteration and commits one recovery point of both', async () => {
    const log: string[] = [];
    const outcome = await runBackup(world(), volumeEngine(log), input);
    expect(outcome).toMatchObject({ status: 'SUCCEEDED' });
    expect(outcome.statesEntered.filter((s) => s === 'Plan Backup')).toHaveLength(2);
    expect(log.filter((l) => l.startsWith('commit')).sort()).toEqual([`commit ${ROOT}`, `commit ${DATA}`]);
    const commitInput = outcome.stateInputs.find((s) => s.name === 'Commit Recovery Point')!.input as {
      volumes: { volumeId: string; imageId: string }[];
    };
    expect(commitInput.volumes.map((v) => [v.volumeId, v.imageId])).toEqual([
      [ROOT, `img-bk-1-${ROOT}`],
      [DATA, `img-bk-1-${DATA}`],
    ]);
    expect(outcome.output!['recoveryPoint']).toMatchObject({
      result: {
        recoveryPointId: 'rp-bk-1',
        serverId: 'web-01',
        imageIds: [`img-bk-1-${ROOT}`, `img-bk-1-${DATA}`],
      },
    });
  });

  it('a permanent failure of one volume fails the run and writes no recovery point', async () => {
    const w = world();
    const outcome = await runBackup(w, volumeEngine([], DATA), input);
    expect(outcome).toMatchObject({
      status: 'FAILED',
      error: 'BackupFailed',
      cause: `image img-bk-1-${DATA} already has a different record`,
    });
    expect(outcome.statesEntered).not.toContain('Commit Recovery Point');
    expect(outcome.statesEntered).toContain('Clean Up');
    expect(w.locks.locks.size).toBe(0);
  });
});
