/**
 * The local file-masking hook (local/masking-hook) as a command function on the local stack: given
 * a clone snapshot of a real ext4 volume, it writes a child snapshot (ParentSnapshotId = the clone)
 * whose only difference from the clone is /etc/shadow's password hashes; it puts exactly the
 * blocks that changed, answers per the masking contract, and a hook that cannot mask fails the
 * masking with its reason.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListChangedBlocksCommand } from '@aws-sdk/client-ebs';
import {
  CreateSnapshotCommand,
  DescribeSnapshotsCommand,
  waitUntilSnapshotCompleted,
} from '@aws-sdk/client-ec2';
import { InvokeCommand } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import {
  parseMaskingAnswer,
  runMaskingHook,
  type MaskingHookEvent,
  type MaskingHookInvoker,
} from '../../lambdas/core/workflows/masking.ts';
import { PermanentError } from '../../lambdas/core/errors.ts';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { maskContent, SHADOW_HASH_PATTERN } from '../../local/masking-hook/snapshot-file-masker.ts';
import { useLocalClients, useLocalStack } from '../support/local-stack.ts';
import { createMaskingHooks } from './masking-hooks.ts';
import { downloadSnapshotToFile } from './snapshot-blocks.ts';

const run = promisify(execFile);

const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
const aws = useLocalClients(local);

const SHADOW = [
  'root:$6$Qm0rA1x$0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d:19700:0:99999:7:::',
  'daemon:*:19700:0:99999:7:::',
  'alice:$6$Zx9yW8v$ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100:19701:0:99999:7:::',
  '',
].join('\n');

let workDir: string;
let imagePath: string;
let admin: LocalAdminClient;
let cloneSnapshotId: string;
let sourceVolumeId: string;

async function debugfs(image: string, request: string): Promise<string> {
  return (await run('debugfs', ['-R', request, image])).stdout;
}

/** Physical byte ranges [start, end) of a file's data in an image, via debugfs bmap. */
async function fileRanges(image: string, path: string): Promise<[number, number][]> {
  const size = Number(/\bSize: (\d+)/.exec(await debugfs(image, `stat ${path}`))?.[1]);
  const blockSize = Number(/Block size:\s+(\d+)/.exec(await debugfs(image, 'stats'))?.[1]);
  const ranges: [number, number][] = [];
  for (let logical = 0; logical * blockSize < size; logical += 1) {
    const physical = Number((await debugfs(image, `bmap ${path} ${logical}`)).trim());
    ranges.push([
      physical * blockSize,
      physical * blockSize + Math.min(blockSize, size - logical * blockSize),
    ]);
  }
  return ranges;
}

async function invoke(name: string, event: unknown): Promise<{ functionError?: string; payload: unknown }> {
  const answer = await aws.lambda.send(
    new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(event)) }),
  );
  const text = Buffer.from(answer.Payload ?? new Uint8Array()).toString('utf8');
  return {
    ...(answer.FunctionError === undefined ? {} : { functionError: answer.FunctionError }),
    payload: text === '' ? undefined : (JSON.parse(text) as unknown),
  };
}

/** The masking invoker a run uses, over Lambda Invoke of the gateway. */
const lambdaInvoker: MaskingHookInvoker = {
  async invoke(functionName, event) {
    const answer = await invoke(functionName, event);
    if (answer.functionError !== undefined) {
      throw new PermanentError((answer.payload as { errorMessage: string }).errorMessage);
    }
    return answer.payload;
  },
};

function eventFor(runId: string): MaskingHookEvent {
  return {
    version: 1,
    phase: 'masking',
    workflow: 'qaclone',
    runId,
    server: 'web01',
    deadline: '2026-12-03T09:00:00Z',
    tags: { 'rbp:workflow': 'qaclone' },
    devices: [{ sourceVolumeId, imageId: 'img-test', snapshotId: cloneSnapshotId, sizeGiB: 1 }],
  };
}

beforeAll(async () => {
  admin = new LocalAdminClient(local.stack.endpoint);
  workDir = await mkdtemp(join(tmpdir(), 'rbp-masking-hook-'));
  const tree = join(workDir, 'tree');
  await mkdir(join(tree, 'etc'), { recursive: true });
  await mkdir(join(tree, 'srv'), { recursive: true });
  await writeFile(join(tree, 'etc', 'shadow'), SHADOW, { mode: 0o640 });
  await writeFile(join(tree, 'etc', 'hostname'), 'web01\n');
  await writeFile(
    join(tree, 'srv', 'data.bin'),
    createHash('sha512').update('x').digest().toString('hex').repeat(4000),
  );
  imagePath = join(workDir, 'web01.img');
  await run('mkfs.ext4', ['-q', '-F', '-d', tree, imagePath, '1G']);
  const replica = await admin.createReplica({ imagePath, serverId: 'web01' });
  sourceVolumeId = replica.volumeId;
  const snapshot = await aws.ec2.send(new CreateSnapshotCommand({ VolumeId: sourceVolumeId }));
  cloneSnapshotId = snapshot.SnapshotId!;
  await waitUntilSnapshotCompleted(
    { client: aws.ec2, maxWaitTime: 60, minDelay: 1 },
    { SnapshotIds: [cloneSnapshotId] },
  );
  await createMaskingHooks(local.stack.endpoint);
}, 180_000);

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('the local file-masking hook', () => {
  it('writes a child snapshot that differs from the clone in exactly /etc/shadow', async () => {
    const shadowRanges = await fileRanges(imagePath, '/etc/shadow');
    const expectedBlocks = [
      ...new Set(
        shadowRanges.flatMap(([s, e]) => [
          Math.floor(s / EBS_BLOCK_SIZE_BYTES),
          Math.floor((e - 1) / EBS_BLOCK_SIZE_BYTES),
        ]),
      ),
    ].sort((a, b) => a - b);
    await admin.resetStats();

    const event = eventFor('wr-test-1');
    const outcome = await runMaskingHook(
      lambdaInvoker,
      { function: 'maskshadow', timeoutSeconds: 300 },
      event,
    );
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    const childId = outcome.masked.get(sourceVolumeId)!;
    expect(childId).toMatch(/^snap-/);
    expect(childId).not.toBe(cloneSnapshotId);
    const { maskedBytes } = maskContent(Buffer.from(SHADOW), SHADOW_HASH_PATTERN);
    expect(outcome.message).toBe(
      `${sourceVolumeId}: /etc/shadow ${maskedBytes} of ${SHADOW.length} bytes masked, ${expectedBlocks.length} blocks written to ${childId}`,
    );

    // Only the shadow file's blocks were put, and the child lists exactly them as changed.
    const stats = await admin.stats();
    expect(stats.requests['ebs:StartSnapshot']).toBe(1);
    expect(stats.requests['ebs:PutSnapshotBlock']).toBe(expectedBlocks.length);
    expect(stats.requests['ebs:CompleteSnapshot']).toBe(1);
    const changed = await aws.ebs.send(
      new ListChangedBlocksCommand({ FirstSnapshotId: cloneSnapshotId, SecondSnapshotId: childId }),
    );
    expect((changed.ChangedBlocks ?? []).map((b) => b.BlockIndex)).toEqual(expectedBlocks);

    // The child, read back whole, equals the image except inside the shadow file's bytes.
    const childImage = join(workDir, 'child.img');
    await downloadSnapshotToFile(aws.ebs, childId, GIB_BYTES, childImage);
    const inShadow = (offset: number): boolean => shadowRanges.some(([s, e]) => offset >= s && offset < e);
    const [original, child] = await Promise.all([open(imagePath, 'r'), open(childImage, 'r')]);
    let differing = 0;
    try {
      expect((await child.stat()).size).toBe((await original.stat()).size);
      const a = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      const b = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
      for (let start = 0; start < GIB_BYTES; start += EBS_BLOCK_SIZE_BYTES) {
        await original.read(a, 0, a.length, start);
        await child.read(b, 0, b.length, start);
        if (a.equals(b)) continue;
        for (let i = 0; i < a.length; i += 1) {
          if (a[i] !== b[i]) {
            differing += 1;
            expect(inShadow(start + i)).toBe(true);
          }
        }
      }
    } finally {
      await Promise.all([original.close(), child.close()]);
    }
    expect(differing).toBeGreaterThan(0);
    const expected = maskContent(Buffer.from(SHADOW), SHADOW_HASH_PATTERN).masked.toString('utf8');
    expect(expected.split('\n')[0]).toBe(
      `root:${'*'.repeat(SHADOW.split(':')[1]!.length)}:19700:0:99999:7:::`,
    );
    expect((await run('debugfs', ['-R', 'cat /etc/shadow', childImage])).stdout).toBe(expected);
    expect((await run('debugfs', ['-R', 'cat /etc/hostname', childImage])).stdout).toBe('web01\n');
    await run('e2fsck', ['-fn', childImage]);

    // The child carries the event's tags and names the clone it masks.
    const described = await aws.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [childId] }));
    const tags = Object.fromEntries(
      (described.Snapshots?.[0]?.Tags ?? []).map((t): [string, string] => [t.Key ?? '', t.Value ?? '']),
    );
    expect(described.Snapshots?.[0]?.State).toBe('completed');
    expect(tags).toEqual({ 'rbp:workflow': 'qaclone', 'rbp:masked-from': cloneSnapshotId });
    expect([
      ...parseMaskingAnswer(event, { maskedSnapshots: { [sourceVolumeId]: childId } }, 'maskshadow'),
    ]).toEqual([[sourceVolumeId, childId]]);
  }, 240_000);

  it('a hook that cannot mask fails the masking with its reason and writes no snapshot', async () => {
    await admin.resetStats();
    const outcome = await runMaskingHook(
      lambdaInvoker,
      { function: 'masknothing', timeoutSeconds: 300 },
      eventFor('wr-test-2'),
    );
    expect(outcome).toEqual({
      ok: false,
      reason: `masking hook masknothing failed: ${sourceVolumeId} (${cloneSnapshotId}): no file /etc/nothing in the filesystem at byte 0`,
    });
    expect((await admin.stats()).requests['ebs:StartSnapshot']).toBeUndefined();
  }, 240_000);
});
