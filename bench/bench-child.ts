/**
 * Re-running a suite file in a fresh Node process (so its RSS figures are its own): the task goes
 * in as JSON in an environment variable, the child prints one line `RESULT <json>` on stdout.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface BenchChildOutcome<T> {
  /** The parsed RESULT line; undefined when the child printed none. */
  readonly result?: T;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

export function runBenchChild<T>(
  file: string,
  taskEnvVar: string,
  task: unknown,
  options: { readonly nodeArgs?: readonly string[]; readonly timeoutMs?: number } = {},
): Promise<BenchChildOutcome<T>> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...(options.nodeArgs ?? []), '--import', import.meta.resolve('tsx'), file],
      {
        env: { ...process.env, [taskEnvVar]: JSON.stringify(task) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({
        ...(line === undefined ? {} : { result: JSON.parse(line.slice('RESULT '.length)) as T }),
        code,
        signal,
        stderr: err,
      });
    });
  });
}

/**
 * This process's peak resident set in KiB. VmHWM, not getrusage: ru_maxrss survives fork+exec, so
 * a child would report its parent's peak (the bench runner's, after the suites before it).
 */
export function peakRssKiB(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
}
