/**
 * Starts the preinstalled moto server through the committed `moto_patch.py` launcher (Step
 * Functions deepcopy fix, EC2 snapshot registration for the gateway, exit-with-parent watchdog),
 * on a free 127.0.0.1 port, and stops it by PID.
 *
 * moto's Step Functions interpreter calls Lambda, S3, DynamoDB and EC2 at
 * `http://localhost:$MOTO_PORT`; MOTO_PORT is therefore the GATEWAY's port, so those calls come
 * back through the gateway (in-process Lambda handlers, the EBS emulator, fault injection).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The launcher that sits next to this file. */
export const MOTO_PATCH_PATH = join(dirname(fileURLToPath(import.meta.url)), 'moto_patch.py');

/** moto is ready in about 0.6 s on an idle machine; a loaded 2-core CI box can take several times that. */
const MOTO_READY_TIMEOUT_MS = 20_000;
/** Readiness poll interval: small against the ~0.6 s start-up. */
const MOTO_READY_POLL_MS = 50;
/** Time a stopping moto gets to exit on SIGTERM before it is killed outright. */
const MOTO_STOP_GRACE_MS = 3_000;
/** How often start-up is retried when the free port found was taken by someone else in the meantime. */
const MOTO_START_ATTEMPTS = 3;

/** Settings posted to /moto-api/config: run state machines for real, answer Lambda without Docker. */
export const MOTO_CONFIG = {
  stepfunctions: { execute_state_machine: true },
  lambda: { use_docker: false },
} as const;

export interface MotoServerOptions {
  /** The port moto's own service calls go to (MOTO_PORT): the gateway's port. */
  readonly callbackPort: number;
  /** Where moto's request log goes (it logs every request). Default: discarded. */
  readonly logPath?: string;
  /** A fixed port; default a free one. */
  readonly port?: number;
  /**
   * moto's saved state (POST /_rbp/state/save writes it; moto_patch.py loads it at start-up when
   * it exists). Default: none, moto starts empty and saves nothing.
   */
  readonly statePath?: string;
}

export interface MotoServer {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

export class MotoStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MotoStartError';
  }
}

let cachedPython: string | undefined;

/**
 * The real interpreter (not the pyenv shim, which is a bash wrapper), so the PID we hold is the
 * server's. RBP_PYTHON overrides it.
 */
export function pythonInterpreter(): string {
  const override = process.env.RBP_PYTHON;
  if (override) return override;
  cachedPython ??=
    execFileSync('python3', ['-c', 'import sys;print(sys.prefix)'], { encoding: 'utf8' }).trim() +
    '/bin/python3';
  return cachedPython;
}

export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startMoto(options: MotoServerOptions): Promise<MotoServer> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= MOTO_START_ATTEMPTS; attempt += 1) {
    const port = options.port ?? (await findFreePort());
    try {
      return await startMotoOnPort(port, options);
    } catch (error) {
      lastError = error;
      if (options.port !== undefined) break;
    }
  }
  throw lastError;
}

async function startMotoOnPort(port: number, options: MotoServerOptions): Promise<MotoServer> {
  const logFd = options.logPath ? openSync(options.logPath, 'a') : 'ignore';
  let child: ChildProcess;
  try {
    child = spawn(pythonInterpreter(), [MOTO_PATCH_PATH, '-H', '127.0.0.1', '-p', String(port)], {
      env: {
        ...process.env,
        MOTO_PORT: String(options.callbackPort),
        PYTHONUNBUFFERED: '1',
        ...(options.statePath === undefined ? {} : { RBP_MOTO_STATE_FILE: options.statePath }),
      },
      stdio: ['ignore', logFd, logFd],
      // Its own process group, so stop() can signal moto and anything it started.
      detached: true,
    });
  } finally {
    if (typeof logFd === 'number') closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new MotoStartError('moto did not start (no PID)');

  let exited = false;
  const exitedPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  const killOnExit = (): void => killGroup(pid, 'SIGKILL');
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (exited) return;
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), MOTO_STOP_GRACE_MS);
    await exitedPromise;
    clearTimeout(timer);
    // Threads of running executions can outlive the main process only inside the group.
    killGroup(pid, 'SIGKILL');
  };

  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, () => exited);
    const response = await fetch(`${endpoint}/moto-api/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(MOTO_CONFIG),
    });
    if (!response.ok) throw new MotoStartError(`moto rejected its configuration: HTTP ${response.status}`);
  } catch (error) {
    await stop();
    const log = options.logPath ? tail(options.logPath) : '(no log)';
    throw new MotoStartError(`moto did not become ready on ${endpoint}: ${String(error)}\n${log}`, {
      cause: error,
    });
  }
  return { endpoint, port, pid, stop };
}

async function waitUntilReady(endpoint: string, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + MOTO_READY_TIMEOUT_MS;
  for (;;) {
    if (hasExited()) throw new MotoStartError('moto exited during start-up');
    try {
      const response = await fetch(`${endpoint}/moto-api/config`);
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new MotoStartError(`not ready after ${MOTO_READY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, MOTO_READY_POLL_MS));
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function tail(path: string): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-20).join('\n');
  } catch {
    return '(no log)';
  }
}

/** True while a process with this PID exists. */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
