/**
 * The contract of the EBS snapshot ports (SnapshotBlockReader, SnapshotBlockWriter in
 * lambdas/core/backup/snapshot-ports.ts), run against every implementation the engine and the
 * restore worker are tested with: the in-memory fake (test/fakes/memory-ebs.ts) and the real
 * adapter (lambdas/aws/ebs-snapshots.ts) on the EBS emulator, each also with its injected faults.
 * What EBS documents and both must do: only written blocks are listed, ascending, with tokens that
 * read them back byte for byte with the SHA-256 checksum; pages are followed with NextToken;
 * ListChangedBlocks lists changed, added and removed blocks with the tokens of the sides that hold
 * them; errors carry the service's reason
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_ListChangedBlocks.html).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SnapshotNotFoundError,
  SnapshotValidationError,
  type BlockPage,
  type SnapshotBlockReader,
  type SnapshotBlockWriter,
} from '../../lambdas/core/backup/snapshot-ports.ts';
import { ThrottledError, ValidationError } from '../../lambdas/core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';

/** A replica volume the suite writes to and snapshots as EC2 CreateSnapshot would. */
export interface ContractVolume {
  write(blockIndex: number, data: Buffer): Promise<void>;
  /** TRIM: the blocks are no longer allocated. */
  discard(blockIndexes: readonly number[]): Promise<void>;
  /** A completed snapshot of the volume's current content. */
  snapshot(): Promise<string>;
}

export interface SnapshotPortsHarness {
  readonly ports: SnapshotBlockReader & SnapshotBlockWriter;
  newVolume(sizeGib: number): Promise<ContractVolume>;
  /** Resolves once a snapshot CompleteSnapshot accepted reads as completed. */
  untilCompleted(snapshotId: string): Promise<void>;
  /** False when the implementation injects empty pages: then only the union of pages is compared. */
  readonly exactPages: boolean;
  /** Every GetSnapshotBlock from now on returns one flipped byte (the checksum stays the true one). */
  corruptReads(): void;
  /** GetSnapshotBlock from now on is throttled past one request per snapshot and second (or always). */
  throttleReads(): void;
  /** Turns the read faults off again. */
  clearFaults(): void;
  close(): Promise<void>;
}

/** Smallest page EBS returns when more blocks exist (MaxResults below it still gets 100). */
const MIN_PAGE = 100;
/** Enough blocks for two pages at MaxResults 100. */
const PAGED_BLOCKS = 130;
const UNKNOWN_SNAPSHOT = 'snap-0123456789abcdef0';

/** Distinct content for a block: the byte pattern depends on `seed`. */
function blockOf(seed: number): Buffer {
  const block = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
  for (let at = 0; at < block.length; at += 4) block.writeUInt32LE((seed * 2_654_435_761 + at) >>> 0, at);
  return block;
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

async function allPages<T>(
  list: (nextToken: string | undefined) => Promise<BlockPage<T>>,
): Promise<{ pages: T[][]; volumeSizeGib: number }> {
  const pages: T[][] = [];
  let page = await list(undefined);
  pages.push([...page.blocks]);
  while (page.nextToken !== undefined) {
    page = await list(page.nextToken);
    pages.push([...page.blocks]);
  }
  return { pages, volumeSizeGib: page.volumeSizeGib };
}

/** A name as a ClientToken may hold it (no blanks). */
function slug(name: string): string {
  return name.replace(/[^A-Za-z0-9]+/g, '-');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

export function describeSnapshotPortsContract(name: string, open: () => Promise<SnapshotPortsHarness>): void {
  describe(`snapshot ports contract: ${name}`, () => {
    let harness: SnapshotPortsHarness;
    beforeAll(async () => {
      harness = await open();
    }, 60_000);
    afterAll(async () => {
      await harness.close();
    });

    const listAll = (snapshotId: string, startingBlockIndex?: number) =>
      allPages((nextToken) =>
        harness.ports.listSnapshotBlocks({
          snapshotId,
          maxResults: MIN_PAGE,
          ...(nextToken === undefined ? {} : { nextToken }),
          ...(startingBlockIndex === undefined ? {} : { startingBlockIndex }),
        }),
      );

    it('lists only written blocks, ascending, and reads each back byte for byte with its SHA-256', async () => {
      const volume = await harness.newVolume(1);
      const written = new Map([
        [7, blockOf(7)],
        [0, blockOf(0)],
        [1500, blockOf(1500)],
      ]);
      for (const [index, data] of written) await volume.write(index, data);
      const snapshotId = await volume.snapshot();
      const { pages, volumeSizeGib } = await listAll(snapshotId);
      const blocks = pages.flat();
      expect(blocks.map((b) => b.blockIndex)).toEqual([0, 7, 1500]);
      expect(volumeSizeGib).toBe(1);
      for (const block of blocks) {
        const read = await harness.ports.getSnapshotBlock({ snapshotId, ...block });
        expect(Buffer.from(read.data).equals(written.get(block.blockIndex)!)).toBe(true);
        expect(read).toMatchObject({
          dataLength: EBS_BLOCK_SIZE_BYTES,
          checksum: sha256(written.get(block.blockIndex)!).toString('base64'),
          checksumAlgorithm: 'SHA256',
        });
      }
    });

    it('pages with NextToken: every block once, ascending; pages of at most MaxResults (100) blocks', async () => {
      const volume = await harness.newVolume(1);
      const data = blockOf(1);
      for (let index = 0; index < PAGED_BLOCKS; index += 1) await volume.write(index * 2, data);
      const snapshotId = await volume.snapshot();
      const { pages } = await listAll(snapshotId);
      const indexes = pages.flat().map((b) => b.blockIndex);
      expect(indexes).toEqual(Array.from({ length: PAGED_BLOCKS }, (_, i) => i * 2));
      for (const page of pages) expect(page.length).toBeLessThanOrEqual(MIN_PAGE);
      if (harness.exactPages)
        expect(pages.map((page) => page.length)).toEqual([MIN_PAGE, PAGED_BLOCKS - MIN_PAGE]);
      const fromMiddle = (await listAll(snapshotId, 101)).pages.flat().map((b) => b.blockIndex);
      expect(fromMiddle).toEqual(indexes.filter((index) => index >= 101));
    });

    it('lists changed, added and removed blocks between two snapshots of one volume, with the sides that hold them', async () => {
      const volume = await harness.newVolume(1);
      for (const index of [1, 2, 3]) await volume.write(index, blockOf(index));
      const first = await volume.snapshot();
      await volume.write(2, blockOf(200));
      await volume.write(9, blockOf(9));
      await volume.discard([3]);
      const second = await volume.snapshot();
      const { pages, volumeSizeGib } = await allPages((nextToken) =>
        harness.ports.listChangedBlocks({
          firstSnapshotId: first,
          secondSnapshotId: second,
          maxResults: MIN_PAGE,
          ...(nextToken === undefined ? {} : { nextToken }),
        }),
      );
      const changed = pages.flat();
      expect(volumeSizeGib).toBe(1);
      expect(
        changed.map((b) => [b.blockIndex, b.firstBlockToken !== undefined, b.secondBlockToken !== undefined]),
      ).toEqual([
        [2, true, true],
        [3, true, false],
        [9, false, true],
      ]);
      const block2 = changed[0]!;
      const before = await harness.ports.getSnapshotBlock({
        snapshotId: first,
        blockIndex: 2,
        blockToken: block2.firstBlockToken!,
      });
      const after = await harness.ports.getSnapshotBlock({
        snapshotId: second,
        blockIndex: 2,
        blockToken: block2.secondBlockToken!,
      });
      expect(Buffer.from(before.data).equals(blockOf(2))).toBe(true);
      expect(Buffer.from(after.data).equals(blockOf(200))).toBe(true);
    });

    it('refuses snapshots of different volumes with UNRELATED_SNAPSHOTS', async () => {
      const a = await harness.newVolume(1);
      const b = await harness.newVolume(1);
      await a.write(0, blockOf(1));
      await b.write(0, blockOf(1));
      const error = await rejection(
        harness.ports.listChangedBlocks({
          firstSnapshotId: await a.snapshot(),
          secondSnapshotId: await b.snapshot(),
          maxResults: MIN_PAGE,
        }),
      );
      expect(error).toBeInstanceOf(SnapshotValidationError);
      expect((error as SnapshotValidationError).reason).toBe('UNRELATED_SNAPSHOTS');
    });

    it('answers an unknown snapshot with SnapshotNotFoundError SNAPSHOT_NOT_FOUND', async () => {
      const error = await rejection(
        harness.ports.listSnapshotBlocks({ snapshotId: UNKNOWN_SNAPSHOT, maxResults: MIN_PAGE }),
      );
      expect(error).toBeInstanceOf(SnapshotNotFoundError);
      expect((error as SnapshotNotFoundError).reason).toBe('SNAPSHOT_NOT_FOUND');
    });

    it('refuses a block token of another block with INVALID_BLOCK_TOKEN', async () => {
      const volume = await harness.newVolume(1);
      await volume.write(4, blockOf(4));
      await volume.write(5, blockOf(5));
      const snapshotId = await volume.snapshot();
      const [block4, block5] = (await listAll(snapshotId)).pages.flat();
      const error = await rejection(
        harness.ports.getSnapshotBlock({
          snapshotId,
          blockIndex: block4!.blockIndex,
          blockToken: block5!.blockToken,
        }),
      );
      expect(error).toBeInstanceOf(SnapshotValidationError);
      expect((error as SnapshotValidationError).reason).toBe('INVALID_BLOCK_TOKEN');
    });

    it('writes a snapshot (StartSnapshot, PutSnapshotBlock, CompleteSnapshot) that reads back byte for byte', async () => {
      const clientToken = `contract-${slug(name)}-write`;
      const start = { volumeSizeGib: 1, clientToken, timeoutMinutes: 60 };
      const { snapshotId, blockSizeBytes } = await harness.ports.startSnapshot(start);
      expect(blockSizeBytes).toBe(EBS_BLOCK_SIZE_BYTES);
      // The same ClientToken and parameters: the same snapshot.
      expect((await harness.ports.startSnapshot(start)).snapshotId).toBe(snapshotId);
      const blocks = new Map([
        [3, blockOf(30)],
        [0, blockOf(31)],
      ]);
      for (const [blockIndex, data] of blocks) {
        await harness.ports.putSnapshotBlock({
          snapshotId,
          blockIndex,
          data,
          checksumBase64: sha256(data).toString('base64'),
        });
      }
      const linear = createHash('sha256');
      for (const index of [...blocks.keys()].sort((a, b) => a - b)) linear.update(sha256(blocks.get(index)!));
      const completed = await harness.ports.completeSnapshot({
        snapshotId,
        changedBlocksCount: blocks.size,
        checksumBase64: linear.digest('base64'),
      });
      expect(completed.status).toBe('pending');
      await harness.untilCompleted(snapshotId);
      const listed = (await listAll(snapshotId)).pages.flat();
      expect(listed.map((b) => b.blockIndex)).toEqual([0, 3]);
      for (const block of listed) {
        const read = await harness.ports.getSnapshotBlock({ snapshotId, ...block });
        expect(Buffer.from(read.data).equals(blocks.get(block.blockIndex)!)).toBe(true);
      }
    });

    it('refuses a block whose checksum does not match its data, and a block of the wrong length', async () => {
      const { snapshotId } = await harness.ports.startSnapshot({
        volumeSizeGib: 1,
        clientToken: `contract-${slug(name)}-bad-put`,
        timeoutMinutes: 60,
      });
      const data = blockOf(5);
      const wrongChecksum = await rejection(
        harness.ports.putSnapshotBlock({
          snapshotId,
          blockIndex: 0,
          data,
          checksumBase64: sha256(blockOf(6)).toString('base64'),
        }),
      );
      expect(wrongChecksum).toBeInstanceOf(ValidationError);
      const short = data.subarray(0, 4096);
      const wrongLength = await rejection(
        harness.ports.putSnapshotBlock({
          snapshotId,
          blockIndex: 0,
          data: short,
          checksumBase64: sha256(short).toString('base64'),
        }),
      );
      expect(wrongLength).toBeInstanceOf(ValidationError);
    });

    it('with corruption injected, returns flipped data with the checksum of the true data', async () => {
      const volume = await harness.newVolume(1);
      await volume.write(0, blockOf(77));
      const snapshotId = await volume.snapshot();
      const [block] = (await listAll(snapshotId)).pages.flat();
      harness.corruptReads();
      try {
        const read = await harness.ports.getSnapshotBlock({ snapshotId, ...block! });
        expect(read.checksum).toBe(sha256(blockOf(77)).toString('base64'));
        expect(sha256(read.data).toString('base64')).not.toBe(read.checksum);
        expect(read.data.length).toBe(EBS_BLOCK_SIZE_BYTES);
      } finally {
        harness.clearFaults();
      }
    });

    it('with throttling injected, refuses reads past the rate with ThrottledError (retryable)', async () => {
      const volume = await harness.newVolume(1);
      await volume.write(0, blockOf(78));
      const snapshotId = await volume.snapshot();
      const [block] = (await listAll(snapshotId)).pages.flat();
      harness.throttleReads();
      try {
        const outcomes = await Promise.allSettled(
          [1, 2, 3].map(() => harness.ports.getSnapshotBlock({ snapshotId, ...block! })),
        );
        const failures = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason as unknown);
        expect(failures.length).toBeGreaterThanOrEqual(1);
        for (const failure of failures) expect(failure).toBeInstanceOf(ThrottledError);
      } finally {
        harness.clearFaults();
      }
    });
  });
}
