/**
 * Contract of the EBS emulator's write path (StartSnapshot, PutSnapshotBlock, CompleteSnapshot),
 * driven through the real @aws-sdk/client-ebs. Expected values come from the API reference
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_Operations.html) as local/ebs/README.md
 * records them.
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CompleteSnapshotCommand,
  ConflictException,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
  type PutSnapshotBlockCommandInput,
  type StartSnapshotCommandInput,
} from '@aws-sdk/client-ebs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { linearAggregateChecksum } from '../../local/ebs/ebs-emulator.ts';
import { blockContent, sha256Base64, startFixture, type EbsFixture } from './ebs-test-support.ts';

/** completeSnapshotDelayMs of the fixture: CompleteSnapshot answers pending, completed this much later. */
const COMPLETION_DELAY_MS = 2_000;

let fixture: EbsFixture;

beforeEach(async () => {
  fixture = await startFixture({ completeSnapshotDelayMs: COMPLETION_DELAY_MS });
});

afterEach(async () => {
  await fixture.close();
});

/** PutSnapshotBlock of a whole block with its SHA-256; `overrides` replace any field of the request. */
function put(
  snapshotId: string,
  blockIndex: number,
  data: Buffer,
  checksum = sha256Base64(data),
  overrides: Partial<PutSnapshotBlockCommandInput> = {},
) {
  return fixture.ebs.send(
    new PutSnapshotBlockCommand({
      SnapshotId: snapshotId,
      BlockIndex: blockIndex,
      BlockData: data,
      DataLength: EBS_BLOCK_SIZE_BYTES,
      Checksum: checksum,
      ChecksumAlgorithm: 'SHA256',
      ...overrides,
    }),
  );
}

function linear(blocks: ReadonlyMap<number, Buffer>): string {
  return linearAggregateChecksum(
    new Map(
      [...blocks].map(([blockIndex, data]) => [blockIndex, createHash('sha256').update(data).digest()]),
    ),
  );
}

function complete(snapshotId: string, changedBlocksCount: number, checksum?: string) {
  return fixture.ebs.send(
    new CompleteSnapshotCommand({
      SnapshotId: snapshotId,
      ChangedBlocksCount: changedBlocksCount,
      ...(checksum === undefined
        ? {}
        : { Checksum: checksum, ChecksumAlgorithm: 'SHA256', ChecksumAggregationMethod: 'LINEAR' }),
    }),
  );
}

async function start(input: Partial<StartSnapshotCommandInput> = {}): Promise<string> {
  const answer = await fixture.ebs.send(new StartSnapshotCommand({ VolumeSize: 1, ...input }));
  return answer.SnapshotId!;
}

/** Writes and completes a snapshot, then lets the clock pass the completion delay. */
async function writeSnapshot(
  blocks: ReadonlyMap<number, Buffer>,
  input: Partial<StartSnapshotCommandInput> = {},
) {
  const snapshotId = await start(input);
  for (const [blockIndex, data] of blocks) await put(snapshotId, blockIndex, data);
  await complete(snapshotId, blocks.size, linear(blocks));
  fixture.clock.advance(COMPLETION_DELAY_MS);
  return snapshotId;
}

describe('StartSnapshot / PutSnapshotBlock / CompleteSnapshot', () => {
  it('writes a snapshot that reads back byte for byte once completed', async () => {
    const started = await fixture.ebs.send(
      new StartSnapshotCommand({
        VolumeSize: 1,
        Description: 'restore test',
        Tags: [{ Key: 'rbp', Value: 'yes' }],
      }),
    );
    expect(started).toMatchObject({
      Status: 'pending',
      VolumeSize: 1,
      BlockSize: 524_288,
      OwnerId: '123456789012',
      Description: 'restore test',
      Tags: [{ Key: 'rbp', Value: 'yes' }],
      StartTime: fixture.clock.now(),
      $metadata: { httpStatusCode: 201 },
    });
    expect(started.SnapshotId).toMatch(/^snap-[0-9a-f]{17}$/);
    const snapshotId = started.SnapshotId!;
    const written = new Map([
      [2047, blockContent(1)],
      [0, blockContent(2)],
      [5, blockContent(3)],
    ]);
    for (const [blockIndex, data] of written) {
      const answer = await put(snapshotId, blockIndex, data);
      expect(answer).toMatchObject({
        Checksum: sha256Base64(data),
        ChecksumAlgorithm: 'SHA256',
        $metadata: { httpStatusCode: 201 },
      });
    }
    // Writing an index again overwrites it and does not count twice.
    const overwritten = blockContent(4);
    await put(snapshotId, 5, overwritten);
    written.set(5, overwritten);
    const completed = await complete(snapshotId, 3, linear(written));
    expect(completed).toMatchObject({ Status: 'pending', $metadata: { httpStatusCode: 202 } });
    expect(fixture.server.emulator.snapshotStatus(snapshotId)).toBe('pending');
    fixture.clock.advance(COMPLETION_DELAY_MS);
    expect(fixture.server.emulator.snapshotStatus(snapshotId)).toBe('completed');
    const blocks = (await fixture.blockPages({ SnapshotId: snapshotId })).flat();
    expect(blocks.map((b) => b.BlockIndex)).toEqual([0, 5, 2047]);
    for (const { BlockIndex, BlockToken } of blocks) {
      const block = await fixture.readBlock(snapshotId, BlockIndex, BlockToken);
      expect(block.data.equals(written.get(BlockIndex)!)).toBe(true);
    }
    expect(fixture.server.emulator.listSnapshots()).toEqual([
      {
        snapshotId,
        volumeId: undefined,
        volumeSizeGib: 1,
        status: 'completed',
        startTime: started.StartTime,
        parentSnapshotId: undefined,
        description: 'restore test',
        tags: [{ Key: 'rbp', Value: 'yes' }],
        blockCount: 3,
      },
    ]);
  });

  it('makes a child inherit its parent, share its lineage, and count only its own writes', async () => {
    const parentBlocks = new Map([
      [0, blockContent(10)],
      [1, blockContent(11)],
      [2, blockContent(12)],
    ]);
    const parent = await writeSnapshot(parentBlocks);
    const child = await start({ ParentSnapshotId: parent, VolumeSize: 2 });
    await put(child, 1, blockContent(21));
    await put(child, 3000, blockContent(22));
    expect(await fixture.errorOf(complete(child, 5))).toEqual({
      name: 'ValidationException',
      reason: 'INVALID_PARAMETER_VALUE',
      status: 400,
    });
    await complete(child, 2);
    fixture.clock.advance(COMPLETION_DELAY_MS);
    const blocks = (await fixture.blockPages({ SnapshotId: child })).flat();
    expect(blocks.map((b) => b.BlockIndex)).toEqual([0, 1, 2, 3000]);
    expect((await fixture.readBlock(child, 0, blocks[0]!.BlockToken)).data.equals(blockContent(10))).toBe(
      true,
    );
    expect((await fixture.readBlock(child, 1, blocks[1]!.BlockToken)).data.equals(blockContent(21))).toBe(
      true,
    );
    const changed = await fixture.changedBlocks({ FirstSnapshotId: parent, SecondSnapshotId: child });
    expect(
      changed.map((b) => [b.BlockIndex, b.FirstBlockToken !== undefined, b.SecondBlockToken !== undefined]),
    ).toEqual([
      [1, true, true],
      [3000, false, true],
    ]);
  });

  it('starts a new lineage for a snapshot without parent: UNRELATED_SNAPSHOTS against another one', async () => {
    const one = await writeSnapshot(new Map([[0, blockContent(1)]]));
    const other = await writeSnapshot(new Map([[0, blockContent(1)]]));
    expect(
      await fixture.errorOf(fixture.changedBlocks({ FirstSnapshotId: one, SecondSnapshotId: other })),
    ).toEqual({
      name: 'ValidationException',
      reason: 'UNRELATED_SNAPSHOTS',
      status: 400,
    });
  });

  it('returns the same snapshot for a retried ClientToken, and ConflictException (409) when the parameters differ', async () => {
    const first = await fixture.ebs.send(
      new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'restore-42', Timeout: 30 }),
    );
    fixture.clock.advance(1_000);
    const retry = await fixture.ebs.send(
      new StartSnapshotCommand({ VolumeSize: 1, ClientToken: 'restore-42', Timeout: 30 }),
    );
    expect(retry.SnapshotId).toBe(first.SnapshotId);
    expect(retry.StartTime).toEqual(first.StartTime);
    const error = await fixture.rejectionOf(
      fixture.ebs.send(new StartSnapshotCommand({ VolumeSize: 2, ClientToken: 'restore-42', Timeout: 30 })),
    );
    expect(error).toBeInstanceOf(ConflictException);
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(409);
    expect(fixture.server.emulator.listSnapshots().map((s) => s.snapshotId)).toEqual([first.SnapshotId]);
  });

  it('validates StartSnapshot parameters', async () => {
    const parent = await writeSnapshot(new Map([[0, blockContent(1)]]), { VolumeSize: 2 });
    const invalid = (reason: string) => ({ name: 'ValidationException', reason, status: 400 });
    const cases: [Partial<StartSnapshotCommandInput>, ReturnType<typeof invalid>][] = [
      [{ ParentSnapshotId: parent, Encrypted: true }, invalid('INVALID_PARAMETER_VALUE')],
      [{ VolumeSize: 0 }, invalid('INVALID_VOLUME_SIZE')],
      [{ VolumeSize: 65_537 }, invalid('INVALID_VOLUME_SIZE')],
      [{ ParentSnapshotId: parent, VolumeSize: 1 }, invalid('INVALID_VOLUME_SIZE')],
      [{ Timeout: 9 }, invalid('INVALID_PARAMETER_VALUE')],
      [{ Timeout: 4_321 }, invalid('INVALID_PARAMETER_VALUE')],
      [{ Description: 'x'.repeat(256) }, invalid('INVALID_PARAMETER_VALUE')],
      [
        { Tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' })) },
        invalid('INVALID_TAG'),
      ],
      [{ Tags: [{ Key: 'aws:reserved', Value: 'v' }] }, invalid('INVALID_TAG')],
      [
        { ParentSnapshotId: 'snap-0123456789abcdef0' },
        { name: 'ResourceNotFoundException', reason: 'SNAPSHOT_NOT_FOUND', status: 404 },
      ],
    ];
    for (const [input, expected] of cases) {
      expect(
        await fixture.errorOf(fixture.ebs.send(new StartSnapshotCommand({ VolumeSize: 2, ...input }))),
      ).toEqual(expected);
    }
    expect(await start({ VolumeSize: 65_536, Timeout: 4_320 })).toMatch(/^snap-/);
    expect(await start({ Timeout: 10, Encrypted: true })).toMatch(/^snap-/);
  });

  it('rejects blocks of the wrong size, with a wrong checksum, or outside the volume', async () => {
    const snapshotId = await start();
    const data = blockContent(1);
    const invalid = (reason: string) => ({ name: 'ValidationException', reason, status: 400 });
    expect(await fixture.errorOf(put(snapshotId, 0, data, sha256Base64(blockContent(2))))).toEqual(
      invalid('INVALID_CONTENT_ENCODING'),
    );
    expect(await fixture.errorOf(put(snapshotId, 2048, data))).toEqual(invalid('INVALID_BLOCK'));
    const short = data.subarray(0, 4096);
    expect(await fixture.errorOf(put(snapshotId, 0, short, undefined, { DataLength: 4096 }))).toEqual(
      invalid('INVALID_PARAMETER_VALUE'),
    );
    expect(await fixture.errorOf(put(snapshotId, 0, short))).toEqual(invalid('INVALID_PARAMETER_VALUE'));
    expect(await fixture.errorOf(put(snapshotId, 0, data, undefined, { Progress: 101 }))).toEqual(
      invalid('INVALID_PARAMETER_VALUE'),
    );
    // None of the rejected writes counts.
    expect(await complete(snapshotId, 0, linear(new Map()))).toMatchObject({ Status: 'pending' });
  });

  it('checks ChangedBlocksCount and the LINEAR aggregate (SHA-256 over the raw digests, not their base64 text)', async () => {
    const snapshotId = await start();
    const written = new Map([
      [7, blockContent(7)],
      [3, blockContent(3)],
    ]);
    for (const [blockIndex, data] of written) await put(snapshotId, blockIndex, data);
    const invalid = (reason: string) => ({ name: 'ValidationException', reason, status: 400 });
    expect(await fixture.errorOf(complete(snapshotId, 1, linear(written)))).toEqual(
      invalid('INVALID_PARAMETER_VALUE'),
    );
    const overBase64Text = createHash('sha256')
      .update(sha256Base64(written.get(3)!) + sha256Base64(written.get(7)!))
      .digest('base64');
    expect(await fixture.errorOf(complete(snapshotId, 2, overBase64Text))).toEqual(
      invalid('INVALID_CONTENT_ENCODING'),
    );
    const descending = createHash('sha256')
      .update(createHash('sha256').update(written.get(7)!).digest())
      .update(createHash('sha256').update(written.get(3)!).digest())
      .digest('base64');
    expect(await fixture.errorOf(complete(snapshotId, 2, descending))).toEqual(
      invalid('INVALID_CONTENT_ENCODING'),
    );
    expect(
      await fixture.errorOf(
        fixture.ebs.send(
          new CompleteSnapshotCommand({
            SnapshotId: snapshotId,
            ChangedBlocksCount: 2,
            Checksum: linear(written),
            ChecksumAlgorithm: 'SHA256',
          }),
        ),
      ),
    ).toEqual(invalid('INVALID_PARAMETER_VALUE'));
    expect(await complete(snapshotId, 2, linear(written))).toMatchObject({ Status: 'pending' });
    // Completing again answers the current status; writes are no longer accepted.
    expect(await complete(snapshotId, 2)).toMatchObject({
      Status: 'pending',
      $metadata: { httpStatusCode: 202 },
    });
    expect(await fixture.errorOf(put(snapshotId, 0, blockContent(1)))).toEqual(
      invalid('INVALID_SNAPSHOT_ID'),
    );
    fixture.clock.advance(COMPLETION_DELAY_MS);
    expect(await complete(snapshotId, 2)).toMatchObject({ Status: 'completed' });
    expect(await fixture.errorOf(put(snapshotId, 0, blockContent(1)))).toEqual(
      invalid('INVALID_SNAPSHOT_ID'),
    );
  });

  it('cancels a snapshot (status error) that is not completed within Timeout minutes of its last write', async () => {
    const snapshotId = await start({ Timeout: 10 });
    fixture.clock.advance(9 * 60_000);
    await put(snapshotId, 0, blockContent(1));
    fixture.clock.advance(10 * 60_000);
    expect(fixture.server.emulator.snapshotStatus(snapshotId)).toBe('pending');
    fixture.clock.advance(1);
    expect(fixture.server.emulator.snapshotStatus(snapshotId)).toBe('error');
    expect(fixture.server.emulator.listSnapshots()[0]).toMatchObject({ snapshotId, status: 'error' });
    const invalidSnapshot = { name: 'ValidationException', reason: 'INVALID_SNAPSHOT_ID', status: 400 };
    expect(await fixture.errorOf(put(snapshotId, 1, blockContent(2)))).toEqual(invalidSnapshot);
    expect(await fixture.errorOf(complete(snapshotId, 1))).toEqual(invalidSnapshot);
    expect(await fixture.errorOf(fixture.blockPages({ SnapshotId: snapshotId }))).toEqual(invalidSnapshot);
  });

  it('answers writes to unknown snapshots with ResourceNotFoundException SNAPSHOT_NOT_FOUND (404)', async () => {
    const notFound = { name: 'ResourceNotFoundException', reason: 'SNAPSHOT_NOT_FOUND', status: 404 };
    expect(await fixture.errorOf(put('snap-0123456789abcdef0', 0, blockContent(1)))).toEqual(notFound);
    expect(await fixture.errorOf(complete('snap-0123456789abcdef0', 0))).toEqual(notFound);
  });

  it('refuses writes to a snapshot frozen from a volume image', async () => {
    const { emulator } = fixture.server;
    const image = join(fixture.dir, 'empty.img');
    await writeFile(image, '');
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-0f',
      volumeId: 'vol-1',
      imagePath: image,
      volumeSizeGib: 1,
    });
    expect(await fixture.errorOf(put('snap-0f', 0, blockContent(1)))).toEqual({
      name: 'ValidationException',
      reason: 'INVALID_SNAPSHOT_ID',
      status: 400,
    });
  });
});
