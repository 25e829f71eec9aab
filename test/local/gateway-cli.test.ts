/**
 * `rbp local serve` as a child process, the way an operator runs it: one READY line and the
 * export lines; `rbp local replica create` registers an image through the admin API; the SDK
 * snapshots the replica and reads its blocks back byte for byte; SIGTERM stops everything (moto's
 * PID is gone) and the command exits 0. Also: moto exits by itself when its parent is killed.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  DescribeVolumesCommand,
  EC2Client,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { isProcessAlive } from '../../local/moto/moto-server.ts';
import { localClientConfig } from '../support/local-stack.ts';
import { firstLines } from '../support/child-process.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RBP = join(ROOT, 'bin', 'rbp');
const B = EBS_BLOCK_SIZE_BYTES;

let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'rbp-cli-test-'));
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

describe('rbp local serve', () => {
  it('prints READY and the client environment, serves replicas to the SDK, and stops cleanly on SIGTERM', async () => {
    const stateDir = join(workDir, 'state');
    const serve = spawn(RBP, ['local', 'serve', '--state-dir', stateDir, '--snapshot-delay-ms', '200'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      serve.once('exit', (code, signal) => resolve([code, signal])),
    );
    try {
      const lines = await firstLines(serve, 8, 30_000);
      expect(lines[0]).toMatch(/^READY http:\/\/127\.0\.0\.1:\d+$/);
      const endpoint = lines[0]!.slice('READY '.length);
      expect(lines.slice(1)).toEqual([
        `export AWS_ENDPOINT_URL=${endpoint}`,
        'export AWS_REGION=us-east-1',
        'export AWS_DEFAULT_REGION=us-east-1',
        'export AWS_ACCESS_KEY_ID=testing',
        'export AWS_SECRET_ACCESS_KEY=testing',
        'export AWS_EC2_METADATA_DISABLED=true',
        `API ${endpoint}/_api`,
      ]);

      const image = Buffer.alloc(4 * B + 100);
      for (const index of [0, 1, 3]) randomBytes(B).copy(image, index * B);
      randomBytes(100).copy(image, 4 * B);
      const imagePath = join(workDir, 'disk.img');
      await writeFile(imagePath, image);
      const created = await promisify(execFile)(
        RBP,
        [
          'local',
          'replica',
          'create',
          '--image',
          imagePath,
          '--server',
          's-0000000000000000a',
          '--device',
          '/dev/sdc',
        ],
        { env: { ...process.env, AWS_ENDPOINT_URL: endpoint } },
      );
      const volumeId = created.stdout.trim();
      expect(created.stdout).toMatch(/^vol-[0-9a-f]{17}\n$/);

      const config = localClientConfig(endpoint);
      const ec2 = new EC2Client(config);
      const ebs = new EBSClient(config);
      try {
        const volume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes![0]!;
        expect(volume.Tags).toEqual(
          expect.arrayContaining([
            { Key: 'rbp:replica', Value: 'true' },
            { Key: 'rbp:source-server', Value: 's-0000000000000000a' },
            { Key: 'rbp:source-device', Value: '/dev/sdc' },
          ]),
        );
        const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
        expect(snapshot.State).toBe('pending');
        const waited = await waitUntilSnapshotCompleted(
          { client: ec2, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
          { SnapshotIds: [snapshot.SnapshotId!] },
        );
        expect(waited.state).toBe('SUCCESS');

        const listed = await ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshot.SnapshotId! }));
        expect(listed.Blocks!.map((block) => block.BlockIndex)).toEqual([0, 1, 3, 4]);
        for (const block of listed.Blocks!) {
          const read = await ebs.send(
            new GetSnapshotBlockCommand({
              SnapshotId: snapshot.SnapshotId!,
              BlockIndex: block.BlockIndex!,
              BlockToken: block.BlockToken!,
            }),
          );
          const expected = Buffer.alloc(B);
          image.copy(expected, 0, block.BlockIndex! * B, (block.BlockIndex! + 1) * B);
          expect(Buffer.from(await read.BlockData!.transformToByteArray()).equals(expected)).toBe(true);
        }
      } finally {
        ec2.destroy();
        ebs.destroy();
      }

      const health = (await (await fetch(`${endpoint}/_local/health`)).json()) as { motoPid: number };
      expect(isProcessAlive(health.motoPid)).toBe(true);
      serve.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
      expect(await waitUntilGone(health.motoPid, 3_000)).toBe(true);
    } finally {
      if (serve.exitCode === null) serve.kill('SIGKILL');
    }
  });

  it('prints the volume id error to stderr and exits 1 when no gateway is reachable', async () => {
    const failure = await promisify(execFile)(RBP, ['local', 'replica', 'create', '--image', '/x.img'], {
      env: { ...process.env, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
    }).catch((error: unknown) => error as { code: number; stderr: string; stdout: string });
    expect(failure).toMatchObject({ code: 1, stdout: '' });
    expect((failure as { stderr: string }).stderr).toMatch(
      /^rbp: cannot reach the local gateway at http:\/\/127\.0\.0\.1:9/,
    );
  });
});

describe('moto started by a process that dies', () => {
  it('exits by itself when its parent is killed with SIGKILL', async () => {
    const loader = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const child = spawn(
      process.execPath,
      ['--import', loader, join(ROOT, 'test', 'support', 'moto-child.ts')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const [pidLine] = await firstLines(child, 1, 30_000);
    const motoPid = Number(pidLine);
    expect(isProcessAlive(motoPid)).toBe(true);
    child.kill('SIGKILL');
    expect(await waitUntilGone(motoPid, 5_000)).toBe(true);
  });
});
