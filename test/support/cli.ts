/**
 * Running `rbp` in tests, as a process, the way a user runs it:
 * - against a stand-in for the REST API on a local port (`useApiStandIn`: the test answers each
 *   request itself or hands it to the real API handler) with `runCli`;
 * - `rbp local serve` as a child process, with the environment it prints (`startLocalServe`), and
 *   a replica volume made from a small ext4 image of a directory tree (`createReplica`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect } from 'vitest';
import { firstLines, stopChild } from './child-process.ts';
import type { CliHostAnswer, CliHostRequest } from './cli-host.ts';
import { makeExtImage } from './fs-images.ts';

/** The `rbp` launcher of the repository (bin/rbp). */
export const RBP_BIN = new URL('../../bin/rbp', import.meta.url).pathname;

/** What a finished `rbp` process left: its exit code and output. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCliOptions {
  /** The API's region (signing only; the stand-ins do not check signatures). */
  readonly region?: string;
  /** The environment; dummy credentials are added. */
  readonly env?: NodeJS.ProcessEnv;
  readonly accessKeyId?: string;
}

/** Runs `rbp ARGS --endpoint ENDPOINT --region REGION` (cli/main.ts through tsx) to its end. */
export function runCli(
  args: readonly string[],
  endpoint: string,
  { region = 'eu-west-1', env = process.env, accessKeyId = 'test' }: RunCliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'cli/main.ts', ...args, '--endpoint', endpoint, '--region', region],
      { env: { ...env, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: accessKeyId } },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), stdout, stderr }),
    );
  });
}

const CLI_HOST = new URL('./cli-host.ts', import.meta.url).pathname;
const TSX_LOADER = new URL('../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

/** The test process's `rbp` host (test/support/cli-host.ts) and the commands it has not answered. */
interface CliHost {
  readonly child: ChildProcess;
  readonly waiting: Map<number, (result: CliResult) => void>;
  nextId: number;
}

let host: CliHost | undefined;

function cliHost(): CliHost {
  if (host !== undefined && host.child.connected) return host;
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI_HOST], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const started: CliHost = { child, waiting: new Map(), nextId: 1 };
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4096));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  child.on('message', (answer: CliHostAnswer) => {
    started.waiting.get(answer.id)?.({ code: answer.code, stdout: answer.stdout, stderr: answer.stderr });
    started.waiting.delete(answer.id);
  });
  child.on('exit', (code, signal) => {
    for (const resolve of started.waiting.values()) {
      resolve({
        code: -1,
        stdout: '',
        stderr: `the rbp host exited (${code ?? signal}) mid-command: ${output}`,
      });
    }
    started.waiting.clear();
  });
  // The host must never keep a test process alive; it exits when this process does.
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stderr as unknown as { unref(): void }).unref();
  (child.channel as unknown as { unref(): void } | undefined)?.unref();
  host = started;
  return started;
}

/**
 * Runs `rbp ARGS` with exactly the environment `env` to its end, as bin/rbp would (cli/main.ts
 * under tsx, the same exit codes and output), in the test process's one `rbp` host: commands run
 * one after the other, each with a fresh program, and cost no process start.
 */
export function runRbp(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const running = cliHost();
  const id = running.nextId++;
  const request: CliHostRequest = {
    id,
    args,
    env: Object.fromEntries(
      Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
  };
  return new Promise((resolve) => {
    running.waiting.set(id, resolve);
    running.child.send(request);
  });
}

/** `rbp` for a test file: its runs, and its `--json` runs parsed (the run must exit 0). */
export interface Rbp {
  (...args: string[]): Promise<CliResult>;
  readonly json: <T>(...args: string[]) => Promise<T>;
}

/** `rbp` with the environment `env()` gives when each command starts. */
export function rbpWith(env: () => NodeJS.ProcessEnv): Rbp {
  const rbp = (...args: string[]) => runRbp(args, env());
  const json = async <T>(...args: string[]): Promise<T> => {
    const run = await rbp(...args, '--json');
    expect(run, run.stderr).toMatchObject({ code: 0 });
    return JSON.parse(run.stdout) as T;
  };
  return Object.assign(rbp, { json });
}

/** One request as the stand-in received it (the body read whole, as text). */
export interface StandInRequest {
  readonly method: string;
  /** The path with the query, as sent: `/api/restores/rs-1`. */
  readonly url: string;
  readonly body: string;
}

/** The stand-in's answer: `json` as an application/json body, or `text` with `headers`. */
export interface StandInAnswer {
  readonly status: number;
  readonly json?: unknown;
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** The API's 404 for a request the stand-in has no answer for. */
export function noRoute(request: StandInRequest): StandInAnswer {
  return {
    status: 404,
    json: { code: 'NotFound', message: `no route ${request.method} ${request.url}`, details: {} },
  };
}

export interface ApiStandIn {
  /** The base URL with the API's stage, `http://127.0.0.1:PORT/api` (set once the file's tests run). */
  readonly base: string;
  /** `runCli` against this stand-in. */
  rbp(args: readonly string[], options?: RunCliOptions): Promise<CliResult>;
}

/**
 * A local HTTP server standing in for the API while the file's tests run (listening from
 * beforeAll, closed in afterAll); `answer` says what each request gets.
 */
export function useApiStandIn(
  answer: (request: StandInRequest) => StandInAnswer | Promise<StandInAnswer>,
): ApiStandIn {
  let base = '';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      void Promise.resolve(answer({ method: req.method!, url: req.url!, body })).then((reply) => {
        if (reply.json !== undefined) {
          res.writeHead(reply.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(reply.json));
        } else {
          res.writeHead(reply.status, reply.headers);
          res.end(reply.text);
        }
      });
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return {
    get base() {
      return base;
    },
    rbp: (args, options) => runCli(args, base, options),
  };
}

/** What `rbp local serve` prints before it serves: READY <endpoint>, six export lines, API <url>. */
const SERVE_STDOUT_LINES = 8;

export interface LocalServe {
  readonly child: ChildProcess;
  /** The gateway's URL (after READY). */
  readonly endpoint: string;
  /** Its first lines of stdout. */
  readonly lines: readonly string[];
  /** This process's environment with the exports it printed (and no RBP_API_URL of its own). */
  readonly env: NodeJS.ProcessEnv;
  /** Its stderr, line by line, as it comes. */
  readonly stderr: readonly string[];
}

/**
 * Starts `rbp local serve ARGS` and waits (at most `readyTimeoutMs`) until it has printed how to
 * reach it; stops it again when it does not get there.
 */
export async function startLocalServe(args: readonly string[], readyTimeoutMs: number): Promise<LocalServe> {
  const child = spawn(RBP_BIN, ['local', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const lines = await firstLines(child, SERVE_STDOUT_LINES, readyTimeoutMs).catch(async (error: unknown) => {
    await stopChild(child);
    throw error;
  });
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.RBP_API_URL;
  for (const line of lines.slice(1, SERVE_STDOUT_LINES - 1)) {
    const [name, value] = line.slice('export '.length).split('=') as [string, string];
    env[name] = value;
  }
  return { child, endpoint: lines[0]!.slice('READY '.length), lines, env, stderr };
}

/** Size of a test replica's ext4 image: small, and larger than the files the tests put in it. */
const REPLICA_IMAGE_BYTES = 16 * 1024 * 1024;

/**
 * Writes `files` (path below the root → content) under `dir/src`, makes a 16 MiB ext4 image of
 * them in `dir` and registers it with `rbp local replica create` on the stack `env` reaches;
 * returns the replica's volume id.
 */
export async function createReplica(
  env: NodeJS.ProcessEnv,
  dir: string,
  files: Readonly<Record<string, string | Buffer>>,
): Promise<string> {
  const source = path.join(dir, 'src');
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(source, file)), { recursive: true });
    await writeFile(path.join(source, file), content);
  }
  const image = path.join(dir, 'disk.img');
  await makeExtImage(image, {
    type: 'ext4',
    sizeBytes: REPLICA_IMAGE_BYTES,
    blockSize: 4096,
    sourceDir: source,
  });
  const { stdout } = await promisify(execFile)(RBP_BIN, ['local', 'replica', 'create', '--image', image], {
    env,
  });
  return stdout.trim();
}
