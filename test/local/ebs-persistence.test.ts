/**
 * The EBS emulator keeps its state in files: snapshots (frozen and written), a snapshot being
 * written, the replica's allocation state and the token key survive a restart; deleting snapshots
 * frees the block contents nobody else holds.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteSnapshotCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
  type EBSClient,
} from '@aws-sdk/client-ebs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { linearAggregateChecksum } from '../../local/ebs/ebs-emulator.ts';
import { startEbsEmulatorServer, type EbsEmulatorServer } from '../../local/ebs/ebs-server.ts';
import {
  allSnapshotBlockPages,
  blockContent,
  ebsErrorOf,
  makeSparseImage,
  ManualClock,
  readBlock,
  sdkClient,
  sha256Base64,
  writeBlocks,
} from './ebs-test-support.ts';

let dir: string;
let stateDir: string;
const clock = new ManualClock();
let server: EbsEmulatorServer;
let ebs: EBSClient;

async function startServer(): Promise<void> {
  server = await startEbsEmulatorServer({ stateDir, clock, completeSnapshotDelayMs: 0 });
  ebs = sdkClient(server.endpoint);
}

async function stopServer(): Promise<void> {
  ebs.destroy();
  await server.stop();
}

function put(snapshotId: string, blockIndex: number, data: Buffer) {
  return ebs.send(
    new PutSnapshotBlockCommand({
      SnapshotId: snapshotId,
      BlockIndex: blockIndex,
      BlockData: data,
      DataLength: EBS_BLOCK_SIZE_BYTES,
      Checksum: sha256Base64(data),
      ChecksumAlgorithm: 'SHA256',
    }),
  );
}

async function blockFiles(): Promise<string[]> {
  const folders = await readdir(join(stateDir, 'blocks'));
  const files = await Promise.all(folders.map((folder) => readdir(join(stateDir, 'blocks', folder))));
  return files.flat().sort();
}

function digestHex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ebs-persistence-test-'));
  stateDir = join(dir, 'state');
  await startServer();
});

afterEach(async () => {
  await stopServer();
  await rm(dir, { recursive: true, force: true });
});

describe('persistence', () => {
  it('serves the same snapshots, tokens and in-progress writes after a restart', async () => {
    const image = join(dir, 'vol.img');
    await makeSparseImage(image, 1, new Map([[4, blockContent(4)]]));
    await server.emulator.markBlocksWritten('vol-p', [9]);
    await server.emulator.freezeVolumeImage({
      snapshotId: 'snap-e1',
      volumeId: 'vol-p',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    const before = (await allSnapshotBlockPages(ebs, { SnapshotId: 'snap-e1' })).flat();
    expect(before.map((b) => b.BlockIndex)).toEqual([4, 9]);
    const started = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'persist-1' }));
    const snapshotId = started.SnapshotId!;
    await put(snapshotId, 1, blockContent(1));
    await put(snapshotId, 2, blockContent(2));
    // Between the snapshots the replica discards block 9: it must not come back after the restart.
    await server.emulator.discardBlocks('vol-p', [9]);

    await stopServer();
    await startServer();

    expect(server.emulator.snapshotStatus('snap-e1')).toBe('completed');
    expect(server.emulator.snapshotStatus(snapshotId)).toBe('pending');
    const block4 = await readBlock(ebs, 'snap-e1', 4, before[0]!.BlockToken);
    expect(block4.data.equals(blockContent(4))).toBe(true);
    const retried = await ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'persist-1' }));
    expect(retried.SnapshotId).toBe(snapshotId);
    await put(snapshotId, 3, blockContent(3));
    const written = new Map(
      [1, 2, 3].map((i) => [i, createHash('sha256').update(blockContent(i)).digest()] as [number, Buffer]),
    );
    await ebs.send(
      new CompleteSnapshotCommand({
        SnapshotId: snapshotId,
        ChangedBlocksCount: 3,
        Checksum: linearAggregateChecksum(written),
        ChecksumAlgorithm: 'SHA256',
        ChecksumAggregationMethod: 'LINEAR',
      }),
    );
    expect(
      (await allSnapshotBlockPages(ebs, { SnapshotId: snapshotId })).flat().map((b) => b.BlockIndex),
    ).toEqual([1, 2, 3]);

    await writeBlocks(image, new Map([[5, blockContent(5)]]));
    await server.emulator.freezeVolumeImage({
      snapshotId: 'snap-e2',
      volumeId: 'vol-p',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    expect(
      (await allSnapshotBlockPages(ebs, { SnapshotId: 'snap-e2' })).flat().map((b) => b.BlockIndex),
    ).toEqual([4, 5]);
  });

  it('deletes a snapshot and only the block contents no other snapshot holds', async () => {
    const image = join(dir, 'vol.img');
    await makeSparseImage(
      image,
      1,
      new Map([
        [0, blockContent(1)],
        [1, blockContent(2)],
      ]),
    );
    await server.emulator.freezeVolumeImage({
      snapshotId: 'snap-d1',
      volumeId: 'vol-d',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    await writeBlocks(image, new Map([[1, blockContent(3)]]));
    await server.emulator.freezeVolumeImage({
      snapshotId: 'snap-d2',
      volumeId: 'vol-d',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    expect(await blockFiles()).toEqual([1, 2, 3].map((i) => digestHex(blockContent(i))).sort());

    expect(await server.emulator.deleteSnapshot('snap-d1')).toBe(true);
    expect(await server.emulator.deleteSnapshot('snap-d1')).toBe(false);
    expect(await blockFiles()).toEqual([1, 3].map((i) => digestHex(blockContent(i))).sort());
    expect(server.emulator.snapshotStatus('snap-d1')).toBeUndefined();
    expect(await ebsErrorOf(allSnapshotBlockPages(ebs, { SnapshotId: 'snap-d1' }))).toEqual({
      name: 'ResourceNotFoundException',
      reason: 'SNAPSHOT_NOT_FOUND',
      status: 404,
    });

    await stopServer();
    await startServer();
    expect(server.emulator.listSnapshots().map((s) => s.snapshotId)).toEqual(['snap-d2']);
    const blocks = (await allSnapshotBlockPages(ebs, { SnapshotId: 'snap-d2' })).flat();
    expect((await readBlock(ebs, 'snap-d2', 1, blocks[1]!.BlockToken)).data.equals(blockContent(3))).toBe(
      true,
    );
    expect(await server.emulator.deleteSnapshot('snap-d2')).toBe(true);
    expect(await blockFiles()).toEqual([]);
  });
});
