/**
 * `rbp local function create`: a local Lambda function made of a shell command, invoked through the
 * gateway with Lambda Invoke's semantics (the result, or X-Amz-Function-Error with errorType and
 * errorMessage), with real shell commands.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAdminClient, LocalAdminError } from '../../local/gateway/admin-client.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';

const RBP = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'rbp');
const run = promisify(execFile);
const local = useLocalStack();
const aws = useLocalClients(local);
let admin: LocalAdminClient;
let workDir: string;

beforeAll(async () => {
  admin = new LocalAdminClient(local.stack.endpoint);
  workDir = await mkdtemp(join(tmpdir(), 'rbp-local-function-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function invoke(name: string, payload: unknown, invocationType?: 'Event') {
  const answer = await aws.lambda.send(
    new InvokeCommand({
      FunctionName: name,
      Payload: Buffer.from(JSON.stringify(payload)),
      ...(invocationType === undefined ? {} : { InvocationType: invocationType }),
    }),
  );
  const text = Buffer.from(answer.Payload ?? new Uint8Array()).toString('utf8');
  return {
    status: answer.StatusCode,
    functionError: answer.FunctionError,
    payload: text === '' ? undefined : (JSON.parse(text) as unknown),
  };
}

describe('local command functions', () => {
  it('passes the payload on stdin and returns stdout as the JSON result', async () => {
    const created = await admin.createFunction({
      name: 'echo-phase',
      command: `jq -c '{seen: .phase, plan}'`,
    });
    expect(created).toEqual({
      name: 'echo-phase',
      arn: 'arn:aws:lambda:us-east-1:123456789012:function:echo-phase',
      command: `jq -c '{seen: .phase, plan}'`,
      timeoutSeconds: 60,
    });
    expect(await invoke('echo-phase', { phase: 'pre-task', plan: 'nightly-qa' })).toEqual({
      status: 200,
      functionError: undefined,
      payload: { seen: 'pre-task', plan: 'nightly-qa' },
    });
    // By ARN too, as Step Functions and the hook invoker call it.
    expect((await invoke(created.arn, { phase: 'post-task', plan: 'p' })).payload).toEqual({
      seen: 'post-task',
      plan: 'p',
    });
  });

  it('answers null for no output and a JSON string for output that is not JSON', async () => {
    await admin.createFunction({ name: 'silent', command: 'cat > /dev/null' });
    await admin.createFunction({ name: 'chatty', command: 'echo hello from the hook' });
    expect(await invoke('silent', { a: 1 })).toEqual({
      status: 200,
      functionError: undefined,
      payload: null,
    });
    expect((await invoke('chatty', {})).payload).toBe('hello from the hook\n');
  });

  it('fails with the command stderr as the message when it exits non-zero', async () => {
    await admin.createFunction({
      name: 'refuse',
      command: 'cat > /dev/null; echo "maintenance freeze until 06:00" >&2; exit 3',
    });
    await admin.createFunction({ name: 'quiet-failure', command: 'exit 1' });
    const refused = await invoke('refuse', { phase: 'pre-plan' });
    expect(refused.status).toBe(200);
    expect(refused.functionError).toBe('Unhandled');
    expect(refused.payload).toMatchObject({
      errorType: 'CommandFailed',
      errorMessage: 'maintenance freeze until 06:00',
    });
    expect((await invoke('quiet-failure', {})).payload).toMatchObject({
      errorType: 'CommandFailed',
      errorMessage: 'exited with code 1',
    });
  });

  it('kills a command that outlives its timeout and answers as a Lambda timeout', async () => {
    const marker = join(workDir, 'not-written');
    await admin.createFunction({
      name: 'slow',
      command: `sleep 30; touch ${marker}`,
      timeoutSeconds: 1,
    });
    const started = Date.now();
    const answer = await invoke('slow', {});
    const elapsed = Date.now() - started;
    expect(answer.functionError).toBe('Unhandled');
    expect(answer.payload).toMatchObject({
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 1.00 seconds',
    });
    expect(elapsed).toBeLessThan(10_000);
    await expect(readFile(marker)).rejects.toThrow(/ENOENT/);
  });

  it('runs an asynchronous (Event) invocation in the background', async () => {
    const out = join(workDir, 'event.json');
    await admin.createFunction({ name: 'record', command: `cat > ${out}` });
    expect(await invoke('record', { fired: true }, 'Event')).toEqual({
      status: 202,
      functionError: undefined,
      payload: undefined,
    });
    const deadline = Date.now() + 10_000;
    let text = '';
    while (text === '' && Date.now() < deadline) {
      text = await readFile(out, 'utf8').catch(() => '');
      if (text === '') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(JSON.parse(text)).toEqual({ fired: true });
  });

  it('refuses a name that exists or is not a Lambda name, lists and removes functions', async () => {
    await admin.createFunction({ name: 'dup', command: 'true' });
    await expect(admin.createFunction({ name: 'dup', command: 'false' })).rejects.toEqual(
      new LocalAdminError('Function already exist: dup', 409, 'Conflict'),
    );
    await expect(admin.createFunction({ name: 'bad name', command: 'true' })).rejects.toMatchObject({
      status: 400,
      message: 'function name "bad name" must be 1-64 of A-Z a-z 0-9 - _',
    });
    expect((await admin.listFunctions()).map((f) => f.name)).toContain('dup');
    expect((await admin.removeFunction('dup')).name).toBe('dup');
    expect((await admin.listFunctions()).map((f) => f.name)).not.toContain('dup');
    await expect(
      aws.lambda.send(new InvokeCommand({ FunctionName: 'dup', Payload: Buffer.from('{}') })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(admin.removeFunction('dup')).rejects.toMatchObject({ status: 404 });
  });

  it('is created, listed and removed with the rbp CLI', async () => {
    const cli = (...args: string[]) =>
      run(RBP, ['local', 'function', ...args, '--endpoint', local.stack.endpoint]);
    const created = await cli('create', '--name', 'cli-hook', '--command', 'echo \'{"status":"ok"}\'');
    expect(created.stdout).toBe('arn:aws:lambda:us-east-1:123456789012:function:cli-hook\n');
    expect((await invoke('cli-hook', {})).payload).toEqual({ status: 'ok' });
    const listed = JSON.parse((await cli('ls')).stdout) as { name: string }[];
    expect(listed.map((f) => f.name)).toContain('cli-hook');
    expect((await cli('rm', 'cli-hook')).stdout).toBe(
      'arn:aws:lambda:us-east-1:123456789012:function:cli-hook\n',
    );
    await expect(
      cli('create', '--name', 'x', '--command', 'true', '--timeout-seconds', '0'),
    ).rejects.toMatchObject({
      stderr: expect.stringContaining('not an integer from 1 to 900') as unknown,
    });
  });
});
