/**
 * The simulated replication agent from the command line: `rbp local serve --no-agent` starts with
 * the agent off (says so), and `rbp local agent` reads and changes its settings on the running stack.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeDir, scratchDir } from '../support/fs-images.ts';
import { stopChild } from '../support/child-process.ts';

const RBP = new URL('../../bin/rbp', import.meta.url).pathname;
const run = promisify(execFile);
let work: string;
let serve: ChildProcess | undefined;

beforeAll(async () => {
  work = await scratchDir('agent-cli');
});

afterAll(async () => {
  await stopChild(serve);
  await removeDir(work);
});

function untilReady(child: ChildProcess, timeoutMs: number): Promise<{ endpoint: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const reader = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`not ready in ${timeoutMs} ms: ${stderr}`)), timeoutMs);
    reader.on('line', (line) => {
      if (!line.startsWith('API ')) return;
      clearTimeout(timer);
      reader.close();
      // The summary line on stderr follows the API line.
      setTimeout(() => resolve({ endpoint: line.slice('API '.length).replace(/\/_api$/, ''), stderr }), 200);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stderr}`)));
  });
}

describe('rbp local serve --no-agent and rbp local agent', () => {
  it('starts with the agent off; rbp local agent switches it on with a delay', async () => {
    serve = spawn(RBP, ['local', 'serve', '--no-agent', '--state-dir', path.join(work, 'state')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const { endpoint, stderr } = await untilReady(serve, 60_000);
    expect(stderr).toContain('replication agent off (checkpoints time out)');

    const agent = async (...args: string[]): Promise<unknown> =>
      JSON.parse((await run(RBP, ['local', 'agent', '--endpoint', endpoint, ...args])).stdout) as unknown;
    expect(await agent()).toEqual({ autoCheckpoint: false, answerDelayMs: 0 });
    expect(await agent('--auto-checkpoint', 'on', '--delay-ms', '250')).toEqual({
      autoCheckpoint: true,
      answerDelayMs: 250,
    });
    const status = (await (await fetch(`${endpoint}/_local/agent`)).json()) as {
      settings: unknown;
      held: unknown;
    };
    expect(status).toMatchObject({ settings: { autoCheckpoint: true, answerDelayMs: 250 }, held: [] });
    await expect(
      run(RBP, ['local', 'agent', '--endpoint', endpoint, '--auto-checkpoint', 'maybe']),
    ).rejects.toThrow(/argument 'maybe' is invalid/);
  }, 90_000);
});
