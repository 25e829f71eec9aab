/**
 * `rbp local serve` deploys the product on the local stack and prints `API <url>`; the other rbp
 * commands reach it through the printed environment: a replica made from a real ext4 image is
 * backed up by the real state machine (`rbp backup start --wait`), and a file restored from the
 * image equals its source byte for byte.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, scratchDir } from '../support/fs-images.ts';
import { stopChild } from '../support/child-process.ts';
import { createReplica, RBP_BIN as RBP, startLocalServe } from '../support/cli.ts';

const run = promisify(execFile);
/** The stack prints READY after ~50 s when the machine is loaded (2 cores, parallel test files). */
const SERVE_READY_TIMEOUT_MS = 90_000;
let work: string;
let serve: ChildProcess | undefined;

beforeAll(async () => {
  work = await scratchDir('serve-api');
});

afterAll(async () => {
  await stopChild(serve);
  await removeDir(work);
});

describe('rbp local serve with the API', () => {
  it('prints API <url>; backup start --wait runs the real state machine; restore file equals its source', async () => {
    const served = await startLocalServe(
      ['--state-dir', path.join(work, 'state'), '--snapshot-delay-ms', '200'],
      SERVE_READY_TIMEOUT_MS,
    );
    serve = served.child;
    const { endpoint, env } = served;
    expect(served.lines[7]).toBe(`API ${endpoint}/_api`);

    const motd = Buffer.from('hello from the replica\n'.repeat(5000));
    const volumeId = await createReplica(env, work, { 'etc/motd': motd });

    const backup = JSON.parse(
      (
        await run(
          RBP,
          ['backup', 'start', '--volume', volumeId, '--wait', '--poll-interval', '0.5', '--json'],
          { env },
        )
      ).stdout,
    ) as { status: string; imageId: string; step: string };
    expect(backup.status).toBe('SUCCEEDED');
    expect(backup.imageId).toMatch(/^img-bk-/);
    expect(backup.step).not.toBe('Acquire Lock');

    const images = JSON.parse(
      (await run(RBP, ['images', 'ls', '--volume', volumeId, '--json'], { env })).stdout,
    ) as {
      imageId: string;
      status: string;
    }[];
    expect(images.map((i) => [i.imageId, i.status])).toEqual([[backup.imageId, 'cataloged']]);

    const out = path.join(work, 'motd');
    await run(
      RBP,
      [
        'restore',
        'file',
        '--image',
        backup.imageId,
        '--path',
        '/etc/motd',
        '--out',
        out,
        '--poll-interval',
        '0.5',
      ],
      { env },
    );
    expect((await readFile(out)).equals(motd)).toBe(true);
  }, 180_000);
});
