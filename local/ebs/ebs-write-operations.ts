/**
 * The EBS direct API's write operations on the snapshot model: StartSnapshot (parameters,
 * ClientToken idempotency, parent), PutSnapshotBlock (headers, checksum) and CompleteSnapshot
 * (ChangedBlocksCount, the LINEAR aggregate checksum). Behaviour: local/ebs/README.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { blocksInVolume, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { EbsApiError, snapshotNotFound, VALIDATION_REASON, validationError } from './ebs-api-error.ts';
import type { EbsEmulatorFaults } from './ebs-faults.ts';
import {
  CHECKSUM_PATTERN,
  header,
  optionalInteger,
  requireSnapshotIdFormat,
  type JsonAnswer,
} from './ebs-request.ts';
import type { SnapshotEntry, SnapshotModel } from './ebs-snapshot-model.ts';
import { parseStartSnapshotRequest } from './ebs-start-snapshot-request.ts';
import type { SnapshotMeta } from './ebs-state-store.ts';

/** Owner reported by StartSnapshot: moto's default account, so EC2 and EBS agree locally. */
export const EMULATED_ACCOUNT_ID = '123456789012';
/** Random bytes of a new snapshot id: 17 hex digits, as EC2's `snap-` ids have. */
const SNAPSHOT_ID_RANDOM_BYTES = 9;
const SNAPSHOT_ID_HEX_DIGITS = 17;
const MS_PER_SECOND = 1000;

export interface WriteOperationsOptions {
  readonly model: SnapshotModel;
  /** Delay between CompleteSnapshot and the snapshot turning `completed`. */
  readonly completeSnapshotDelayMs: number;
  /** The faults in force now (they change with setFaults). */
  readonly faults: () => Required<EbsEmulatorFaults>;
  /** Counts one block request against the snapshot's cap; throws when throttled. */
  readonly throttle: (snapshotId: string) => void;
  /** Fault cutOffPutSnapshotBlockAfter: whether puts are cut off now, and the count of accepted puts. */
  readonly putCutOff?: { readonly active: () => boolean; readonly accepted: () => void };
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function epochSeconds(ms: number): number {
  return ms / MS_PER_SECOND;
}

/**
 * SHA-256 over the raw 32-byte digests in ascending block order, base64: the LINEAR aggregate
 * checksum of CompleteSnapshot
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html).
 */
export function linearAggregateChecksum(digestsByIndex: ReadonlyMap<number, Buffer>): string {
  const hash = createHash('sha256');
  for (const blockIndex of [...digestsByIndex.keys()].sort((a, b) => a - b)) {
    hash.update(digestsByIndex.get(blockIndex) as Buffer);
  }
  return hash.digest('base64');
}

export class EbsWriteOperations {
  private readonly model: SnapshotModel;
  private readonly completeSnapshotDelayMs: number;

  constructor(private readonly options: WriteOperationsOptions) {
    this.model = options.model;
    this.completeSnapshotDelayMs = options.completeSnapshotDelayMs;
  }

  async startSnapshot(body: Buffer): Promise<JsonAnswer> {
    const request = parseStartSnapshotRequest(body);
    const { clientToken, fingerprint } = request;
    const existing = clientToken === undefined ? undefined : this.model.byClientToken(clientToken);
    if (existing !== undefined) {
      if (existing.meta.requestFingerprint !== fingerprint) {
        throw new EbsApiError(
          'ConflictException',
          `The ClientToken '${clientToken}' was already used with different parameters.`,
        );
      }
      return { status: 201, body: this.startSnapshotResponse(existing.meta) };
    }
    const parent = request.parentSnapshotId === undefined ? undefined : this.startSnapshotParent(request);
    const snapshotId = `snap-${randomBytes(SNAPSHOT_ID_RANDOM_BYTES).toString('hex').slice(0, SNAPSHOT_ID_HEX_DIGITS)}`;
    const meta: SnapshotMeta = {
      snapshotId,
      lineageId: parent?.meta.lineageId ?? `snapshot:${snapshotId}`,
      origin: 'api',
      parentSnapshotId: request.parentSnapshotId,
      volumeSizeGib: request.volumeSizeGib,
      startTimeMs: this.nowMs(),
      timeoutMinutes: request.timeoutMinutes,
      clientToken,
      requestFingerprint: fingerprint,
      description: request.description,
      tags: request.tags,
      // A child is encrypted when its parent is (with the parent's key unless KmsKeyArn names
      // another) or when KmsKeyArn is given:
      // https://docs.aws.amazon.com/ebs/latest/userguide/ebsapis-using-encryption.html
      encrypted:
        parent === undefined
          ? request.encrypted
          : parent.meta.encrypted === true || request.kmsKeyArn !== undefined
            ? true
            : undefined,
      kmsKeyArn: request.kmsKeyArn ?? parent?.meta.kmsKeyArn,
    };
    await this.model.addStarted(meta, parent);
    return { status: 201, body: this.startSnapshotResponse(meta) };
  }

  private startSnapshotParent(request: { parentSnapshotId?: string; volumeSizeGib: number }): SnapshotEntry {
    const parentId = request.parentSnapshotId as string;
    const parent = this.model.readable(parentId);
    if (request.volumeSizeGib < parent.meta.volumeSizeGib) {
      throw validationError(
        VALIDATION_REASON.invalidVolumeSize,
        `VolumeSize ${request.volumeSizeGib} is smaller than the ${parent.meta.volumeSizeGib} GiB of parent snapshot '${parentId}'.`,
      );
    }
    return parent;
  }

  private startSnapshotResponse(meta: SnapshotMeta): Record<string, unknown> {
    return {
      ...(meta.description === undefined ? {} : { Description: meta.description }),
      SnapshotId: meta.snapshotId,
      OwnerId: EMULATED_ACCOUNT_ID,
      Status: 'pending',
      StartTime: epochSeconds(meta.startTimeMs),
      VolumeSize: meta.volumeSizeGib,
      BlockSize: EBS_BLOCK_SIZE_BYTES,
      ...(meta.tags === undefined ? {} : { Tags: meta.tags }),
      ...(meta.parentSnapshotId === undefined ? {} : { ParentSnapshotId: meta.parentSnapshotId }),
      ...(meta.encrypted === true
        ? {
            KmsKeyArn: meta.kmsKeyArn ?? `arn:aws:kms:us-east-1:${EMULATED_ACCOUNT_ID}:alias/aws/ebs`,
            SseType: 'sse-kms',
          }
        : { SseType: 'none' }),
    };
  }

  async putSnapshotBlock(
    snapshotId: string,
    rawBlockIndex: string,
    req: IncomingMessage,
    body: Buffer,
  ): Promise<JsonAnswer> {
    requireSnapshotIdFormat(snapshotId);
    this.options.throttle(snapshotId);
    if (this.options.putCutOff?.active() === true) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `Injected fault: the writer of '${snapshotId}' was cut off (cutOffPutSnapshotBlockAfter).`,
      );
    }
    const entry = this.model.get(snapshotId);
    if (entry === undefined) throw snapshotNotFound(snapshotId);
    if (
      entry.meta.origin === 'api' &&
      this.nowMs() < entry.meta.startTimeMs + this.options.faults().putSnapshotBlockNotFoundForMs
    ) {
      throw snapshotNotFound(snapshotId);
    }
    const target = this.model.writable(snapshotId);
    const blockIndex = optionalInteger(rawBlockIndex, 'BlockIndex');
    const totalBlocks = blocksInVolume(target.meta.volumeSizeGib);
    if (blockIndex === undefined || blockIndex < 0 || blockIndex >= totalBlocks) {
      throw validationError(
        VALIDATION_REASON.invalidBlock,
        `BlockIndex '${rawBlockIndex}' is outside the volume (0..${totalBlocks - 1}).`,
      );
    }
    const dataLength = optionalInteger(header(req, 'x-amz-Data-Length'), 'DataLength');
    if (dataLength !== EBS_BLOCK_SIZE_BYTES) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `DataLength must be ${EBS_BLOCK_SIZE_BYTES}, got ${dataLength ?? 'none'}.`,
      );
    }
    if (body.length !== dataLength) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `Failed to read block data: got ${body.length} bytes, DataLength says ${dataLength}.`,
      );
    }
    const algorithm = header(req, 'x-amz-Checksum-Algorithm');
    if (algorithm !== 'SHA256') {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `ChecksumAlgorithm must be SHA256, got ${algorithm ?? 'none'}.`,
      );
    }
    const checksum = header(req, 'x-amz-Checksum');
    if (checksum === undefined || !CHECKSUM_PATTERN.test(checksum)) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        'Checksum is required: the base64 SHA-256 of the block data.',
      );
    }
    const progress = optionalInteger(header(req, 'x-amz-Progress'), 'Progress');
    if (progress !== undefined && (progress < 0 || progress > 100)) {
      throw validationError(VALIDATION_REASON.invalidParameterValue, 'Progress must be within 0..100.');
    }
    const digest = sha256(body);
    if (digest.toString('base64') !== checksum) {
      throw validationError(
        VALIDATION_REASON.invalidContentEncoding,
        'The checksum of the block data does not match the x-amz-Checksum header.',
      );
    }
    await this.model.putBlock(snapshotId, blockIndex, digest, body);
    this.options.putCutOff?.accepted();
    return {
      status: 201,
      body: {},
      headers: { 'x-amz-Checksum': digest.toString('base64'), 'x-amz-Checksum-Algorithm': 'SHA256' },
    };
  }

  async completeSnapshot(snapshotId: string, req: IncomingMessage): Promise<JsonAnswer> {
    requireSnapshotIdFormat(snapshotId);
    const entry = this.model.get(snapshotId);
    if (entry === undefined) throw snapshotNotFound(snapshotId);
    if (
      entry.meta.origin === 'api' &&
      entry.meta.completeAtMs !== undefined &&
      this.model.statusOf(entry.meta) !== 'error'
    ) {
      return { status: 202, body: { Status: this.model.statusOf(entry.meta) } };
    }
    const target = this.model.writable(snapshotId);
    const changedBlocksCount = optionalInteger(header(req, 'x-amz-ChangedBlocksCount'), 'ChangedBlocksCount');
    if (changedBlocksCount === undefined || changedBlocksCount < 0) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        'ChangedBlocksCount is required and must be >= 0.',
      );
    }
    const { puts } = target.writing;
    if (changedBlocksCount !== puts.size) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `ChangedBlocksCount ${changedBlocksCount} does not match the ${puts.size} blocks written to the snapshot.`,
      );
    }
    const checksum = header(req, 'x-amz-Checksum');
    const algorithm = header(req, 'x-amz-Checksum-Algorithm');
    const aggregation = header(req, 'x-amz-Checksum-Aggregation-Method');
    if (checksum !== undefined || algorithm !== undefined || aggregation !== undefined) {
      if (
        algorithm !== 'SHA256' ||
        aggregation !== 'LINEAR' ||
        checksum === undefined ||
        !CHECKSUM_PATTERN.test(checksum)
      ) {
        throw validationError(
          VALIDATION_REASON.invalidParameterValue,
          'An aggregate checksum needs Checksum, ChecksumAlgorithm SHA256 and ChecksumAggregationMethod LINEAR.',
        );
      }
      if (linearAggregateChecksum(puts) !== checksum) {
        throw validationError(
          VALIDATION_REASON.invalidContentEncoding,
          'The aggregate checksum does not match the checksums of the blocks written.',
        );
      }
    }
    await this.model.complete(target, this.completeSnapshotDelayMs);
    return { status: 202, body: { Status: 'pending' } };
  }

  private nowMs(): number {
    return this.model.nowMs();
  }
}
