/**
 * The EBS direct API's read operations on the snapshot model: ListSnapshotBlocks,
 * ListChangedBlocks (pages, MaxResults, signed block and page tokens) and GetSnapshotBlock (token
 * checks, checksum headers, injected corruption). Behaviour: local/ebs/README.md.
 */
import { blocksInVolume, EBS_BLOCK_SIZE_BYTES } from '../../lambdas/core/geometry.ts';
import { VALIDATION_REASON, validationError } from './ebs-api-error.ts';
import type { BlockCorrupter, EbsEmulatorFaults } from './ebs-faults.ts';
import { changedBlocksPage, snapshotBlocksPage, type PageBounds } from './ebs-pagination.ts';
import {
  optionalInteger,
  requireSnapshotIdFormat,
  type BinaryAnswer,
  type JsonAnswer,
} from './ebs-request.ts';
import type { SnapshotModel } from './ebs-snapshot-model.ts';
import { TokenSigner, type TokenKind } from './ebs-tokens.ts';

/** MaxResults bounds of the model; below the minimum the service still returns up to 100 (FAQ). */
export const MIN_LIST_MAX_RESULTS = 100;
export const MAX_LIST_MAX_RESULTS = 10_000;
/** Page size when the request has no MaxResults (not documented; the largest allowed page). */
export const DEFAULT_LIST_MAX_RESULTS = MAX_LIST_MAX_RESULTS;
const MS_PER_SECOND = 1000;

export interface ReadOperationsOptions {
  readonly model: SnapshotModel;
  readonly tokens: TokenSigner;
  readonly blockTokenTtlMs: number;
  readonly pageTokenTtlMs: number;
  readonly corrupter: BlockCorrupter;
  /** The faults in force now (they change with setFaults). */
  readonly faults: () => Required<EbsEmulatorFaults>;
  /** Counts one block request against the snapshot's cap; throws when throttled. */
  readonly throttle: (snapshotId: string) => void;
}

export class EbsReadOperations {
  private readonly model: SnapshotModel;
  private readonly tokens: TokenSigner;
  private readonly blockTokenTtlMs: number;
  private readonly pageTokenTtlMs: number;

  constructor(private readonly options: ReadOperationsOptions) {
    this.model = options.model;
    this.tokens = options.tokens;
    this.blockTokenTtlMs = options.blockTokenTtlMs;
    this.pageTokenTtlMs = options.pageTokenTtlMs;
  }

  listSnapshotBlocks(snapshotId: string, query: URLSearchParams): JsonAnswer {
    const entry = this.model.readable(snapshotId);
    const limit = this.pageLimit(query);
    const start = this.pageStart(query, 'list-page', [snapshotId]);
    const now = this.nowMs();
    const page = snapshotBlocksPage(entry.blocks, this.pageBounds(start, limit, entry.meta.volumeSizeGib));
    const nonce = TokenSigner.newNonce();
    const blockExpiry = this.expirySeconds(now, this.blockTokenTtlMs);
    return {
      status: 200,
      body: {
        Blocks: page.entries.map(({ blockIndex }) => ({
          BlockIndex: blockIndex,
          BlockToken: this.blockToken(snapshotId, blockIndex, blockExpiry, nonce),
        })),
        ExpiryTime: blockExpiry,
        VolumeSize: entry.meta.volumeSizeGib,
        BlockSize: EBS_BLOCK_SIZE_BYTES,
        ...(page.nextStart === undefined
          ? {}
          : { NextToken: this.pageToken('list-page', [snapshotId], page.nextStart, now, nonce) }),
      },
    };
  }

  listChangedBlocks(secondSnapshotId: string, query: URLSearchParams): JsonAnswer {
    const firstSnapshotId = query.get('firstSnapshotId') ?? undefined;
    const second = this.model.readable(secondSnapshotId);
    const first = firstSnapshotId === undefined ? undefined : this.model.readable(firstSnapshotId);
    if (first !== undefined && first.meta.lineageId !== second.meta.lineageId) {
      throw validationError(
        VALIDATION_REASON.unrelatedSnapshots,
        `The snapshots '${firstSnapshotId}' and '${secondSnapshotId}' are not of the same volume or snapshot lineage.`,
      );
    }
    const boundTo = [firstSnapshotId ?? '', secondSnapshotId];
    const limit = this.pageLimit(query);
    const start = this.pageStart(query, 'changed-page', boundTo);
    const now = this.nowMs();
    const volumeSizeGib = Math.max(second.meta.volumeSizeGib, first?.meta.volumeSizeGib ?? 0);
    const page = changedBlocksPage(
      first?.blocks,
      second.blocks,
      this.pageBounds(start, limit, volumeSizeGib),
    );
    const nonce = TokenSigner.newNonce();
    const blockExpiry = this.expirySeconds(now, this.blockTokenTtlMs);
    return {
      status: 200,
      body: {
        ChangedBlocks: page.entries.map(({ blockIndex, firstDigest, secondDigest }) => ({
          BlockIndex: blockIndex,
          ...(firstDigest === undefined || firstSnapshotId === undefined
            ? {}
            : { FirstBlockToken: this.blockToken(firstSnapshotId, blockIndex, blockExpiry, nonce) }),
          ...(secondDigest === undefined
            ? {}
            : { SecondBlockToken: this.blockToken(secondSnapshotId, blockIndex, blockExpiry, nonce) }),
        })),
        ExpiryTime: blockExpiry,
        VolumeSize: second.meta.volumeSizeGib,
        BlockSize: EBS_BLOCK_SIZE_BYTES,
        ...(page.nextStart === undefined
          ? {}
          : { NextToken: this.pageToken('changed-page', boundTo, page.nextStart, now, nonce) }),
      },
    };
  }

  async getSnapshotBlock(
    snapshotId: string,
    rawBlockIndex: string,
    query: URLSearchParams,
  ): Promise<BinaryAnswer> {
    requireSnapshotIdFormat(snapshotId);
    this.options.throttle(snapshotId);
    const entry = this.model.readable(snapshotId);
    const blockIndex = optionalInteger(rawBlockIndex, 'BlockIndex');
    if (blockIndex === undefined || blockIndex < 0) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        'BlockIndex must be a non-negative integer.',
      );
    }
    const token = query.get('blockToken');
    if (token === null || token === '') {
      throw validationError(VALIDATION_REASON.invalidParameterValue, 'BlockToken is required.');
    }
    const claims = this.tokens.verify('block', [snapshotId], token);
    if (claims === undefined || claims.blockIndex !== blockIndex) {
      throw validationError(
        VALIDATION_REASON.invalidBlockToken,
        'The block token is not valid for this snapshot and block index.',
      );
    }
    if (this.nowMs() >= claims.expiresAtEpochSeconds * MS_PER_SECOND) {
      throw validationError(VALIDATION_REASON.invalidBlockToken, 'The block token has expired.');
    }
    const digest = entry.blocks.digestOf(blockIndex);
    if (digest === undefined) {
      throw validationError(
        VALIDATION_REASON.invalidBlockToken,
        `Block ${blockIndex} is not in snapshot '${snapshotId}'.`,
      );
    }
    const data = this.options.corrupter.maybeCorrupt(
      await this.model.readBlock(snapshotId, digest),
      this.options.faults().corruptBlockDataRate,
    );
    return {
      status: 200,
      data,
      headers: {
        'x-amz-Data-Length': String(EBS_BLOCK_SIZE_BYTES),
        'x-amz-Checksum': digest.toString('base64'),
        'x-amz-Checksum-Algorithm': 'SHA256',
      },
    };
  }

  private pageLimit(query: URLSearchParams): number {
    const maxResults = optionalInteger(query.get('maxResults'), 'MaxResults');
    if (maxResults === undefined) return DEFAULT_LIST_MAX_RESULTS;
    if (maxResults < 1 || maxResults > MAX_LIST_MAX_RESULTS) {
      throw validationError(
        VALIDATION_REASON.invalidParameterValue,
        `MaxResults must be between ${MIN_LIST_MAX_RESULTS} and ${MAX_LIST_MAX_RESULTS}, got ${maxResults}.`,
      );
    }
    return Math.max(maxResults, MIN_LIST_MAX_RESULTS);
  }

  private pageStart(query: URLSearchParams, kind: TokenKind, boundTo: readonly string[]): number {
    const pageToken = query.get('pageToken');
    if (pageToken !== null) {
      const claims = this.tokens.verify(kind, boundTo, pageToken);
      if (claims === undefined) {
        throw validationError(
          VALIDATION_REASON.invalidPageToken,
          'The page token is not valid for this request.',
        );
      }
      if (this.nowMs() >= claims.expiresAtEpochSeconds * MS_PER_SECOND) {
        throw validationError(VALIDATION_REASON.invalidPageToken, 'The page token has expired.');
      }
      return claims.blockIndex;
    }
    const startingBlockIndex = optionalInteger(query.get('startingBlockIndex'), 'StartingBlockIndex') ?? 0;
    if (startingBlockIndex < 0) {
      throw validationError(VALIDATION_REASON.invalidParameterValue, 'StartingBlockIndex must be >= 0.');
    }
    return startingBlockIndex;
  }

  private pageBounds(start: number, limit: number, volumeSizeGib: number): PageBounds {
    return {
      start,
      limit,
      window: this.options.faults().listPageBlockWindow,
      totalBlocks: blocksInVolume(volumeSizeGib),
    };
  }

  private expirySeconds(nowMs: number, ttlMs: number): number {
    return Math.floor((nowMs + ttlMs) / MS_PER_SECOND);
  }

  private blockToken(
    snapshotId: string,
    blockIndex: number,
    expiresAtEpochSeconds: number,
    nonce: Buffer,
  ): string {
    return this.tokens.sign('block', [snapshotId], { blockIndex, expiresAtEpochSeconds }, nonce);
  }

  private pageToken(
    kind: TokenKind,
    boundTo: readonly string[],
    blockIndex: number,
    nowMs: number,
    nonce: Buffer,
  ): string {
    const expiresAtEpochSeconds = this.expirySeconds(nowMs, this.pageTokenTtlMs);
    return this.tokens.sign(kind, boundTo, { blockIndex, expiresAtEpochSeconds }, nonce);
  }

  private nowMs(): number {
    return this.model.nowMs();
  }
}
