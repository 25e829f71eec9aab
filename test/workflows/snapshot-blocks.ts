/**
 * Reading clone snapshots back through the EBS direct APIs (ListSnapshotBlocks pages, then
 * GetSnapshotBlock per listed block), for the workflow tests that compare a snapshot with the
 * disk image it must hold: the runs on the local stack, the masking hook, volumes from snapshots.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { GetSnapshotBlockCommand, ListSnapshotBlocksCommand, type EBSClient } from '@aws-sdk/client-ebs';
import { EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';

export { deltaRestoreBlocks, differingBlocks } from '../../local/clone-oracle.ts';

/** Calls `visit` with every block the snapshot lists (index order, as ListSnapshotBlocks pages them). */
export async function forEachSnapshotBlock(
  ebs: EBSClient,
  snapshotId: string,
  visit: (index: number, data: Uint8Array) => void | Promise<void>,
): Promise<void> {
  let token: string | undefined;
  do {
    const page = await ebs.send(
      new ListSnapshotBlocksCommand({
        SnapshotId: snapshotId,
        ...(token === undefined ? {} : { NextToken: token }),
      }),
    );
    for (const block of page.Blocks ?? []) {
      const got = await ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: block.BlockIndex!,
          BlockToken: block.BlockToken!,
        }),
      );
      await visit(block.BlockIndex!, await got.BlockData!.transformToByteArray());
    }
    token = page.NextToken;
  } while (token !== undefined);
}

/** The snapshot's first `sizeBytes` bytes (unlisted blocks read as zeros). */
export async function snapshotBytes(ebs: EBSClient, snapshotId: string, sizeBytes: number): Promise<Buffer> {
  const bytes = Buffer.alloc(sizeBytes);
  await forEachSnapshotBlock(ebs, snapshotId, (index, data) => {
    const offset = index * EBS_BLOCK_SIZE_BYTES;
    if (offset < sizeBytes)
      Buffer.from(data).copy(bytes, offset, 0, Math.min(data.length, sizeBytes - offset));
  });
  return bytes;
}

/** Writes every block of the snapshot into a sparse file of `sizeBytes`; returns the listed block indexes. */
export async function downloadSnapshotToFile(
  ebs: EBSClient,
  snapshotId: string,
  sizeBytes: number,
  target: string,
): Promise<number[]> {
  const handle = await open(target, 'w+');
  const indexes: number[] = [];
  try {
    await handle.truncate(sizeBytes);
    await forEachSnapshotBlock(ebs, snapshotId, async (index, data) => {
      await handle.write(data, 0, data.length, index * EBS_BLOCK_SIZE_BYTES);
      indexes.push(index);
    });
  } finally {
    await handle.close();
  }
  return indexes;
}

/** Block index → SHA-256 (hex) of every block the snapshot lists. */
export async function snapshotBlockDigests(ebs: EBSClient, snapshotId: string): Promise<Map<number, string>> {
  const blocks = new Map<number, string>();
  await forEachSnapshotBlock(ebs, snapshotId, (index, data) => {
    blocks.set(index, createHash('sha256').update(data).digest('hex'));
  });
  return blocks;
}
