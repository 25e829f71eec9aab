/**
 * Plan hooks and primaries across a restart of the local stack as `rbp local serve --state-dir DIR`
 * runs it (the same state directory, moto's state kept): a function made by `rbp local function
 * create` is still listed and still runs its command, one removed before the stop stays removed,
 * and a primary made by `rbp local primary create` is still listed, still attached to its server's
 * instance, still named by its replica, and CreateSnapshots of the instance still copies it byte
 * for byte.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EBSClient } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotsCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2Client,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { startLocalStack, type LocalStack } from '../../local/stack.ts';
import { RBP_BIN as RBP } from '../support/cli.ts';
import { localClientConfig } from '../support/local-stack.ts';
import { snapshotBytes as readSnapshotBytes } from '../workflows/snapshot-blocks.ts';

const run = promisify(execFile);
const B = EBS_BLOCK_SIZE_BYTES;
/** Two starts of moto and the gateway, CLI calls and a snapshot on a loaded machine. */
const TEST_TIMEOUT_MS = 240_000;

let workDir: string;
const running: LocalStack[] = [];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'rbp-plan-restart-'));
});

afterAll(async () => {
  for (const stack of running.splice(0)) await stack.stop();
  await rm(workDir, { recursive: true, force: true });
});

/** Starts the stack as `rbp local serve` does: the one state directory, moto's state kept. */
async function start(): Promise<LocalStack> {
  const stack = await startLocalStack({
    stateDir: join(workDir, 'state'),
    keepState: true,
    snapshotCompletionDelayMs: 100,
  });
  running.push(stack);
  return stack;
}

async function stop(stack: LocalStack): Promise<void> {
  running.splice(running.indexOf(stack), 1);
  await stack.stop();
}

async function invoke(endpoint: string, name: string, payload: unknown) {
  const lambda = new LambdaClient(localClientConfig(endpoint));
  try {
    const answer = await lambda.send(
      new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }),
    );
    const text = Buffer.from(answer.Payload ?? new Uint8Array()).toString('utf8');
    return { functionError: answer.FunctionError, payload: JSON.parse(text) as unknown };
  } finally {
    lambda.destroy();
  }
}

/** The snapshot's first `length` bytes, read through the EBS direct API of the stack at `endpoint`. */
async function snapshotBytes(endpoint: string, snapshotId: string, length: number): Promise<Buffer> {
  const ebs = new EBSClient(localClientConfig(endpoint));
  try {
    return await readSnapshotBytes(ebs, snapshotId, length);
  } finally {
    ebs.destroy();
  }
}

describe('a restarted local stack (rbp local serve --state-dir)', () => {
  it(
    'keeps the command functions and the primaries',
    async () => {
      const callsFile = join(workDir, 'calls.jsonl');
      const replicaImage = join(workDir, 'qa1-replica.img');
      const primaryImage = join(workDir, 'qa1-primary.img');
      await writeFile(replicaImage, Buffer.alloc(2 * B));
      // Random data in blocks 1 and 3, zeros in 0 and 2: the copy must put every block in its place.
      const primaryBytes = Buffer.alloc(4 * B);
      randomBytes(B).copy(primaryBytes, B);
      randomBytes(B).copy(primaryBytes, 3 * B);
      await writeFile(primaryImage, primaryBytes);

      const first = await start();
      const hookArn = (
        await run(RBP, [
          'local',
          'function',
          'create',
          '--name',
          'pre-backup',
          '--command',
          `jq -c '{phase, plan}' | tee -a ${callsFile}`,
          '--timeout-seconds',
          '30',
          '--endpoint',
          first.endpoint,
        ])
      ).stdout.trim();
      expect(hookArn).toBe('arn:aws:lambda:us-east-1:123456789012:function:pre-backup');
      await run(RBP, [
        'local',
        'function',
        'create',
        '--name',
        'gone',
        '--command',
        'true',
        '--endpoint',
        first.endpoint,
      ]);
      await run(RBP, ['local', 'function', 'rm', 'gone', '--endpoint', first.endpoint]);
      await first.replicas.create({ imagePath: replicaImage, serverId: 'QA1' });
      const primaryId = (
        await run(RBP, [
          'local',
          'primary',
          'create',
          '--image',
          primaryImage,
          '--server',
          'QA1',
          '--endpoint',
          first.endpoint,
        ])
      ).stdout.trim();
      const primariesBefore = await new LocalAdminClient(first.endpoint).listPrimaries();
      expect(primariesBefore.map((p) => p.volumeId)).toEqual([primaryId]);
      const instanceId = primariesBefore[0]!.instanceId!;
      await stop(first);

      const second = await start();
      const admin = new LocalAdminClient(second.endpoint);
      expect(await admin.listFunctions()).toEqual([
        {
          name: 'pre-backup',
          arn: hookArn,
          command: `jq -c '{phase, plan}' | tee -a ${callsFile}`,
          timeoutSeconds: 30,
        },
      ]);
      // It is a Lambda function again (by ARN, as the hook invoker calls it), running its command.
      expect(await invoke(second.endpoint, hookArn, { phase: 'pre-plan', plan: 'nightly-qa' })).toEqual({
        functionError: undefined,
        payload: { phase: 'pre-plan', plan: 'nightly-qa' },
      });
      expect(await readFile(callsFile, 'utf8')).toBe('{"phase":"pre-plan","plan":"nightly-qa"}\n');
      const listed = await run(RBP, ['local', 'function', 'ls', '--endpoint', second.endpoint]);
      expect(listed.stdout).toContain('pre-backup');
      expect(listed.stdout).not.toContain('gone');

      expect(await admin.listPrimaries()).toEqual(primariesBefore);
      const ec2 = new EC2Client(localClientConfig(second.endpoint));
      try {
        const volumes = (
          await ec2.send(
            new DescribeVolumesCommand({ Filters: [{ Name: 'tag:rbp:source-server', Values: ['QA1'] }] }),
          )
        ).Volumes!;
        expect(volumes.map((v) => v.Tags!.find((t) => t.Key === 'rbp:primary-volume')?.Value)).toEqual([
          primaryId,
        ]);
        const instance = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
          .Reservations![0]!.Instances![0]!;
        expect(instance.BlockDeviceMappings!.map((m) => [m.DeviceName, m.Ebs!.VolumeId])).toEqual([
          ['/dev/xvda', primaryId],
        ]);
        const created = await ec2.send(
          new CreateSnapshotsCommand({ InstanceSpecification: { InstanceId: instanceId } }),
        );
        expect(created.Snapshots!.map((s) => s.VolumeId)).toEqual([primaryId]);
        const snapshotId = created.Snapshots![0]!.SnapshotId!;
        await waitUntilSnapshotCompleted(
          { client: ec2, maxWaitTime: 60, minDelay: 1 },
          { SnapshotIds: [snapshotId] },
        );
        expect(
          (await snapshotBytes(second.endpoint, snapshotId, primaryBytes.length)).equals(primaryBytes),
        ).toBe(true);
      } finally {
        ec2.destroy();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
