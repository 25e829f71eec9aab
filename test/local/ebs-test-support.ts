/** Shared fixtures of the EBS emulator tests: a manual clock, sparse images, a server and an SDK client. */
import { createHash } from 'node:crypto';
import { mkdtemp, open, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteSnapshotCommand,
  EBSClient,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
  type ChangedBlock,
  type ListChangedBlocksCommandInput,
  type ListSnapshotBlocksCommandInput,
} from '@aws-sdk/client-ebs';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import type { EbsEmulatorOptions } from '../../local/ebs/ebs-emulator.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { startEbsEmulatorServer, type EbsEmulatorServer } from '../../local/ebs/ebs-server.ts';

export { ManualClock };

/** What GetSnapshotBlock answered: the block's bytes and the headers the tests compare. */
export interface ReadBlockAnswer {
  data: Buffer;
  checksum: string | undefined;
  algorithm: string | undefined;
  dataLength: number | undefined;
}

/**
 * One emulator on a manual clock with an SDK client on it, and the client-side helpers of the
 * emulator tests bound to that client, so that a test reaches them all through its fixture.
 */
export interface EbsFixture {
  readonly dir: string;
  readonly clock: ManualClock;
  readonly server: EbsEmulatorServer;
  readonly ebs: EBSClient;
  /** Every page of a ListSnapshotBlocks traversal (see allSnapshotBlockPages). */
  blockPages(input: ListSnapshotBlocksCommandInput): Promise<{ BlockIndex: number; BlockToken: string }[][]>;
  /** Every changed block of a ListChangedBlocks traversal (see allChangedBlocks). */
  changedBlocks(input: ListChangedBlocksCommandInput): Promise<ChangedBlock[]>;
  /** One GetSnapshotBlock (see readBlock). */
  readBlock(snapshotId: string, blockIndex: number, blockToken: string): Promise<ReadBlockAnswer>;
  /** A sparse image `name` in the fixture's directory (see makeSparseImage); answers its path. */
  sparseImage(name: string, sizeGib: number, blocks: ReadonlyMap<number, Buffer>): Promise<string>;
  /** The error a call rejects with (see rejectionOf). */
  rejectionOf(call: Promise<unknown>): Promise<Record<string, unknown> & Error>;
  /** The SDK exception of a failed call, reduced to name, reason and status (see ebsErrorOf). */
  errorOf(call: Promise<unknown>): Promise<EbsErrorSummary>;
  close(): Promise<void>;
}

export async function startFixture(options: Partial<EbsEmulatorOptions> = {}): Promise<EbsFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ebs-emulator-test-'));
  const clock = new ManualClock();
  const server = await startEbsEmulatorServer({ stateDir: join(dir, 'state'), clock, ...options });
  const ebs = sdkClient(server.endpoint);
  return {
    dir,
    clock,
    server,
    ebs,
    blockPages: (input) => allSnapshotBlockPages(ebs, input),
    changedBlocks: (input) => allChangedBlocks(ebs, input),
    readBlock: (snapshotId, blockIndex, blockToken) => readBlock(ebs, snapshotId, blockIndex, blockToken),
    sparseImage: async (name, sizeGib, blocks) => {
      const path = join(dir, name);
      await makeSparseImage(path, sizeGib, blocks);
      return path;
    },
    rejectionOf,
    errorOf: ebsErrorOf,
    close: async () => {
      ebs.destroy();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function sdkClient(endpoint: string): EBSClient {
  return new EBSClient({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });
}

/** Deterministic, distinct content for a block: the byte pattern depends on `seed`. */
export function blockContent(seed: number): Buffer {
  const block = Buffer.alloc(EBS_BLOCK_SIZE_BYTES);
  for (let at = 0; at < block.length; at += 4) block.writeUInt32LE((seed * 2_654_435_761 + at) >>> 0, at);
  return block;
}

export function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

/** Creates a sparse image of `sizeGib` GiB (truncate) and writes the given blocks into it. */
export async function makeSparseImage(
  path: string,
  sizeGib: number,
  blocks: ReadonlyMap<number, Buffer>,
): Promise<void> {
  await writeFile(path, '');
  await truncate(path, sizeGib * GIB_BYTES);
  await writeBlocks(path, blocks);
}

export async function writeBlocks(path: string, blocks: ReadonlyMap<number, Buffer>): Promise<void> {
  const file = await open(path, 'r+');
  try {
    for (const [blockIndex, data] of blocks)
      await file.write(data, 0, data.length, blockIndex * EBS_BLOCK_SIZE_BYTES);
  } finally {
    await file.close();
  }
}

/** Every page of a ListSnapshotBlocks traversal (pages kept apart, empty ones included). */
export async function allSnapshotBlockPages(
  ebs: EBSClient,
  input: ListSnapshotBlocksCommandInput,
): Promise<{ BlockIndex: number; BlockToken: string }[][]> {
  const pages: { BlockIndex: number; BlockToken: string }[][] = [];
  let nextToken: string | undefined;
  do {
    const page = await ebs.send(new ListSnapshotBlocksCommand({ ...input, NextToken: nextToken }));
    pages.push(
      (page.Blocks ?? []).map((block) => ({ BlockIndex: block.BlockIndex!, BlockToken: block.BlockToken! })),
    );
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return pages;
}

export async function allChangedBlocks(
  ebs: EBSClient,
  input: ListChangedBlocksCommandInput,
): Promise<ChangedBlock[]> {
  const blocks: ChangedBlock[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ebs.send(new ListChangedBlocksCommand({ ...input, NextToken: nextToken }));
    blocks.push(...(page.ChangedBlocks ?? []));
    nextToken = page.NextToken;
  } while (nextToken !== undefined);
  return blocks;
}

export async function readBlock(
  ebs: EBSClient,
  snapshotId: string,
  blockIndex: number,
  blockToken: string,
): Promise<ReadBlockAnswer> {
  const answer = await ebs.send(
    new GetSnapshotBlockCommand({ SnapshotId: snapshotId, BlockIndex: blockIndex, BlockToken: blockToken }),
  );
  const data = Buffer.from(await answer.BlockData!.transformToByteArray());
  return {
    data,
    checksum: answer.Checksum,
    algorithm: answer.ChecksumAlgorithm,
    dataLength: answer.DataLength,
  };
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Record<string, unknown> & Error> {
  try {
    await promise;
  } catch (error) {
    return error as Record<string, unknown> & Error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** What the tests compare exactly of an SDK exception. */
export interface EbsErrorSummary {
  name: string;
  reason: unknown;
  status: unknown;
}

/** The SDK exception of a failed call, reduced to what the tests compare exactly. */
export async function ebsErrorOf(promise: Promise<unknown>): Promise<EbsErrorSummary> {
  const error = await rejectionOf(promise);
  const metadata = error.$metadata as { httpStatusCode?: number } | undefined;
  return { name: error.name, reason: error.Reason, status: metadata?.httpStatusCode };
}

/**
 * Writes one block into a StartSnapshot snapshot and completes it (ChangedBlocksCount 1, the
 * LINEAR aggregate checksum of that one block).
 */
export async function putBlockAndComplete(
  ebs: EBSClient,
  snapshotId: string,
  blockIndex: number,
  block: Buffer,
): Promise<void> {
  const digest = createHash('sha256').update(block).digest();
  await ebs.send(
    new PutSnapshotBlockCommand({
      SnapshotId: snapshotId,
      BlockIndex: blockIndex,
      BlockData: block,
      DataLength: EBS_BLOCK_SIZE_BYTES,
      Checksum: digest.toString('base64'),
      ChecksumAlgorithm: 'SHA256',
    }),
  );
  await ebs.send(
    new CompleteSnapshotCommand({
      SnapshotId: snapshotId,
      ChangedBlocksCount: 1,
      Checksum: createHash('sha256').update(digest).digest('base64'),
      ChecksumAlgorithm: 'SHA256',
      ChecksumAggregationMethod: 'LINEAR',
    }),
  );
}
