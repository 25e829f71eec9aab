/**
 * EBS direct API adapter: the engine's SnapshotBlockReader and SnapshotBlockWriter over EBSClient.
 * No retries here: the engine retries what translateSdkError (sdk-errors.ts) marks retryable.
 */
import type { EBSClient } from '@aws-sdk/client-ebs';
import {
  CompleteSnapshotCommand,
  GetSnapshotBlockCommand,
  ListChangedBlocksCommand,
  ListSnapshotBlocksCommand,
  PutSnapshotBlockCommand,
  StartSnapshotCommand,
} from '@aws-sdk/client-ebs';
import type {
  BlockPage,
  ChangedBlock,
  CompleteSnapshotRequest,
  GetSnapshotBlockRequest,
  ListChangedBlocksRequest,
  ListSnapshotBlocksRequest,
  ListedBlock,
  PutSnapshotBlockRequest,
  SnapshotBlockData,
  SnapshotBlockReader,
  SnapshotBlockWriter,
  StartSnapshotRequest,
} from '../core/backup/snapshot-ports.ts';
import { IntegrityError } from '../core/errors.ts';
import { EBS_BLOCK_SIZE_BYTES } from '../core/geometry.ts';
import { callSdk } from './sdk-errors.ts';

/** The paging parameters ListSnapshotBlocks and ListChangedBlocks share. */
function listPaging(request: ListSnapshotBlocksRequest | ListChangedBlocksRequest): {
  MaxResults: number;
  NextToken?: string;
  StartingBlockIndex?: number;
} {
  return {
    MaxResults: request.maxResults,
    ...(request.nextToken === undefined ? {} : { NextToken: request.nextToken }),
    ...(request.startingBlockIndex === undefined ? {} : { StartingBlockIndex: request.startingBlockIndex }),
  };
}

/** The page fields ListSnapshotBlocks and ListChangedBlocks answer alike, besides the blocks. */
function pageDetails(out: {
  NextToken?: string | undefined;
  VolumeSize?: number | undefined;
  BlockSize?: number | undefined;
}): Omit<BlockPage<unknown>, 'blocks'> {
  return {
    ...(out.NextToken ? { nextToken: out.NextToken } : {}),
    volumeSizeGib: out.VolumeSize ?? 0,
    blockSizeBytes: out.BlockSize ?? EBS_BLOCK_SIZE_BYTES,
  };
}

export class EbsSnapshots implements SnapshotBlockReader, SnapshotBlockWriter {
  constructor(private readonly ebs: EBSClient) {}

  listSnapshotBlocks(request: ListSnapshotBlocksRequest): Promise<BlockPage<ListedBlock>> {
    return callSdk('ListSnapshotBlocks', { snapshotId: request.snapshotId }, async () => {
      const out = await this.ebs.send(
        new ListSnapshotBlocksCommand({
          SnapshotId: request.snapshotId,
          ...listPaging(request),
        }),
      );
      return {
        blocks: (out.Blocks ?? []).map((b) => ({ blockIndex: b.BlockIndex!, blockToken: b.BlockToken! })),
        ...pageDetails(out),
      };
    });
  }

  listChangedBlocks(request: ListChangedBlocksRequest): Promise<BlockPage<ChangedBlock>> {
    const context = { firstSnapshotId: request.firstSnapshotId, secondSnapshotId: request.secondSnapshotId };
    return callSdk('ListChangedBlocks', context, async () => {
      const out = await this.ebs.send(
        new ListChangedBlocksCommand({
          FirstSnapshotId: request.firstSnapshotId,
          SecondSnapshotId: request.secondSnapshotId,
          ...listPaging(request),
        }),
      );
      return {
        blocks: (out.ChangedBlocks ?? []).map((b) => ({
          blockIndex: b.BlockIndex!,
          ...(b.FirstBlockToken ? { firstBlockToken: b.FirstBlockToken } : {}),
          ...(b.SecondBlockToken ? { secondBlockToken: b.SecondBlockToken } : {}),
        })),
        ...pageDetails(out),
      };
    });
  }

  getSnapshotBlock(request: GetSnapshotBlockRequest): Promise<SnapshotBlockData> {
    const context = { snapshotId: request.snapshotId, blockIndex: request.blockIndex };
    return callSdk('GetSnapshotBlock', context, async () => {
      const out = await this.ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: request.snapshotId,
          BlockIndex: request.blockIndex,
          BlockToken: request.blockToken,
        }),
      );
      if (out.BlockData === undefined)
        throw new IntegrityError('GetSnapshotBlock returned no data', { context });
      const data = await out.BlockData.transformToByteArray();
      return {
        data,
        dataLength: out.DataLength ?? -1,
        checksum: out.Checksum ?? '',
        checksumAlgorithm: out.ChecksumAlgorithm ?? '',
      };
    });
  }

  startSnapshot(request: StartSnapshotRequest): Promise<{ snapshotId: string; blockSizeBytes: number }> {
    return callSdk('StartSnapshot', { clientToken: request.clientToken }, async () => {
      const out = await this.ebs.send(
        new StartSnapshotCommand({
          VolumeSize: request.volumeSizeGib,
          ClientToken: request.clientToken,
          Timeout: request.timeoutMinutes,
          ...(request.description === undefined ? {} : { Description: request.description }),
          ...(request.parentSnapshotId === undefined ? {} : { ParentSnapshotId: request.parentSnapshotId }),
          ...(request.kmsKeyArn === undefined
            ? {}
            : request.parentSnapshotId === undefined
              ? { Encrypted: true, KmsKeyArn: request.kmsKeyArn }
              : { KmsKeyArn: request.kmsKeyArn }),
          ...(request.tags === undefined
            ? {}
            : { Tags: Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value })) }),
        }),
      );
      return { snapshotId: out.SnapshotId!, blockSizeBytes: out.BlockSize ?? EBS_BLOCK_SIZE_BYTES };
    });
  }

  putSnapshotBlock(request: PutSnapshotBlockRequest): Promise<void> {
    const context = { snapshotId: request.snapshotId, blockIndex: request.blockIndex };
    return callSdk('PutSnapshotBlock', context, async () => {
      await this.ebs.send(
        new PutSnapshotBlockCommand({
          SnapshotId: request.snapshotId,
          BlockIndex: request.blockIndex,
          BlockData: request.data,
          DataLength: request.data.length,
          Checksum: request.checksumBase64,
          ChecksumAlgorithm: 'SHA256',
          ...(request.progress === undefined ? {} : { Progress: request.progress }),
        }),
      );
    });
  }

  completeSnapshot(request: CompleteSnapshotRequest): Promise<{ status: string }> {
    return callSdk('CompleteSnapshot', { snapshotId: request.snapshotId }, async () => {
      const out = await this.ebs.send(
        new CompleteSnapshotCommand({
          SnapshotId: request.snapshotId,
          ChangedBlocksCount: request.changedBlocksCount,
          Checksum: request.checksumBase64,
          ChecksumAlgorithm: 'SHA256',
          ChecksumAggregationMethod: 'LINEAR',
        }),
      );
      return { status: out.Status ?? 'pending' };
    });
  }
}
