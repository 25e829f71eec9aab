/**
 * `rbp local serve` deploys the product on the local stack and prints `API <url>`; the other rbp
 * commands reach it through the printed environment: a replica made from a real ext4 image is
 * backed up by the real state machine (`rbp backup start --wait`), and a file restored from the
 * image equals its source byte for byte.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';
import { firstLines, stopChild } from '../support/child-process.ts';

const RBP = new URL('../../bin/rbp', import.meta.url).pathname;
const run = promisify(execFile);
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
    serve = spawn(
      RBP,
      ['local', 'serve', '--state-dir', path.join(work, 'state'), '--snapshot-delay-ms', '200'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines = await firstLines(serve, 8, 60_000);
    const endpoint = lines[0]!.slice('READY '.length);
    expect(lines[7]).toBe(`API ${endpoint}/_api`);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.RBP_API_URL;
    for (const line of lines.slice(1, 7)) {
      const [name, value] = line.slice('export '.length).split('=') as [string, string];
      env[name] = value;
    }

    const source = path.join(work, 'src');
    await mkdir(path.join(source, 'etc'), { recursive: true });
    const motd = Buffer.from('hello from the replica\n'.repeat(5000));
    await writeFile(path.join(source, 'etc/motd'), motd);
    const image = path.join(work, 'disk.img');
    await makeExtImage(image, {
      type: 'ext4',
      sizeBytes: 16 * 1024 * 1024,
      blockSize: 4096,
      sourceDir: source,
    });
    const volumeId = (
      await run(RBP, ['local', 'replica', 'create', '--image', image], { env })
    ).stdout.trim();

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
