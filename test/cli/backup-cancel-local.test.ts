/**
 * `rbp backup cancel` and a `rbp local serve` restart in the middle of a backup (issue 14), on one
 * local stack whose snapshots stay pending (--snapshot-delay-ms): each backup is surely in "Wait
 * For Snapshots", with its snapshot taken, when it is cancelled or the stack stops.
 *
 * - cancel: the answer names the lock released and the snapshot deleted; no snapshot tagged with
 *   the backup is left; `backup ls` shows it CANCELLED (the API: ABORTED, error Cancelled); a new
 *   backup of the volume starts at once; a second cancel is exit 5 with the API's message, an
 *   unknown id exit 3.
 * - restart: the interrupted backup's snapshot is deleted and its lock released at the restart.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { DescribeSnapshotsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstLines, stopChild } from '../support/child-process.ts';
import { makeExtImage, removeDir, scratchDir } from '../support/fs-images.ts';

const RBP = new URL('../../bin/rbp', import.meta.url).pathname;
const run = promisify(execFile);
/** Snapshots stay pending far longer than the test: the backups wait in "Wait For Snapshots". */
const SNAPSHOT_DELAY_MS = 3_600_000;
/** READY, six export lines, API. */
const SERVE_STDOUT_LINES = 8;
const SERVE_READY_TIMEOUT_MS = 120_000;
/** A start of the stack, backups to their snapshot and a restart, on a loaded machine. */
const TEST_TIMEOUT_MS = 420_000;
/** How long a backup may take to reach its snapshot on a loaded machine. */
const SNAPSHOT_TAKEN_TIMEOUT_MS = 120_000;
const POLL_MS = 500;

let work: string;
let serve: ChildProcess | undefined;
let serveErr: string[] = [];
let env: NodeJS.ProcessEnv;
let volumeId: string;

async function startServe(): Promise<NodeJS.ProcessEnv> {
  serve = spawn(
    RBP,
    [
      'local',
      'serve',
      '--state-dir',
      path.join(work, 'state'),
      '--snapshot-delay-ms',
      String(SNAPSHOT_DELAY_MS),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  serveErr = [];
  createInterface({ input: serve.stderr! }).on('line', (line) => serveErr.push(line));
  const lines = await firstLines(serve, SERVE_STDOUT_LINES, SERVE_READY_TIMEOUT_MS);
  const next: NodeJS.ProcessEnv = { ...process.env };
  delete next.RBP_API_URL;
  for (const line of lines.slice(1, 7)) {
    const [name, value] = line.slice('export '.length).split('=') as [string, string];
    next[name] = value;
  }
  return next;
}

async function rbp(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(RBP, args, { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Snapshot ids tagged with the backup id, in the emulator. */
async function snapshotsOf(backupId: string): Promise<string[]> {
  const ec2 = new EC2Client({
    endpoint: env.AWS_ENDPOINT_URL!,
    region: env.AWS_REGION!,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  try {
    const answer = await ec2.send(
      new DescribeSnapshotsCommand({ Filters: [{ Name: 'tag:rbp:backup-id', Values: [backupId] }] }),
    );
    return (answer.Snapshots ?? []).map((s) => s.SnapshotId!).sort();
  } finally {
    ec2.destroy();
  }
}

/** Starts a backup and waits until its snapshot exists (it then waits for it to complete). */
async function backupWithSnapshot(): Promise<{ backupId: string; snapshots: string[] }> {
  const started = await rbp(['backup', 'start', '--volume', volumeId, '--json']);
  expect(started.code, started.stderr).toBe(0);
  const { backupId } = JSON.parse(started.stdout) as { backupId: string };
  const deadline = Date.now() + SNAPSHOT_TAKEN_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const snapshots = await snapshotsOf(backupId);
    if (snapshots.length > 0) return { backupId, snapshots };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw new Error(`backup ${backupId} took no snapshot in ${SNAPSHOT_TAKEN_TIMEOUT_MS} ms`);
}

beforeAll(async () => {
  work = await scratchDir('backup-cancel');
  const source = path.join(work, 'src');
  await mkdir(path.join(source, 'etc'), { recursive: true });
  await writeFile(path.join(source, 'etc/motd'), 'hello\n');
  const image = path.join(work, 'disk.img');
  await makeExtImage(image, {
    type: 'ext4',
    sizeBytes: 16 * 1024 * 1024,
    blockSize: 4096,
    sourceDir: source,
  });
  env = await startServe();
  volumeId = (await run(RBP, ['local', 'replica', 'create', '--image', image], { env })).stdout.trim();
}, SERVE_READY_TIMEOUT_MS + 30_000);

afterAll(async () => {
  await stopChild(serve);
  await removeDir(work);
});

describe('rbp backup cancel, and a restart in the middle of a backup', () => {
  it(
    'cancel releases the lock and deletes the snapshot; backup ls shows CANCELLED; a restart cleans up an interrupted backup',
    async () => {
      const first = await backupWithSnapshot();
      expect(first.snapshots).toHaveLength(1);

      const cancelled = await rbp(['backup', 'cancel', first.backupId, '--json']);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(JSON.parse(cancelled.stdout)).toEqual({
        backupId: first.backupId,
        status: 'ABORTED',
        locksReleased: 1,
        snapshotsDeleted: first.snapshots,
      });
      expect(await snapshotsOf(first.backupId)).toEqual([]);

      const status = JSON.parse((await rbp(['backup', 'status', first.backupId, '--json'])).stdout) as {
        status: string;
        error?: string;
        cause?: string;
        imageId?: string;
      };
      expect(status.status).toBe('ABORTED');
      expect(status.error).toBe('Cancelled');
      expect(status.cause).toMatch(/^cancelled by /);
      expect(status.imageId).toBeUndefined();
      const table = await rbp(['backup', 'ls', '--volume', volumeId]);
      expect(table.stdout.split('\n').find((line) => line.startsWith(first.backupId))).toMatch(
        new RegExp(`^${first.backupId}\\s+CANCELLED\\s+${volumeId}`),
      );
      const images = JSON.parse(
        (await rbp(['images', 'ls', '--volume', volumeId, '--json'])).stdout,
      ) as unknown[];
      expect(images).toEqual([]);

      const again = await rbp(['backup', 'cancel', first.backupId]);
      expect(again.code).toBe(5);
      expect(again.stderr).toContain(
        `backup ${first.backupId} already finished (ABORTED): there is nothing to cancel`,
      );
      const unknown = await rbp(['backup', 'cancel', 'bk-20261120t120000000z-0a1b2c3d4e5f6071']);
      expect(unknown.code).toBe(3);
      expect(unknown.stderr).toContain('backup bk-20261120t120000000z-0a1b2c3d4e5f6071 does not exist');

      // The lock is free at once: the next backup starts (not exit 4) and takes its snapshot.
      const second = await backupWithSnapshot();

      await stopChild(serve);
      env = await startServe();
      expect(serveErr.join('\n')).toContain(
        `released the lock of interrupted backup ${second.backupId} ${volumeId}`,
      );
      expect(serveErr.join('\n')).toContain(
        `deleted the snapshot of interrupted backup ${second.backupId} ${second.snapshots[0]}`,
      );
      expect(await snapshotsOf(second.backupId)).toEqual([]);
      const third = await rbp(['backup', 'start', '--volume', volumeId, '--json']);
      expect(third.code, third.stderr).toBe(0);
      const thirdId = (JSON.parse(third.stdout) as { backupId: string }).backupId;
      expect((await rbp(['backup', 'cancel', thirdId])).code).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});
