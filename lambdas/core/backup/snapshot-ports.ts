/**
 * Ports over the EBS direct APIs and EC2 snapshot state. The adapters (lambdas/aws/ebs-snapshots.ts)
 * translate SDK errors into the typed errors below and lambdas/core/errors.ts: throttling and 5xx
 * become ThrottledError / RetryableError, everything else fails fast.
 */
import { NotFoundError, ValidationError, type RbpErrorOptions } from '../errors.ts';

export interface ListedBlock {
  readonly blockIndex: number;
  readonly blockToken: string;
}

export interface ChangedBlock {
  readonly blockIndex: number;
  readonly firstBlockToken?: string;
  /** Absent when the block is not in the second snapshot any more (it reads as zeros). */
  readonly secondBlockToken?: string;
}

export interface BlockPage<T> {
  readonly blocks: readonly T[];
  readonly nextToken?: string;
  /** VolumeSize of the (second) snapshot in GiB, as the list APIs return it. */
  readonly volumeSizeGib: number;
  readonly blockSizeBytes: number;
}

export interface ListSnapshotBlocksRequest {
  readonly snapshotId: string;
  readonly startingBlockIndex?: number;
  readonly nextToken?: string;
  readonly maxResults: number;
}

export interface ListChangedBlocksRequest {
  readonly firstSnapshotId: string;
  readonly secondSnapshotId: string;
  readonly startingBlockIndex?: number;
  readonly nextToken?: string;
  readonly maxResults: number;
}

export interface GetSnapshotBlockRequest {
  readonly snapshotId: string;
  readonly blockIndex: number;
  readonly blockToken: string;
}

export interface SnapshotBlockData {
  readonly data: Uint8Array;
  readonly dataLength: number;
  /** Base64 checksum EBS computed over the block data. */
  readonly checksum: string;
  readonly checksumAlgorithm: string;
}

export interface SnapshotBlockReader {
  listSnapshotBlocks(request: ListSnapshotBlocksRequest): Promise<BlockPage<ListedBlock>>;
  listChangedBlocks(request: ListChangedBlocksRequest): Promise<BlockPage<ChangedBlock>>;
  getSnapshotBlock(request: GetSnapshotBlockRequest): Promise<SnapshotBlockData>;
}

export interface StartSnapshotRequest {
  readonly volumeSizeGib: number;
  /** Idempotency token: the same token and parameters return the same snapshot. */
  readonly clientToken: string;
  readonly timeoutMinutes: number;
  readonly description?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /**
   * Encrypt the new snapshot with this KMS key. Without a parent it is sent with Encrypted=true;
   * with a parent only KmsKeyArn is sent (EBS refuses Encrypted together with ParentSnapshotId:
   * https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-encryption.html).
   */
  readonly kmsKeyArn?: string;
  /** A completed snapshot the new one starts from (its blocks are inherited; only changes are put). */
  readonly parentSnapshotId?: string;
}

export interface PutSnapshotBlockRequest {
  readonly snapshotId: string;
  readonly blockIndex: number;
  /** Exactly 524,288 bytes. */
  readonly data: Uint8Array;
  readonly checksumBase64: string;
  /** 0..100, informational. */
  readonly progress?: number;
}

export interface CompleteSnapshotRequest {
  readonly snapshotId: string;
  readonly changedBlocksCount: number;
  /** Base64 SHA-256 over the raw block digests in ascending block order (LINEAR). */
  readonly checksumBase64: string;
}

export interface SnapshotBlockWriter {
  startSnapshot(request: StartSnapshotRequest): Promise<{ snapshotId: string; blockSizeBytes: number }>;
  putSnapshotBlock(request: PutSnapshotBlockRequest): Promise<void>;
  completeSnapshot(request: CompleteSnapshotRequest): Promise<{ status: string }>;
}

export type SnapshotState = 'pending' | 'completed' | 'error' | 'recoverable' | 'recovering';

export interface SnapshotStateReader {
  /** EC2 DescribeSnapshots for one snapshot. NotFoundError when it does not exist. */
  describeSnapshot(
    snapshotId: string,
  ): Promise<{ state: SnapshotState; progress?: string; stateMessage?: string }>;
}

/** EBS ValidationException with its reason (UNRELATED_SNAPSHOTS, INVALID_BLOCK_TOKEN, ...). */
export class SnapshotValidationError extends ValidationError {
  constructor(
    message: string,
    readonly reason: string,
    options: RbpErrorOptions = {},
  ) {
    super(message, { ...options, context: { ...options.context, reason } });
  }
}

/** EBS ResourceNotFoundException (SNAPSHOT_NOT_FOUND, ...), e.g. a deleted parent snapshot. */
export class SnapshotNotFoundError extends NotFoundError {
  constructor(
    message: string,
    readonly reason: string,
    options: RbpErrorOptions = {},
  ) {
    super(message, { ...options, context: { ...options.context, reason } });
  }
}
