/**
 * Retention and image deletion wired end to end on the local stack: four real backups of an ext4
 * replica (the API fixture's two, then two more after debugfs changes), `rbp retention apply
 * --keep-last 2` first as a dry run (nothing changes, every image listed with its reasons), then for
 * real: two images remain, both still read back byte for byte and restore a file through the CLI,
 * and the deleted ones answer 404. `rbp images delete` is refused under legal hold.
 */
import { execFile } from 'node:child_process';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateSnapshotCommand } from '@aws-sdk/client-ec2';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/api/exit-codes.ts';
import { imageSortKey, volumePartitionKey } from '../../lambdas/aws/dynamodb-image-records.ts';
import { createSdkClients } from '../../lambdas/aws/sdk-clients.ts';
import { createLifecycleApi } from '../../lambdas/aws/wiring.ts';
import type { RetentionResult } from '../../lambdas/core/api/lifecycle-api.ts';
import { runBackup } from '../../lambdas/core/backup/backup-image.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { ImageReader } from '../../lambdas/core/image/image-reader.ts';
import { manifestKey } from '../../lambdas/core/image/image-types.ts';
import { systemClock } from '../../lambdas/core/ports.ts';
import { waitForSnapshotCompleted } from '../../lambdas/core/restore/volume-restore.ts';
import { realSleep } from '../../lambdas/core/util/retry.ts';
import { createApiHandler } from '../../lambdas/handlers/api.ts';
import { LOCAL_API_NAMES, setUpLocalApi, type LocalApi } from '../api/local-api-fixture.ts';
import { noPacing } from '../engine/engine-fixture.ts';
import { debugfs, removeDir, scratchDir } from '../support/fs-images.ts';
import { useLocalStack } from '../support/local-stack.ts';

const RBP = new URL('../../bin/rbp', import.meta.url).pathname;
const local = useLocalStack({ snapshotCompletionDelayMs: 100 });
/** The fixture's ext4 image is 32 MiB; the rest of the 1 GiB volume was never written. */
const DISK_BYTES = 32 * 1024 * 1024;
const NEW_FILE = '/docs/notes.txt';
let work: string;
let api: LocalApi;
/** The disk as of img-c and img-d. */
const disks = new Map<string, string>();

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function rbp(...args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...api.env };
  delete env.RBP_API_URL;
  return new Promise((resolve) => {
    execFile(RBP, args, { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function json<T>(...args: string[]): Promise<T> {
  const run = await rbp(...args, '--json');
  expect(run, run.stderr).toMatchObject({ code: 0 });
  return JSON.parse(run.stdout) as T;
}

async function snapshotOf(volumeId: string): Promise<string> {
  const snapshot = await api.engine.ec2Client.send(new CreateSnapshotCommand({ VolumeId: volumeId }));
  await waitForSnapshotCompleted(api.engine.snapshotState, snapshot.SnapshotId!, {
    intervalMs: 50,
    timeoutMs: 60_000,
    nowMs: () => performance.now(),
    sleep: realSleep,
  });
  return snapshot.SnapshotId!;
}

/** Writes the 512 KiB blocks of `next` that differ from `current` to the replica. */
async function replicate(current: string, next: string): Promise<void> {
  const [a, b] = [await readFile(current), await readFile(next)];
  for (let offset = 0; offset < b.length; offset += EBS_BLOCK_SIZE_BYTES) {
    const block = b.subarray(offset, offset + EBS_BLOCK_SIZE_BYTES);
    if (!block.equals(a.subarray(offset, offset + EBS_BLOCK_SIZE_BYTES))) {
      await local.stack.agent.write(api.volumeId, offset, block);
    }
  }
}

async function imageBytes(imageId: string): Promise<Buffer> {
  const record = await api.engine.records.getImageRecord(api.volumeId, imageId);
  const manifest = await api.engine.images.getManifest(api.volumeId, imageId, record.manifestSha256);
  return Buffer.from(await new ImageReader(api.engine.images, manifest).read(0, DISK_BYTES));
}

beforeAll(async () => {
  work = await scratchDir('retention-local');
  api = await setUpLocalApi(local.stack, local.clientConfig(), work);
  const clientOptions = {
    endpoint: local.clientConfig().endpoint,
    region: local.clientConfig().region,
    credentials: { ...local.clientConfig().credentials },
  };
  const lifecycle = createLifecycleApi(
    { tableName: LOCAL_API_NAMES.table, imageBucket: LOCAL_API_NAMES.imageBucket },
    createSdkClients('control', clientOptions),
    systemClock,
  );
  local.stack.gateway.setApiHandler(createApiHandler({ ...api.deps, lifecycle }, () => undefined));

  // Two more backups, each after debugfs wrote a new version of NEW_FILE.
  const backupDeps = {
    ebs: api.engine.ebs,
    images: api.engine.images,
    records: api.engine.records,
    readPacer: noPacing,
    listPacer: noPacing,
  };
  let previous = path.join(work, 'changed.img');
  let parent = 'img-b';
  for (const [imageId, createdAt, text] of [
    ['img-c', '2026-03-03T00:00:00.000Z', 'third state\n'.repeat(500)],
    ['img-d', '2026-03-04T00:00:00.000Z', 'fourth state\n'.repeat(9000)],
  ] as const) {
    const disk = path.join(work, `${imageId}.img`);
    await copyFile(previous, disk);
    const content = path.join(work, `${imageId}.txt`);
    await writeFile(content, text);
    await debugfs(disk, [...(imageId === 'img-c' ? [] : [`rm ${NEW_FILE}`]), `write ${content} ${NEW_FILE}`]);
    await replicate(previous, disk);
    await runBackup(backupDeps, {
      volumeId: api.volumeId,
      imageId,
      snapshotId: await snapshotOf(api.volumeId),
      volumeSizeGib: 1,
      createdAt,
      parent: { imageId: parent },
    });
    disks.set(imageId, disk);
    previous = disk;
    parent = imageId;
  }
}, 300_000);

afterAll(async () => {
  api?.close();
  await removeDir(work);
});

describe('retention and image deletion on the local stack', () => {
  it('--dry-run lists every image with its reasons and changes nothing', async () => {
    const result = await json<RetentionResult>(
      'retention',
      'apply',
      '--volume',
      api.volumeId,
      '--keep-last',
      '2',
      '--dry-run',
    );
    expect(result.dryRun).toBe(true);
    expect(result.images.map((i) => [i.imageId, i.outcome, i.reasons])).toEqual([
      ['img-d', 'kept', ['last 2']],
      ['img-c', 'kept', ['last 2']],
      ['img-b', 'would-delete', []],
      ['img-a', 'would-delete', []],
    ]);
    const table = await rbp('retention', 'apply', '--volume', api.volumeId, '--keep-last', '2', '--dry-run');
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^IMAGE\s+VOLUME\s+CREATED\s+ACTION\s+REASONS$/);
    expect(table.stdout).toMatch(/img-a\s.*delete \(dry run\)\s+-/);
    const images = await json<{ imageId: string }[]>('images', 'ls', '--volume', api.volumeId);
    expect(images.map((i) => i.imageId)).toEqual(['img-d', 'img-c', 'img-b', 'img-a']);
  });

  it('a missing scope is a usage error', async () => {
    const run = await rbp('retention', 'apply', '--keep-last', '2');
    expect(run.code).toBe(EXIT.USAGE);
    expect(run.stderr).toContain('give exactly one of --server, --volume or --plan');
  });

  it('images delete is refused under legal hold, with the reason', async () => {
    const record = await api.engine.records.getImageRecord(api.volumeId, 'img-c');
    const setHold = (hold: boolean) =>
      api.engine.ddbClient.send(
        new UpdateCommand({
          TableName: LOCAL_API_NAMES.table,
          Key: { pk: volumePartitionKey(api.volumeId), sk: imageSortKey(record) },
          UpdateExpression: 'SET legalHold = :hold',
          ExpressionAttributeValues: { ':hold': hold },
        }),
      );
    await setHold(true);
    try {
      const run = await rbp('images', 'delete', 'img-c');
      expect(run.code).toBe(EXIT.CONFLICT);
      expect(run.stderr).toContain(`image img-c of ${api.volumeId} is under legal hold; not deleted`);
    } finally {
      await setHold(false);
    }
    expect((await json<{ imageId: string }>('images', 'show', 'img-c')).imageId).toBe('img-c');
  });

  it('--keep-last 2 deletes the two oldest; the two left restore byte for byte; the deleted answer 404', async () => {
    const result = await json<RetentionResult>(
      'retention',
      'apply',
      '--volume',
      api.volumeId,
      '--keep-last',
      '2',
    );
    expect(result.images.map((i) => [i.imageId, i.outcome])).toEqual([
      ['img-d', 'kept'],
      ['img-c', 'kept'],
      ['img-b', 'deleted'],
      ['img-a', 'deleted'],
    ]);
    const images = await json<{ imageId: string }[]>('images', 'ls', '--volume', api.volumeId);
    expect(images.map((i) => i.imageId)).toEqual(['img-d', 'img-c']);
    for (const gone of ['img-a', 'img-b']) {
      const shown = await rbp('images', 'show', gone);
      expect(shown.code, shown.stderr).toBe(EXIT.NOT_FOUND);
      await expect(
        api.engine.s3Client.send(
          new HeadObjectCommand({
            Bucket: LOCAL_API_NAMES.imageBucket,
            Key: manifestKey(api.volumeId, gone),
          }),
        ),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
    }
    const again = await rbp('images', 'delete', 'img-a');
    expect(again.code).toBe(EXIT.NOT_FOUND);
    for (const kept of ['img-c', 'img-d']) {
      expect((await imageBytes(kept)).equals(await readFile(disks.get(kept)!)), kept).toBe(true);
      const out = path.join(work, `restored-${kept}.txt`);
      const restored = await json<{ status: string }>(
        'restore',
        'file',
        '--image',
        kept,
        '--path',
        NEW_FILE,
        '--out',
        out,
        '--poll-interval',
        '0.2',
      );
      expect(restored.status).toBe('SUCCEEDED');
      expect((await readFile(out)).equals(await readFile(path.join(work, `${kept}.txt`)))).toBe(true);
    }
    // Eight CLI runs, the deletions with their catalog pruning and two file restores: minutes on a
    // loaded 2-core machine.
  }, 240_000);
});
