/**
 * Contract of the EBS emulator's read path, driven through the real @aws-sdk/client-ebs:
 * freezing images, ListSnapshotBlocks pagination, block and page tokens, GetSnapshotBlock,
 * ListChangedBlocks and lineage. Expected values come from the EBS direct APIs'
 * reference and user guide as local/ebs/README.md records them.
 */
import { join } from 'node:path';
import {
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  ResourceNotFoundException,
  ValidationException,
} from '@aws-sdk/client-ebs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import {
  blockContent,
  sha256Base64,
  startFixture,
  writeBlocks,
  type EbsFixture,
} from './ebs-test-support.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const ZERO_BLOCK = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);

/** Blocks of the main image: a run of 150 (more than one page of 100), a lone block and the last block. */
const MAIN_BLOCKS = new Map<number, Buffer>([
  ...Array.from({ length: 150 }, (_, i) => [i, blockContent(i + 1)] as [number, Buffer]),
  [3000, blockContent(3000)],
  [4095, blockContent(4095)],
]);
const MAIN_INDEXES = [...MAIN_BLOCKS.keys()].sort((a, b) => a - b);

let fixture: EbsFixture;
let mainImage: string;

beforeAll(async () => {
  fixture = await startFixture();
  mainImage = await fixture.sparseImage('main.img', 2, MAIN_BLOCKS);
  await fixture.server.emulator.freezeVolumeImage({
    snapshotId: 'snap-0000000000000001',
    volumeId: 'vol-main',
    imagePath: mainImage,
    volumeSizeGib: 2,
    completeAfterMs: 5_000,
  });
});

afterAll(async () => {
  await fixture.close();
});

describe('freezeVolumeImage', () => {
  it('is pending (unreadable) until completeAfterMs has passed, then completed', async () => {
    const { emulator } = fixture.server;
    expect(emulator.snapshotStatus('snap-0000000000000001')).toBe('pending');
    const error = await fixture.rejectionOf(
      fixture.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001' })),
    );
    expect(error).toBeInstanceOf(ValidationException);
    expect(error.Reason).toBe('INVALID_SNAPSHOT_ID');
    expect((error.$metadata as { httpStatusCode: number }).httpStatusCode).toBe(400);
    fixture.clock.advance(4_999);
    expect(emulator.snapshotStatus('snap-0000000000000001')).toBe('pending');
    fixture.clock.advance(1);
    expect(emulator.snapshotStatus('snap-0000000000000001')).toBe('completed');
    expect(emulator.listSnapshots().find((s) => s.snapshotId === 'snap-0000000000000001')).toMatchObject({
      volumeId: 'vol-main',
      volumeSizeGib: 2,
      status: 'completed',
      blockCount: 152,
    });
  });

  it('captures the image at freeze time: later writes to the image do not change the snapshot', async () => {
    await writeBlocks(
      mainImage,
      new Map([
        [7, blockContent(777)],
        [500, blockContent(500)],
      ]),
    );
    const pages = await fixture.blockPages({ SnapshotId: 'snap-0000000000000001' });
    const blocks = pages.flat();
    expect(blocks.map((b) => b.BlockIndex)).toEqual(MAIN_INDEXES);
    const block7 = await fixture.readBlock('snap-0000000000000001', 7, blocks[7]!.BlockToken);
    expect(block7.data.equals(MAIN_BLOCKS.get(7)!)).toBe(true);
    await writeBlocks(
      mainImage,
      new Map([
        [7, MAIN_BLOCKS.get(7)!],
        [500, ZERO_BLOCK],
      ]),
    );
  });

  it('keeps the marked blocks of a freeze that failed for the next freeze', async () => {
    const { emulator } = fixture.server;
    await emulator.markBlocksWritten('vol-retry', [3]);
    await expect(
      emulator.freezeVolumeImage({
        snapshotId: 'snap-00000000000000f1',
        volumeId: 'vol-retry',
        imagePath: join(fixture.dir, 'missing.img'),
        volumeSizeGib: 1,
      }),
    ).rejects.toThrow('ENOENT');
    expect(emulator.snapshotStatus('snap-00000000000000f1')).toBeUndefined();
    const image = await fixture.sparseImage('retry.img', 1, new Map([[1, blockContent(1)]]));
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-00000000000000f1',
      volumeId: 'vol-retry',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    const blocks = (await fixture.blockPages({ SnapshotId: 'snap-00000000000000f1' })).flat();
    expect(blocks.map((b) => b.BlockIndex)).toEqual([1, 3]);
  });

  it('rejects a second snapshot with the same id', async () => {
    await expect(
      fixture.server.emulator.freezeVolumeImage({
        snapshotId: 'snap-0000000000000001',
        volumeId: 'vol-main',
        imagePath: mainImage,
        volumeSizeGib: 2,
      }),
    ).rejects.toThrow('snapshot snap-0000000000000001 already exists');
  });
});

describe('ListSnapshotBlocks', () => {
  it('lists only written blocks, ascending and unique, with VolumeSize in GiB, BlockSize and a 7-day ExpiryTime', async () => {
    const page = await fixture.ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001' }),
    );
    expect(page.Blocks!.map((b) => b.BlockIndex)).toEqual(MAIN_INDEXES);
    expect(page.VolumeSize).toBe(2);
    expect(page.BlockSize).toBe(524_288);
    expect(page.ExpiryTime!.getTime()).toBe(fixture.clock.now().getTime() + 7 * DAY_MS);
    expect(page.NextToken).toBeUndefined();
    for (const block of page.Blocks!) {
      expect(block.BlockToken).toMatch(/^[A-Za-z0-9+/=]+$/);
      expect(block.BlockToken!.length).toBeLessThanOrEqual(256);
    }
  });

  it('answers MaxResults above 10,000 or below 1 with ValidationException INVALID_PARAMETER_VALUE (400)', async () => {
    for (const maxResults of [10_001, 0, -5]) {
      expect(
        await fixture.errorOf(
          fixture.ebs.send(
            new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', MaxResults: maxResults }),
          ),
        ),
      ).toEqual({ name: 'ValidationException', reason: 'INVALID_PARAMETER_VALUE', status: 400 });
    }
  });

  it('returns 100 blocks when asked for fewer than 100, and exactly MaxResults otherwise', async () => {
    for (const [maxResults, expected] of [
      [1, 100],
      [99, 100],
      [100, 100],
      [101, 101],
      [10_000, 152],
    ] as const) {
      const page = await fixture.ebs.send(
        new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', MaxResults: maxResults }),
      );
      expect(page.Blocks!.length).toBe(expected);
      expect(page.Blocks!.map((b) => b.BlockIndex)).toEqual(MAIN_INDEXES.slice(0, expected));
      expect(page.NextToken === undefined).toBe(expected === 152);
    }
  });

  it('pages through a sparse volume with empty pages that still carry a NextToken', async () => {
    fixture.server.emulator.setFaults({ listPageBlockWindow: 1_000 });
    try {
      const pages = await fixture.blockPages({
        SnapshotId: 'snap-0000000000000001',
        MaxResults: 100,
      });
      expect(pages.map((page) => page.map((b) => b.BlockIndex))).toEqual([
        MAIN_INDEXES.slice(0, 100), // [0, 1000): MaxResults ends the page at 99
        MAIN_INDEXES.slice(100, 150), // [100, 1100): the window ends it
        [], // [1100, 2100): empty, with a NextToken
        [3000], // [2100, 3100)
        [4095], // [3100, 4096): the volume ends, no NextToken
      ]);
    } finally {
      fixture.server.emulator.setFaults({ listPageBlockWindow: 65_536 });
    }
  });

  it('starts at StartingBlockIndex, or at the next written block when that index is a hole', async () => {
    const list = async (startingBlockIndex: number): Promise<number[]> =>
      (
        await fixture.blockPages({
          SnapshotId: 'snap-0000000000000001',
          StartingBlockIndex: startingBlockIndex,
        })
      )
        .flat()
        .map((b) => b.BlockIndex);
    expect(await list(149)).toEqual([149, 3000, 4095]);
    expect(await list(150)).toEqual([3000, 4095]);
    expect(await list(3001)).toEqual([4095]);
    expect(await list(4096)).toEqual([]);
  });

  it('ignores StartingBlockIndex when a NextToken is given', async () => {
    const first = await fixture.ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', MaxResults: 100 }),
    );
    const second = await fixture.ebs.send(
      new ListSnapshotBlocksCommand({
        SnapshotId: 'snap-0000000000000001',
        MaxResults: 100,
        NextToken: first.NextToken,
        StartingBlockIndex: 4000,
      }),
    );
    expect(second.Blocks!.map((b) => b.BlockIndex)).toEqual(MAIN_INDEXES.slice(100));
  });

  it('rejects tampered, foreign and expired page tokens with INVALID_PAGE_TOKEN', async () => {
    await fixture.server.emulator.freezeVolumeImage({
      snapshotId: 'snap-0000000000000002',
      volumeId: 'vol-main',
      imagePath: mainImage,
      volumeSizeGib: 2,
      completeAfterMs: 0,
    });
    const first = await fixture.ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', MaxResults: 100 }),
    );
    const token = first.NextToken!;
    const tampered = token.slice(0, 10) + (token[10] === 'A' ? 'B' : 'A') + token.slice(11);
    const invalidPageToken = { name: 'ValidationException', reason: 'INVALID_PAGE_TOKEN', status: 400 };
    for (const [snapshotId, pageToken] of [
      ['snap-0000000000000001', tampered],
      ['snap-0000000000000001', 'bm90LWEtdG9rZW4='],
      ['snap-0000000000000002', token],
    ] as const) {
      expect(
        await fixture.errorOf(
          fixture.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, NextToken: pageToken })),
        ),
      ).toEqual(invalidPageToken);
    }
    // A page token from ListSnapshotBlocks is not a ListChangedBlocks token.
    expect(
      await fixture.errorOf(
        fixture.ebs.send(
          new ListChangedBlocksCommand({ SecondSnapshotId: 'snap-0000000000000001', NextToken: token }),
        ),
      ),
    ).toEqual(invalidPageToken);
    fixture.clock.advance(60 * 60 * 1000 - 1_000);
    const stillValid = await fixture.ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', NextToken: token }),
    );
    expect(stillValid.Blocks!.map((b) => b.BlockIndex)).toEqual(MAIN_INDEXES.slice(100));
    fixture.clock.advance(1_000);
    expect(
      await fixture.errorOf(
        fixture.ebs.send(
          new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', NextToken: token }),
        ),
      ),
    ).toEqual(invalidPageToken);
  });

  it('answers an unknown snapshot with ResourceNotFoundException SNAPSHOT_NOT_FOUND (404), a malformed id with INVALID_SNAPSHOT_ID', async () => {
    const error = await fixture.rejectionOf(
      fixture.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0123456789abcdef0' })),
    );
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect({
      reason: error.Reason,
      status: (error.$metadata as { httpStatusCode: number }).httpStatusCode,
    }).toEqual({
      reason: 'SNAPSHOT_NOT_FOUND',
      status: 404,
    });
    expect(error.message).toBe("The snapshot 'snap-0123456789abcdef0' does not exist.");
    expect(
      await fixture.errorOf(fixture.ebs.send(new ListSnapshotBlocksCommand({ SnapshotId: 'snap-XYZ' }))),
    ).toEqual({
      name: 'ValidationException',
      reason: 'INVALID_SNAPSHOT_ID',
      status: 400,
    });
  });
});

describe('GetSnapshotBlock and block tokens', () => {
  it('returns the block byte for byte with x-amz-Data-Length, x-amz-Checksum (SHA-256) and the algorithm', async () => {
    const blocks = (await fixture.blockPages({ SnapshotId: 'snap-0000000000000001' })).flat();
    for (const { BlockIndex, BlockToken } of [blocks[0]!, blocks[149]!, blocks[150]!, blocks[151]!]) {
      const block = await fixture.readBlock('snap-0000000000000001', BlockIndex, BlockToken);
      const expected = MAIN_BLOCKS.get(BlockIndex)!;
      expect(block.data.equals(expected)).toBe(true);
      expect(block).toMatchObject({
        checksum: sha256Base64(expected),
        algorithm: 'SHA256',
        dataLength: 524_288,
      });
    }
  });

  it('hands out different tokens on every listing; tokens of an earlier listing stay valid', async () => {
    const list = async (): Promise<string> =>
      (
        await fixture.ebs.send(
          new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001', StartingBlockIndex: 3000 }),
        )
      ).Blocks![0]!.BlockToken!;
    const first = await list();
    const second = await list();
    expect(second).not.toBe(first);
    for (const token of [first, second]) {
      const block = await fixture.readBlock('snap-0000000000000001', 3000, token);
      expect(block.data.equals(MAIN_BLOCKS.get(3000)!)).toBe(true);
    }
  });

  it('rejects tampered tokens, tokens of another block or snapshot, and expired tokens with INVALID_BLOCK_TOKEN', async () => {
    const page = await fixture.ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: 'snap-0000000000000001' }),
    );
    const token5 = page.Blocks![5]!.BlockToken!;
    const flipped = token5.slice(0, 20) + (token5[20] === 'A' ? 'B' : 'A') + token5.slice(21);
    const invalidBlockToken = { name: 'ValidationException', reason: 'INVALID_BLOCK_TOKEN', status: 400 };
    const get = (snapshotId: string, blockIndex: number, token: string): Promise<unknown> =>
      fixture.ebs.send(
        new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: blockIndex, BlockToken: token }),
      );
    expect(await fixture.errorOf(get('snap-0000000000000001', 5, flipped))).toEqual(invalidBlockToken);
    expect(await fixture.errorOf(get('snap-0000000000000001', 6, token5))).toEqual(invalidBlockToken);
    expect(await fixture.errorOf(get('snap-0000000000000002', 5, token5))).toEqual(invalidBlockToken);
    expect(await fixture.errorOf(get('snap-0000000000000001', 5, 'bm90LWEtdG9rZW4='))).toEqual(
      invalidBlockToken,
    );
    fixture.clock.advance(7 * DAY_MS - 1_000);
    expect(
      (await fixture.readBlock('snap-0000000000000001', 5, token5)).data.equals(MAIN_BLOCKS.get(5)!),
    ).toBe(true);
    fixture.clock.advance(1_000);
    expect(await fixture.errorOf(get('snap-0000000000000001', 5, token5))).toEqual(invalidBlockToken);
  });
});

describe('ListChangedBlocks', () => {
  let changedFixture: EbsFixture;
  let image: string;
  const base = new Map<number, Buffer>([
    [0, blockContent(10)],
    [1, blockContent(11)],
    [2, blockContent(12)],
    [10, blockContent(13)],
    [11, blockContent(14)],
  ]);

  beforeAll(async () => {
    changedFixture = await startFixture();
    image = await changedFixture.sparseImage('vol-a.img', 1, base);
    const { emulator } = changedFixture.server;
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-a1',
      volumeId: 'vol-a',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    // Between the snapshots the replica: changes block 1, discards block 2 (TRIM: zeros, deallocated),
    // zeroes block 11 without a discard (still allocated), rewrites block 10 with its old content,
    // writes block 20, and writes zeros to block 30.
    await writeBlocks(
      image,
      new Map([
        [1, blockContent(21)],
        [2, ZERO_BLOCK],
        [10, blockContent(13)],
        [11, ZERO_BLOCK],
        [20, blockContent(22)],
      ]),
    );
    await emulator.discardBlocks('vol-a', [2]);
    await emulator.markBlocksWritten('vol-a', [1, 10, 11, 20, 30]);
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-a2',
      volumeId: 'vol-a',
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    const other = await changedFixture.sparseImage('vol-b.img', 1, new Map([[0, blockContent(10)]]));
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-b1',
      volumeId: 'vol-b',
      imagePath: other,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
  });

  afterAll(async () => {
    await changedFixture.close();
  });

  it('keeps blocks allocated that were written (even with zeros) and drops discarded ones', async () => {
    const blocks = (await changedFixture.blockPages({ SnapshotId: 'snap-a2' })).flat();
    expect(blocks.map((b) => b.BlockIndex)).toEqual([0, 1, 10, 11, 20, 30]);
    const block30 = await changedFixture.readBlock('snap-a2', 30, blocks[5]!.BlockToken);
    expect(block30.data.equals(ZERO_BLOCK)).toBe(true);
    expect(block30.checksum).toBe(sha256Base64(ZERO_BLOCK));
  });

  it('lists blocks that differ or exist in one snapshot only, with the tokens of the snapshots that hold them', async () => {
    const changed = await changedFixture.changedBlocks({
      FirstSnapshotId: 'snap-a1',
      SecondSnapshotId: 'snap-a2',
    });
    expect(
      changed.map((b) => [b.BlockIndex, b.FirstBlockToken !== undefined, b.SecondBlockToken !== undefined]),
    ).toEqual([
      [1, true, true],
      [2, true, false],
      [11, true, true],
      [20, false, true],
      [30, false, true],
    ]);
    const byIndex = new Map(changed.map((b) => [b.BlockIndex!, b]));
    const read = async (snapshotId: string, blockIndex: number, token: string | undefined): Promise<Buffer> =>
      (await changedFixture.readBlock(snapshotId, blockIndex, token!)).data;
    expect((await read('snap-a1', 1, byIndex.get(1)!.FirstBlockToken)).equals(blockContent(11))).toBe(true);
    expect((await read('snap-a2', 1, byIndex.get(1)!.SecondBlockToken)).equals(blockContent(21))).toBe(true);
    expect((await read('snap-a1', 2, byIndex.get(2)!.FirstBlockToken)).equals(blockContent(12))).toBe(true);
    expect((await read('snap-a2', 20, byIndex.get(20)!.SecondBlockToken)).equals(blockContent(22))).toBe(
      true,
    );
    // A FirstBlockToken is bound to the first snapshot.
    expect(
      await changedFixture.errorOf(
        changedFixture.ebs.send(
          new GetSnapshotBlockCommand({
            SnapshotId: 'snap-a2',
            BlockIndex: 1,
            BlockToken: byIndex.get(1)!.FirstBlockToken,
          }),
        ),
      ),
    ).toEqual({ name: 'ValidationException', reason: 'INVALID_BLOCK_TOKEN', status: 400 });
  });

  it('lists every block of the second snapshot when only SecondSnapshotId is given', async () => {
    const changed = await changedFixture.changedBlocks({ SecondSnapshotId: 'snap-a2' });
    expect(changed.map((b) => b.BlockIndex)).toEqual([0, 1, 10, 11, 20, 30]);
    expect(changed.every((b) => b.FirstBlockToken === undefined && b.SecondBlockToken !== undefined)).toBe(
      true,
    );
  });

  it('answers snapshots of different volumes with ValidationException UNRELATED_SNAPSHOTS (400)', async () => {
    expect(
      await changedFixture.errorOf(
        changedFixture.ebs.send(
          new ListChangedBlocksCommand({ FirstSnapshotId: 'snap-b1', SecondSnapshotId: 'snap-a2' }),
        ),
      ),
    ).toEqual({ name: 'ValidationException', reason: 'UNRELATED_SNAPSHOTS', status: 400 });
  });

  it('pages over the blocks of both snapshots, so pages can be empty before a changed block (user guide example)', async () => {
    const { emulator } = changedFixture.server;
    const blocks = new Map(
      Array.from({ length: 250 }, (_, i) => [i, blockContent(1_000 + i)] as [number, Buffer]),
    );
    const full = await changedFixture.sparseImage('vol-c.img', 1, blocks);
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-c1',
      volumeId: 'vol-c',
      imagePath: full,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    await writeBlocks(full, new Map([[249, blockContent(9_999)]]));
    await emulator.freezeVolumeImage({
      snapshotId: 'snap-c2',
      volumeId: 'vol-c',
      imagePath: full,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
    const pages: number[][] = [];
    let nextToken: string | undefined;
    do {
      const page = await changedFixture.ebs.send(
        new ListChangedBlocksCommand({
          FirstSnapshotId: 'snap-c1',
          SecondSnapshotId: 'snap-c2',
          StartingBlockIndex: 0,
          MaxResults: 100,
          NextToken: nextToken,
        }),
      );
      pages.push(page.ChangedBlocks!.map((b) => b.BlockIndex!));
      expect(page.VolumeSize).toBe(1);
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    expect(pages).toEqual([[], [], [249]]);
  });

  it('binds its page tokens to the pair of snapshots, and checks MaxResults as ListSnapshotBlocks does', async () => {
    const { emulator } = changedFixture.server;
    emulator.setFaults({ listPageBlockWindow: 5 });
    try {
      const first = await changedFixture.ebs.send(
        new ListChangedBlocksCommand({ FirstSnapshotId: 'snap-a1', SecondSnapshotId: 'snap-a2' }),
      );
      expect(first.ChangedBlocks!.map((b) => b.BlockIndex)).toEqual([1, 2]);
      const token = first.NextToken!;
      const invalidPageToken = { name: 'ValidationException', reason: 'INVALID_PAGE_TOKEN', status: 400 };
      expect(
        await changedFixture.errorOf(
          changedFixture.ebs.send(
            new ListChangedBlocksCommand({ SecondSnapshotId: 'snap-a2', NextToken: token }),
          ),
        ),
      ).toEqual(invalidPageToken);
      expect(
        await changedFixture.errorOf(
          changedFixture.ebs.send(
            new ListChangedBlocksCommand({
              FirstSnapshotId: 'snap-a2',
              SecondSnapshotId: 'snap-a1',
              NextToken: token,
            }),
          ),
        ),
      ).toEqual(invalidPageToken);
      const next = await changedFixture.ebs.send(
        new ListChangedBlocksCommand({
          FirstSnapshotId: 'snap-a1',
          SecondSnapshotId: 'snap-a2',
          NextToken: token,
          StartingBlockIndex: 30,
        }),
      );
      expect(next.ChangedBlocks!.map((b) => b.BlockIndex)).toEqual([]);
      expect(next.NextToken).toBeDefined();
    } finally {
      emulator.setFaults({ listPageBlockWindow: 65_536 });
    }
    expect(
      await changedFixture.errorOf(
        changedFixture.ebs.send(
          new ListChangedBlocksCommand({
            FirstSnapshotId: 'snap-a1',
            SecondSnapshotId: 'snap-a2',
            MaxResults: 10_001,
          }),
        ),
      ),
    ).toEqual({ name: 'ValidationException', reason: 'INVALID_PARAMETER_VALUE', status: 400 });
  });

  it('compares a snapshot with itself as having no changes', async () => {
    expect(
      await changedFixture.changedBlocks({ FirstSnapshotId: 'snap-a1', SecondSnapshotId: 'snap-a1' }),
    ).toEqual([]);
  });
});

describe('isEbsRequest', () => {
  it('recognises exactly the six EBS direct API routes', () => {
    const { emulator } = fixture.server;
    const routes: [string, string, boolean][] = [
      ['POST', '/snapshots', true],
      ['PUT', '/snapshots/snap-1/blocks/7', true],
      ['POST', '/snapshots/completion/snap-1', true],
      ['GET', '/snapshots/snap-1/blocks?maxResults=100', true],
      ['GET', '/snapshots/snap-1/changedblocks?firstSnapshotId=snap-0', true],
      ['GET', '/snapshots/snap-1/blocks/7?blockToken=abc', true],
      ['GET', '/snapshots', false],
      ['DELETE', '/snapshots/snap-1', false],
      ['POST', '/', false],
      ['GET', '/?Action=DescribeSnapshots', false],
      ['GET', '/bucket/snapshots/snap-1/blocks', false],
    ];
    expect(routes.map(([method, path]) => [method, path, emulator.isEbsRequest(method, path)])).toEqual(
      routes,
    );
  });
});
