/**
 * One long-lived `rbp` for the commands of a test process (started by `runRbp` in
 * test/support/cli.ts, never run by hand): a child process under tsx that evaluates cli/main.ts
 * afresh for each request, with the request's arguments and environment, and answers with what
 * the command wrote to stdout and stderr and the exit code it set. One tsx start per test process
 * instead of one per command (about a second each on a quiet machine, several on a loaded one).
 *
 * Requests come one at a time over the IPC channel; the process ends when its parent goes away.
 */
import type { CliResult } from './cli.ts';

/** One command to run: `rbp ARGS` with exactly the environment ENV. */
export interface CliHostRequest {
  readonly id: number;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface CliHostAnswer extends CliResult {
  readonly id: number;
}

const MAIN = new URL('../../cli/main.ts', import.meta.url).href;

type Write = typeof process.stdout.write;

/** A stand-in for a stream's `write` that appends to `sink` and calls the callback, if any. */
function capture(sink: (text: string) => void): Write {
  return (chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
    sink(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const done = typeof encoding === 'function' ? encoding : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  };
}

async function run({ id, args, env }: CliHostRequest): Promise<CliHostAnswer> {
  let stdout = '';
  let stderr = '';
  const [writeOut, writeErr] = [process.stdout.write, process.stderr.write];
  const errorListeners = process.stdout.listeners('error');
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, env);
  process.argv = [process.argv[0]!, 'rbp', ...args];
  process.exitCode = undefined;
  process.stdout.write = capture((text) => (stdout += text));
  process.stderr.write = capture((text) => (stderr += text));
  try {
    // A new URL is a new module: main.ts runs again (its imports stay loaded) and its top-level
    // await ends when the command has.
    await import(`${MAIN}?run=${id}`);
  } catch (error) {
    stderr += `cli-host: cli/main.ts threw: ${error instanceof Error ? error.stack : String(error)}\n`;
    process.exitCode ??= 1;
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    for (const listener of process.stdout.listeners('error')) {
      if (!errorListeners.includes(listener)) process.stdout.off('error', listener as () => void);
    }
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { id, code, stdout, stderr };
}

let queue = Promise.resolve();
process.on('message', (request: CliHostRequest) => {
  queue = queue.then(async () => {
    process.send!(await run(request));
  });
});
process.on('disconnect', () => process.exit(0));
