/**
 * `rbp local serve --state-dir DIR` across a stop in the middle of a backup (issue 14): the backup
 * comes back ABORTED with a cause that says why, its volume lock is released at the restart (a
 * new backup is not refused), and the new backup succeeds. The replica's agent is slow on the
 * first run, so the backup is surely still running (waiting for the checkpoint) at the stop.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopChild } from '../support/child-process.ts';
import { createReplica, RBP_BIN as RBP, startLocalServe } from '../support/cli.ts';
import { removeDir, scratchDir } from '../support/fs-images.ts';

const run = promisify(execFile);
/** Long enough that the first backup is still waiting for its checkpoint when the stack stops. */
const SLOW_AGENT_MS = 120_000;
/** Two starts of the stack and a backup on a loaded machine. */
const TEST_TIMEOUT_MS = 420_000;
const SERVE_READY_TIMEOUT_MS = 90_000;

let work: string;
let serve: ChildProcess | undefined;
let serveErr: readonly string[] = [];

async function startServe(extra: string[]): Promise<NodeJS.ProcessEnv> {
  const served = await startLocalServe(
    ['--state-dir', path.join(work, 'state'), ...extra],
    SERVE_READY_TIMEOUT_MS,
  );
  serve = served.child;
  serveErr = served.stderr;
  return served.env;
}

beforeAll(async () => {
  work = await scratchDir('serve-restart');
});

afterAll(async () => {
  await stopChild(serve);
  await removeDir(work);
});

describe('rbp local serve across a restart', () => {
  it(
    'a backup interrupted by the stop is ABORTED, its lock released, and the next backup succeeds',
    async () => {
      let env = await startServe(['--agent-delay-ms', String(SLOW_AGENT_MS)]);
      const volumeId = await createReplica(env, work, { 'etc/motd': 'hello\n' });
      const started = JSON.parse(
        (await run(RBP, ['backup', 'start', '--volume', volumeId, '--json'], { env })).stdout,
      ) as { backupId: string };
      const running = JSON.parse(
        (await run(RBP, ['backup', 'status', started.backupId, '--json'], { env })).stdout,
      ) as { status: string };
      expect(running.status).toBe('RUNNING');

      await stopChild(serve);
      env = await startServe([]);
      expect(serveErr.join('\n')).toContain(
        `released the lock of interrupted backup ${started.backupId} ${volumeId}`,
      );
      const aborted = JSON.parse(
        (
          await run(RBP, ['backup', 'status', started.backupId, '--json'], { env }).catch(
            (e: { stdout: string }) => e,
          )
        ).stdout,
      ) as { status: string; cause?: string };
      expect(aborted.status).toBe('ABORTED');
      expect(aborted.cause).toBe('the local stack stopped while this execution ran');

      const next = JSON.parse(
        (
          await run(
            RBP,
            ['backup', 'start', '--volume', volumeId, '--wait', '--poll-interval', '0.5', '--json'],
            {
              env,
            },
          )
        ).stdout,
      ) as { status: string; imageId?: string };
      expect(next.status).toBe('SUCCEEDED');
      expect(next.imageId).toMatch(/^img-bk-/);
    },
    TEST_TIMEOUT_MS,
  );
});
