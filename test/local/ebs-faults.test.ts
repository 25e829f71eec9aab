/**
 * Fault injection of the EBS emulator, observed as a client sees it: the SDK exception classes with
 * their `.Reason`, and corrupted block bodies whose x-amz-Checksum still belongs to the true data.
 */
import {
  GetSnapshotBlockCommand,
  PutSnapshotBlockCommand,
  RequestThrottledException,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { blockContent, sha256Base64, startFixture, type EbsFixture } from './ebs-test-support.ts';

const BLOCKS = new Map(
  Array.from({ length: 8 }, (_, i) => [i * 3, blockContent(i + 100)] as [number, Buffer]),
);

async function frozenFixture(seed: number): Promise<{ fixture: EbsFixture; tokens: Map<number, string> }> {
  const fixture = await startFixture({ seed });
  const image = await fixture.sparseImage('faults.img', 1, BLOCKS);
  for (const [snapshotId, volumeId] of [
    ['snap-f1', 'vol-f1'],
    ['snap-f2', 'vol-f2'],
  ] as const) {
    await fixture.server.emulator.freezeVolumeImage({
      snapshotId,
      volumeId,
      imagePath: image,
      volumeSizeGib: 1,
      completeAfterMs: 0,
    });
  }
  const blocks = (await fixture.blockPages({ SnapshotId: 'snap-f1' })).flat();
  return { fixture, tokens: new Map(blocks.map((b) => [b.BlockIndex, b.BlockToken])) };
}

function differingBytes(a: Buffer, b: Buffer): number[] {
  const positions: number[] = [];
  for (let at = 0; at < a.length; at += 1) if (a[at] !== b[at]) positions.push(at);
  return positions;
}

describe('faults', () => {
  let fixture: EbsFixture;
  let tokens: Map<number, string>;

  beforeEach(async () => {
    ({ fixture, tokens } = await frozenFixture(7));
  });

  afterEach(async () => {
    await fixture.close();
  });

  it('corruptBlockDataRate 1: one flipped byte in the body, the checksum header of the true data', async () => {
    fixture.server.emulator.setFaults({ corruptBlockDataRate: 1 });
    for (const [blockIndex, token] of tokens) {
      const block = await fixture.readBlock('snap-f1', blockIndex, token);
      const truth = BLOCKS.get(blockIndex)!;
      expect(block.data.length).toBe(EBS_BLOCK_SIZE_BYTES);
      expect(differingBytes(block.data, truth)).toHaveLength(1);
      expect(block.checksum).toBe(sha256Base64(truth));
      expect(sha256Base64(block.data)).not.toBe(block.checksum);
    }
    fixture.server.emulator.setFaults({ corruptBlockDataRate: 0 });
    const clean = await fixture.readBlock('snap-f1', 0, tokens.get(0)!);
    expect(clean.data.equals(BLOCKS.get(0)!)).toBe(true);
  });

  it('corrupts the same reads at the same bytes for the same seed', async () => {
    const pattern = async (target: EbsFixture, targetTokens: Map<number, string>): Promise<string[]> => {
      target.server.emulator.setFaults({ corruptBlockDataRate: 0.5 });
      const seen: string[] = [];
      for (let round = 0; round < 2; round += 1) {
        for (const [blockIndex, token] of targetTokens) {
          const block = await target.readBlock('snap-f1', blockIndex, token);
          seen.push(`${blockIndex}:${differingBytes(block.data, BLOCKS.get(blockIndex)!).join(',')}`);
        }
      }
      return seen;
    };
    const again = await frozenFixture(7);
    const otherSeed = await frozenFixture(8);
    try {
      const first = await pattern(fixture, tokens);
      expect(await pattern(again.fixture, again.tokens)).toEqual(first);
      expect(await pattern(otherSeed.fixture, otherSeed.tokens)).not.toEqual(first);
      const corrupted = first.filter((entry) => !entry.endsWith(':')).length;
      expect(corrupted).toBeGreaterThan(0);
      expect(corrupted).toBeLessThan(first.length);
    } finally {
      await again.fixture.close();
      await otherSeed.fixture.close();
    }
  });

  it('perSnapshotRequestsPerSecond: RequestThrottledException RESOURCE_LEVEL_THROTTLE (400) past the cap, per snapshot and per second', async () => {
    fixture.server.emulator.setFaults({ perSnapshotRequestsPerSecond: 3 });
    const get = (snapshotId: string, blockIndex: number) =>
      fixture.ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: blockIndex,
          BlockToken: tokens.get(blockIndex),
        }),
      );
    for (const blockIndex of [0, 3, 6]) await get('snap-f1', blockIndex);
    const error = await fixture.rejectionOf(get('snap-f1', 9));
    expect(error).toBeInstanceOf(RequestThrottledException);
    expect({
      reason: error.Reason,
      status: (error.$metadata as { httpStatusCode: number }).httpStatusCode,
    }).toEqual({
      reason: 'RESOURCE_LEVEL_THROTTLE',
      status: 400,
    });
    // Another snapshot has its own budget: the request gets past the cap and fails on the foreign token.
    expect(await fixture.errorOf(get('snap-f2', 0))).toEqual({
      name: 'ValidationException',
      reason: 'INVALID_BLOCK_TOKEN',
      status: 400,
    });
    fixture.clock.advance(1_000);
    expect((await fixture.readBlock('snap-f1', 9, tokens.get(9)!)).data.equals(BLOCKS.get(9)!)).toBe(true);

    const started = await fixture.ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    const data = blockContent(1);
    const putBlock = (blockIndex: number) =>
      fixture.ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId: started.SnapshotId,
          BlockIndex: blockIndex,
          BlockData: data,
          DataLength: EBS_BLOCK_SIZE_BYTES,
          Checksum: sha256Base64(data),
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    for (const blockIndex of [0, 1, 2]) await putBlock(blockIndex);
    expect(await fixture.errorOf(putBlock(3))).toEqual({
      name: 'RequestThrottledException',
      reason: 'RESOURCE_LEVEL_THROTTLE',
      status: 400,
    });
  });

  it('putSnapshotBlockNotFoundForMs: a new snapshot answers PutSnapshotBlock with SNAPSHOT_NOT_FOUND (404) for a while', async () => {
    fixture.server.emulator.setFaults({ putSnapshotBlockNotFoundForMs: 120_000 });
    const started = await fixture.ebs.send(new StartSnapshotCommand({ VolumeSize: 1 }));
    const data = blockContent(1);
    const putBlock = () =>
      fixture.ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId: started.SnapshotId,
          BlockIndex: 0,
          BlockData: data,
          DataLength: EBS_BLOCK_SIZE_BYTES,
          Checksum: sha256Base64(data),
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    expect(await fixture.errorOf(putBlock())).toEqual({
      name: 'ResourceNotFoundException',
      reason: 'SNAPSHOT_NOT_FOUND',
      status: 404,
    });
    fixture.clock.advance(119_999);
    expect(await fixture.errorOf(putBlock())).toMatchObject({ name: 'ResourceNotFoundException' });
    fixture.clock.advance(1);
    expect(await putBlock()).toMatchObject({ $metadata: { httpStatusCode: 201 } });
  });

  it('rejects fault settings out of range', () => {
    const { emulator } = fixture.server;
    expect(() => emulator.setFaults({ corruptBlockDataRate: 1.5 })).toThrow(
      'corruptBlockDataRate must be within 0..1',
    );
    expect(() => emulator.setFaults({ perSnapshotRequestsPerSecond: 0 })).toThrow(
      'perSnapshotRequestsPerSecond must be > 0',
    );
    expect(() => emulator.setFaults({ listPageBlockWindow: 0 })).toThrow(
      'listPageBlockWindow must be a positive integer',
    );
  });
});
