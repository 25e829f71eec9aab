/**
 * Local Lambda functions made of a shell command (`rbp local function create --name N --command C`),
 * so that a plan's hook can be registered on the local stack without AWS. An invocation runs
 * `sh -c COMMAND` with the JSON payload on stdin:
 *
 * - exit code 0 is success; stdout is the result (parsed as JSON; empty stdout is `null`, anything
 *   that is not JSON is returned as a JSON string);
 * - any other exit code is a function error whose message is the command's stderr (or
 *   `exited with code N` when it wrote none), errorType `CommandFailed`;
 * - a command still running after the function's timeout is killed (its whole process group) and
 *   answered as Lambda answers a timeout: errorType `Sandbox.Timedout`, `Task timed out after N.00 seconds`
 *   (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html).
 *
 * Invoked through the gateway, the answer has Lambda Invoke's shape (lambda-functions.ts): 200 with
 * the result, or 200 with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage, trace}`.
 * The functions are kept in the state directory (functions.json, openState()), so a restarted
 * `rbp local serve --state-dir DIR` has the same functions, as it has the same replicas.
 */
import { spawn } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ConflictError, NotFoundError, ValidationError } from '../../lambdas/core/errors.ts';
import type { LambdaFunctions, LambdaHandler } from './lambda-functions.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './local-account.ts';

/** Lambda's own default function timeout is 3 s; a hook command (a script, a curl) gets more by default. */
export const DEFAULT_COMMAND_TIMEOUT_SECONDS = 60;
/** Lambda's maximum function timeout (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html). */
export const MAX_COMMAND_TIMEOUT_SECONDS = 900;
/** Output kept from stdout and stderr: Lambda's synchronous response payload limit is 6 MB. */
const MAX_OUTPUT_BYTES = 6 * 1024 * 1024;
/** Lambda function names: letters, digits, `-` and `_`, at most 64 characters. */
const FUNCTION_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** The command functions' file in the local stack's state directory. */
export const COMMAND_FUNCTIONS_FILE_NAME = 'functions.json';
/** Version of that file's format; a file of another version is refused, not misread. */
const COMMAND_FUNCTIONS_FORMAT_VERSION = 1;

const CommandFunctionsFileSchema = z
  .object({
    version: z.literal(COMMAND_FUNCTIONS_FORMAT_VERSION),
    functions: z.array(
      z
        .object({
          name: z.string().regex(FUNCTION_NAME),
          arn: z.string(),
          command: z.string().min(1),
          timeoutSeconds: z.number().int().min(1).max(MAX_COMMAND_TIMEOUT_SECONDS),
        })
        .strict(),
    ),
  })
  .strict();

export interface CommandFunctionSpec {
  readonly name: string;
  /** A POSIX shell command line, run with `sh -c`. */
  readonly command: string;
  readonly timeoutSeconds?: number;
}

export interface CommandFunction {
  readonly name: string;
  readonly arn: string;
  readonly command: string;
  readonly timeoutSeconds: number;
}

/** A command that exited with a code other than 0: the Lambda errorType is the class name. */
export class CommandFailedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
  ) {
    super(message);
    this.name = 'CommandFailed';
  }
}

class CommandTimedOutError extends Error {
  constructor(timeoutSeconds: number) {
    super(`Task timed out after ${timeoutSeconds.toFixed(2)} seconds`);
    this.name = 'Sandbox.Timedout';
  }
}

function functionArn(name: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${name}`;
}

/** Collects a stream's bytes up to MAX_OUTPUT_BYTES. */
function collector(): { add(chunk: Buffer): void; text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add(chunk) {
      if (size >= MAX_OUTPUT_BYTES) return;
      chunks.push(chunk.subarray(0, MAX_OUTPUT_BYTES - size));
      size += chunk.length;
    },
    text: () => Buffer.concat(chunks).toString('utf8'),
  };
}

function resultOf(stdout: string): unknown {
  if (stdout.trim() === '') return null;
  try {
    return JSON.parse(stdout) as unknown;
  } catch {
    return stdout;
  }
}

/** The handler that runs `spec.command` once per invocation. */
export function commandHandler(spec: CommandFunction): LambdaHandler {
  return (event, context) =>
    new Promise((resolve, reject) => {
      const child = spawn('sh', ['-c', spec.command], {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true, // its own process group, so a timeout kills whatever the command started
        env: {
          ...process.env,
          AWS_LAMBDA_FUNCTION_NAME: spec.name,
          AWS_LAMBDA_FUNCTION_TIMEOUT: String(spec.timeoutSeconds),
          AWS_REQUEST_ID: context.awsRequestId,
        },
      });
      const stdout = collector();
      const stderr = collector();
      child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
      // A command that does not read its stdin closes the pipe: that is not a failure.
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(event));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, spec.timeoutSeconds * 1000);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(new CommandFailedError(`cannot run the command: ${error.message}`, null));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        if (timedOut) reject(new CommandTimedOutError(spec.timeoutSeconds));
        else if (code === 0) resolve(resultOf(stdout.text()));
        else {
          const message = stderr.text().trim();
          reject(new CommandFailedError(message === '' ? `exited with code ${String(code)}` : message, code));
        }
      });
    });
}

/** The command functions of one gateway, registered with its Lambda function table. */
export class CommandFunctions {
  private readonly specs = new Map<string, CommandFunction>();
  /** The state file once openState() ran; until then the functions live in memory only. */
  private statePath: string | undefined;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly functions: LambdaFunctions) {}

  /**
   * Keeps the functions in `stateDir`/functions.json from now on, and registers the ones that file
   * holds (a restarted local stack's functions). A function of that name created since is kept.
   */
  async openState(stateDir: string): Promise<CommandFunction[]> {
    const path = join(stateDir, COMMAND_FUNCTIONS_FILE_NAME);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const restored: CommandFunction[] = [];
    if (text !== undefined) {
      for (const saved of CommandFunctionsFileSchema.parse(JSON.parse(text)).functions) {
        if (this.specs.has(saved.name)) continue;
        this.functions.register(saved.name, commandHandler(saved));
        this.specs.set(saved.name, saved);
        restored.push(saved);
      }
    }
    this.statePath = path;
    await this.save();
    return restored;
  }

  /** Like Lambda CreateFunction: a name that exists (a command or a product function) is a conflict. */
  async create(spec: CommandFunctionSpec): Promise<CommandFunction> {
    if (!FUNCTION_NAME.test(spec.name)) {
      throw new ValidationError(`function name ${JSON.stringify(spec.name)} must be 1-64 of A-Z a-z 0-9 - _`);
    }
    if (spec.command.trim() === '') throw new ValidationError('the command is empty');
    const timeoutSeconds = spec.timeoutSeconds ?? DEFAULT_COMMAND_TIMEOUT_SECONDS;
    if (
      !Number.isInteger(timeoutSeconds) ||
      timeoutSeconds < 1 ||
      timeoutSeconds > MAX_COMMAND_TIMEOUT_SECONDS
    ) {
      throw new ValidationError(`timeoutSeconds must be an integer from 1 to ${MAX_COMMAND_TIMEOUT_SECONDS}`);
    }
    if (this.functions.names().includes(spec.name)) {
      throw new ConflictError(`Function already exist: ${spec.name}`, { context: { function: spec.name } });
    }
    const created: CommandFunction = {
      name: spec.name,
      arn: functionArn(spec.name),
      command: spec.command,
      timeoutSeconds,
    };
    this.functions.register(spec.name, commandHandler(created));
    this.specs.set(spec.name, created);
    await this.save();
    return created;
  }

  list(): CommandFunction[] {
    return [...this.specs.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): CommandFunction {
    const spec = this.specs.get(name);
    if (spec === undefined) throw new NotFoundError(`Function not found: ${functionArn(name)}`);
    return spec;
  }

  /** Removes a command function; product functions cannot be removed this way. */
  async remove(name: string): Promise<CommandFunction> {
    const spec = this.get(name);
    this.functions.unregister(name);
    this.specs.delete(name);
    await this.save();
    return spec;
  }

  /** Writes the state file (atomically: a temporary file renamed over it); saves never overlap. */
  private save(): Promise<void> {
    const path = this.statePath;
    if (path === undefined) return Promise.resolve();
    const write = async (): Promise<void> => {
      const content = { version: COMMAND_FUNCTIONS_FORMAT_VERSION, functions: this.list() };
      await writeFile(`${path}.tmp`, `${JSON.stringify(content, null, 2)}\n`);
      await rename(`${path}.tmp`, path);
    };
    this.saving = this.saving.then(write, write);
    return this.saving;
  }
}
