/**
 * examples/agent/checkpoint-agent.sh run for real (bash, jq, coreutils timeout) with `--once`
 * against a stand-in `aws` command on PATH that serves one queued event and records every call.
 * The hooks append their names to a log, so the tests see what ran, in which order.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/** How often the stop test looks whether the hook it waits for has run. */
const KILL_POLL_MS = 50;
const AGENT = fileURLToPath(new URL('../../examples/agent/checkpoint-agent.sh', import.meta.url));
const SERVER = 'web-1';

interface Run {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Hook names in the order they ran. */
  readonly hooks: string[];
  /** `aws ...` command lines in the order they were made. */
  readonly aws: string[];
  readonly stderr: string;
  readonly ms: number;
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function runAgent(
  hooks: Partial<Record<'QUIESCE' | 'METADATA' | 'MARK' | 'RESUME' | 'FLUSHED', string>>,
  options: { readonly maxSeconds?: number; readonly killWhenHookRan?: string } = {},
): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'rbp-agent-'));
  dirs.push(dir);
  const hookLog = join(dir, 'hooks.log');
  const awsLog = join(dir, 'aws.log');
  const detail = {
    version: 1,
    serverId: SERVER,
    checkpointId: 'bk-1-r1',
    deadline: '2999-01-01T00:00:00.000Z',
    volumeIds: ['vol-0a1b2c3d4e5f60718'],
  };
  writeFileSync(
    join(dir, 'message.json'),
    JSON.stringify({
      Messages: [
        {
          ReceiptHandle: 'receipt-1',
          Body: JSON.stringify({ 'detail-type': 'Checkpoint Requested', detail }),
        },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'aws'),
    `#!/usr/bin/env bash\necho "aws $*" >> "${awsLog}"\nif [[ "$1 $2" == "sqs receive-message" ]]; then cat "${join(dir, 'message.json')}"; fi\n`,
  );
  chmodSync(join(dir, 'aws'), 0o755);
  const hook = (name: string, extra = '') => `echo ${name} >> "${hookLog}"${extra}`;
  const env = {
    PATH: `${dir}:${process.env['PATH'] ?? ''}`,
    HOME: dir,
    RBP_QUEUE_URL: 'https://sqs.example/queue',
    RBP_SERVER_ID: SERVER,
    RBP_QUIESCE_CMD: hooks.QUIESCE ?? hook('quiesce'),
    RBP_METADATA_CMD: hooks.METADATA ?? hook('metadata'),
    RBP_MARK_CMD: hooks.MARK ?? hook('mark'),
    RBP_RESUME_CMD: hooks.RESUME ?? hook('resume'),
    RBP_FLUSHED_CMD: hooks.FLUSHED ?? 'true',
    RBP_QUIESCE_MAX_SECONDS: String(options.maxSeconds ?? 30),
    RBP_RESUME_RETRY_SECONDS: '0',
    HOOK_LOG: hookLog,
  };
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('bash', [AGENT, '--once'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (options.killWhenHookRan !== undefined) {
      // Stop the agent once the hook is running (the machine may be slow to get there).
      const hook = options.killWhenHookRan;
      const poll = setInterval(() => {
        let ran: string;
        try {
          ran = readFileSync(hookLog, 'utf8');
        } catch {
          return;
        }
        if (ran.split('\n').includes(hook)) {
          clearInterval(poll);
          child.kill('SIGTERM');
        }
      }, KILL_POLL_MS);
      child.on('close', () => clearInterval(poll));
    }
    child.on('close', (code, signal) => {
      const read = (path: string) => {
        try {
          return readFileSync(path, 'utf8').split('\n').filter(Boolean);
        } catch {
          return [];
        }
      };
      resolve({ code, signal, hooks: read(hookLog), aws: read(awsLog), stderr, ms: Date.now() - started });
    });
  });
}

const TAGS = 'aws ec2 create-tags --resources vol-0a1b2c3d4e5f60718';
/** Did the agent set the checkpoint tags on the replica? */
const tagged = (run: Run) => run.aws.some((line) => line.startsWith(`${TAGS} --tags`));
const DELETE = 'aws sqs delete-message --queue-url https://sqs.example/queue --receipt-handle receipt-1';

describe('examples/agent/checkpoint-agent.sh', () => {
  it('quiesces, writes the metadata, marks, resumes, then tags the replica and deletes the message', async () => {
    const run = await runAgent({});
    expect(run.code).toBe(0);
    expect(run.hooks).toEqual(['quiesce', 'metadata', 'mark', 'resume']);
    expect(run.aws.map((line) => line.split(' --tags')[0])).toEqual([
      'aws sqs receive-message --queue-url https://sqs.example/queue --max-number-of-messages 1 --wait-time-seconds 20 --output json',
      TAGS,
      DELETE,
    ]);
  });

  it('a failing mark still resumes once; nothing is tagged and the message is consumed', async () => {
    const run = await runAgent({ MARK: 'echo mark >> "$HOOK_LOG"; exit 7' });
    expect(run.code).toBe(0);
    expect(run.hooks).toEqual(['quiesce', 'metadata', 'mark', 'resume']);
    expect(tagged(run)).toBe(false);
    expect(run.aws.at(-1)).toBe(DELETE);
    expect(run.stderr).toContain(
      'checkpoint bk-1-r1 not taken: quiesce, metadata or mark ended with status 7; the application was resumed',
    );
  });

  it('a failing quiesce neither writes metadata nor marks, and still resumes', async () => {
    const run = await runAgent({ QUIESCE: 'echo quiesce >> "$HOOK_LOG"; exit 1' });
    expect(run.code).toBe(0);
    expect(run.hooks).toEqual(['quiesce', 'resume']);
    expect(tagged(run)).toBe(false);
  });

  it('a metadata step that hangs is cut at RBP_QUIESCE_MAX_SECONDS and the application resumed', async () => {
    const run = await runAgent({ METADATA: 'echo metadata >> "$HOOK_LOG"; sleep 60' }, { maxSeconds: 1 });
    expect(run.code).toBe(0);
    expect(run.hooks).toEqual(['quiesce', 'metadata', 'resume']);
    expect(run.ms).toBeLessThan(20_000);
    expect(run.stderr).toContain('ended with status 124 (timed out after 1s)');
  });

  it('a resume that fails is tried again', async () => {
    const run = await runAgent({
      RESUME: 'echo resume >> "$HOOK_LOG"; [ "$(grep -c resume "$HOOK_LOG")" -ge 2 ]',
    });
    expect(run.hooks).toEqual(['quiesce', 'metadata', 'mark', 'resume', 'resume']);
    expect(run.stderr).toContain('resume attempt 1 of 3 failed');
    expect(tagged(run)).toBe(true);
  });

  it('an agent stopped while the application is quiesced resumes it on its way out', async () => {
    const run = await runAgent(
      { QUIESCE: 'echo quiesce >> "$HOOK_LOG"; sleep 30' },
      { maxSeconds: 60, killWhenHookRan: 'quiesce' },
    );
    expect(run.hooks).toEqual(['quiesce', 'resume']);
    expect(tagged(run)).toBe(false);
  });
});
