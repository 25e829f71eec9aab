/** Helpers for tests that run `bin/rbp` (or any long-running command) as a child process. */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Resolves with the first `count` lines of the child's stdout; rejects on timeout or early exit. */
export function firstLines(child: ChildProcess, count: number, timeoutMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const lines: string[] = [];
    const reader = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => reject(new Error(`only ${lines.length} lines in ${timeoutMs} ms`)),
      timeoutMs,
    );
    reader.on('line', (line) => {
      lines.push(line);
      if (lines.length === count) {
        clearTimeout(timer);
        reader.close();
        resolve(lines);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} after ${lines.length} lines`)));
  });
}

/** Sends SIGTERM to a child that is still running and waits until it has exited. */
export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
