/**
 * `rbp backup resume ID [--wait] [--json]` against the real API handler over the in-memory ports
 * (a local HTTP stand-in passes each request to it): the line `rbp backup start` prints, the
 * answer as JSON, `--wait`'s report, and the exit codes of a refusal (3 unknown, 4 another backup
 * holds the volume, 5 not resumable) with the API's message.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiHandler, type ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import type { SnapshotView } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import { memoryApi, VOLUME_A, type MemoryApi } from '../fakes/memory-api-ports.ts';
import { useHandlerStandIn } from '../support/handler-stand-in.ts';
import {
  keptSnapshot,
  resumeLauncher,
  suspendInto,
  SUSPENDED_ID as ID,
} from '../support/suspended-backup.ts';

let api: MemoryApi;
let handler: ApiProxyHandler;
/** The suspended run's snapshot; a test empties it to play a later backup that deleted it. */
let snapshots: SnapshotView[];

const standIn = useHandlerStandIn(() => handler);

beforeEach(() => {
  api = memoryApi();
  suspendInto(api);
  snapshots = [keptSnapshot()];
  handler = createApiHandler({ ...api.deps, backups: resumeLauncher(api, () => snapshots) }, () => undefined);
});

describe('rbp backup resume', () => {
  it('prints the line rbp backup start prints, and --json the API’s answer', async () => {
    const plain = await standIn.rbp(['backup', 'resume', ID]);
    expect(plain).toMatchObject({
      code: 0,
      stdout: `backup ${ID} resumed (rbp backup status ${ID})\n`,
      stderr: '',
    });
    expect(api.executions.redrives).toEqual([ID]);

    // The redrive met another backup's lock and failed again at Await Redrive: still suspended.
    api.executions.finish(ID, {
      status: 'FAILED',
      error: 'BackupAlreadyRunningError',
      failedStep: 'Await Redrive',
    });
    const json = await standIn.rbp(['backup', 'resume', ID, '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      backupId: ID,
      status: 'RUNNING',
      resumedAt: '2026-11-20T12:00:00.000Z',
      volumeIds: [VOLUME_A],
    });
  });

  it('--wait follows the resumed backup to its end and reports it as rbp backup start --wait does', async () => {
    const redrive = api.executions.redrive.bind(api.executions);
    api.executions.redrive = async (name) => {
      const answer = await redrive(name);
      api.executions.finish(name, {
        status: 'SUCCEEDED',
        stoppedAt: '2026-11-20T12:10:00.000Z',
        currentStep: 'Publish Success',
        output: JSON.stringify({ image: { result: { imageId: `img-${ID}`, kind: 'incremental' } } }),
      });
      return answer;
    };
    const waited = await standIn.rbp(['backup', 'resume', ID, '--wait', '--poll-interval', '1']);
    // The progress lines go to stderr, the last one when it has finished.
    expect(waited.stderr).toBe(`backup ${ID}: SUCCEEDED (image img-${ID})\n`);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toBe(
      [
        `backup ${ID}: SUCCEEDED`,
        `  volume   ${VOLUME_A}`,
        '  started  2026-11-18T12:00:00.000Z',
        '  stopped  2026-11-20T12:10:00.000Z',
        '  step     Publish Success',
        `  image    img-${ID}`,
        '',
      ].join('\n'),
    );
  });

  it('exit 5 with the API’s message for a backup that is not suspended or whose snapshot is gone', async () => {
    api.executions.finish(ID, { status: 'SUCCEEDED', error: undefined, failedStep: undefined });
    const succeeded = await standIn.rbp(['backup', 'resume', ID]);
    expect(succeeded).toMatchObject({ code: 5, stdout: '' });
    expect(succeeded.stderr).toBe(`rbp: backup ${ID} succeeded: there is nothing to resume\n`);

    api.executions.finish(ID, {
      status: 'FAILED',
      error: 'BackupSuspendedError',
      failedStep: 'Await Redrive',
    });
    snapshots = [];
    const gone = await standIn.rbp(['backup', 'resume', ID]);
    expect(gone.code).toBe(5);
    expect(gone.stderr).toBe(
      `rbp: backup ${ID} cannot be resumed: the snapshot it kept of ${VOLUME_A} is gone (a later backup of the ` +
        'volume committed an image and deleted it); start a new backup\n',
    );
    expect(api.executions.redrives).toEqual([]);
  });

  it('exit 4 while another backup holds the volume (resume later), exit 3 for an unknown backup', async () => {
    api.locks.locks.set(VOLUME_A, {
      volumeId: VOLUME_A,
      ownerId: 'arn:aws:states:us-east-1:123456789012:execution:rbp-backup:bk-other',
      backupId: 'bk-other',
      acquiredAt: '2026-11-20T11:00:00.000Z',
      expiresAt: '2026-11-22T11:00:00.000Z',
    });
    const held = await standIn.rbp(['backup', 'resume', ID]);
    expect(held.code).toBe(4);
    expect(held.stderr).toBe(
      `rbp: volume ${VOLUME_A} is being backed up by bk-other (lock held until 2026-11-22T11:00:00.000Z): ` +
        `backup ${ID} stays suspended; resume it once bk-other has finished (HTTP 409 Conflict)\n`,
    );
    const unknown = await standIn.rbp(['backup', 'resume', 'bk-nope']);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toBe('rbp: backup bk-nope does not exist (HTTP 404 NotFound)\n');
  });
});
