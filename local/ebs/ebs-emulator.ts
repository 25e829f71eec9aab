/**
 * A faithful emulator of the EBS direct APIs (ListSnapshotBlocks, ListChangedBlocks,
 * GetSnapshotBlock, StartSnapshot, PutSnapshotBlock, CompleteSnapshot), backed by raw disk-image
 * files and by a content-addressed block store under `stateDir`. This module is the HTTP facade: it
 * speaks the service's REST/JSON wire format (so the real @aws-sdk/client-ebs talks to it
 * unchanged), dispatches each request to the read or write operations (ebs-read-operations.ts,
 * ebs-write-operations.ts), holds the injected faults and passes EC2's calls (freezing a replica
 * image, deleting a snapshot) to the snapshot model (ebs-snapshot-model.ts). Behaviour and the
 * choices where AWS documents nothing are written down in local/ebs/README.md.
 */
import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EBS_BLOCK_SIZE_BYTES, GIB_BYTES } from '../../lambdas/core/geometry.ts';
import { systemClock, type Clock } from '../../lambdas/core/ports.ts';
import { EbsApiError } from './ebs-api-error.ts';
import { BlockCorrupter, NO_FAULTS, updatedFaults, type EbsEmulatorFaults } from './ebs-faults.ts';
import { EbsReadOperations } from './ebs-read-operations.ts';
import { routeOf, type BinaryAnswer, type JsonAnswer, type Route } from './ebs-request.ts';
import {
  SnapshotModel,
  type EbsSnapshotStatus,
  type EbsSnapshotSummary,
  type FreezeVolumeImageArgs,
} from './ebs-snapshot-model.ts';
import { EbsStateStore } from './ebs-state-store.ts';
import { SnapshotRequestLimiter } from './ebs-throttle.ts';
import { TokenSigner } from './ebs-tokens.ts';
import { EbsWriteOperations } from './ebs-write-operations.ts';

export { DEFAULT_LIST_PAGE_BLOCK_WINDOW, type EbsEmulatorFaults } from './ebs-faults.ts';
export { FREEZE_READ_BUFFER_BYTES } from './ebs-image-freeze.ts';
export {
  DEFAULT_FREEZE_COMPLETE_AFTER_MS,
  LAST_WRITE_PERSIST_INTERVAL_MS,
  type EbsSnapshotStatus,
  type EbsSnapshotSummary,
  type FreezeVolumeImageArgs,
} from './ebs-snapshot-model.ts';
export {
  DEFAULT_LIST_MAX_RESULTS,
  MAX_LIST_MAX_RESULTS,
  MIN_LIST_MAX_RESULTS,
} from './ebs-read-operations.ts';
export { EMULATED_ACCOUNT_ID, linearAggregateChecksum } from './ebs-write-operations.ts';

/** Block tokens last 7 days (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html). */
export const DEFAULT_BLOCK_TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** NextTokens last 60 minutes (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html). */
export const DEFAULT_PAGE_TOKEN_TTL_MS = 60 * 60 * 1000;
/**
 * CompleteSnapshot answers `pending`; the snapshot is `completed` this much later, as on EBS,
 * where completion is asynchronous (https://docs.aws.amazon.com/ebs/latest/APIReference/API_CompleteSnapshot.html).
 */
export const DEFAULT_COMPLETE_SNAPSHOT_DELAY_MS = 500;

export interface EbsEmulatorOptions {
  /** Persistent state: content-addressed 512 KiB blocks and snapshot maps, as files. */
  readonly stateDir: string;
  /** Default: the system clock. Token expiry, snapshot completion and rate caps read it. */
  readonly clock?: Clock;
  /** Default 7 days. */
  readonly blockTokenTtlMs?: number;
  /** Default 60 minutes. */
  readonly pageTokenTtlMs?: number;
  /** Seed of the deterministic randomness behind faults. Default 1. */
  readonly seed?: number;
  /** Delay between CompleteSnapshot and the snapshot turning `completed`. Default 500 ms. */
  readonly completeSnapshotDelayMs?: number;
}

export class EbsEmulator {
  private readonly reads: EbsReadOperations;
  private readonly writes: EbsWriteOperations;
  private readonly limiter = new SnapshotRequestLimiter();
  private faults: Required<EbsEmulatorFaults> = NO_FAULTS;
  /** PutSnapshotBlock requests accepted since cutOffPutSnapshotBlockAfter was last set. */
  private putsSinceCutOffSet = 0;

  private constructor(
    private readonly model: SnapshotModel,
    store: EbsStateStore,
    options: EbsEmulatorOptions,
  ) {
    const faults = () => this.faults;
    const throttle = (snapshotId: string) =>
      this.limiter.admit(snapshotId, model.nowMs(), this.faults.perSnapshotRequestsPerSecond);
    this.reads = new EbsReadOperations({
      model,
      tokens: new TokenSigner(store.tokenKey),
      blockTokenTtlMs: options.blockTokenTtlMs ?? DEFAULT_BLOCK_TOKEN_TTL_MS,
      pageTokenTtlMs: options.pageTokenTtlMs ?? DEFAULT_PAGE_TOKEN_TTL_MS,
      corrupter: new BlockCorrupter(options.seed ?? 1),
      faults,
      throttle,
    });
    this.writes = new EbsWriteOperations({
      model,
      completeSnapshotDelayMs: options.completeSnapshotDelayMs ?? DEFAULT_COMPLETE_SNAPSHOT_DELAY_MS,
      faults,
      throttle,
      putCutOff: {
        active: () => this.putsSinceCutOffSet >= this.faults.cutOffPutSnapshotBlockAfter,
        accepted: () => {
          this.putsSinceCutOffSet += 1;
        },
      },
    });
  }

  /** Opens (or creates) the state under `options.stateDir` and loads every snapshot and volume. */
  static async open(options: EbsEmulatorOptions): Promise<EbsEmulator> {
    const store = await EbsStateStore.open(options.stateDir);
    const model = await SnapshotModel.load(store, options.clock ?? systemClock);
    return new EbsEmulator(model, store, options);
  }

  setFaults(faults: EbsEmulatorFaults): void {
    this.faults = updatedFaults(this.faults, faults);
    if (faults.cutOffPutSnapshotBlockAfter !== undefined) this.putsSinceCutOffSet = 0;
  }

  // ------------------------------------------------------------------ EC2-side hooks (the snapshot model's)

  /** EC2 CreateSnapshot of a replica volume (SnapshotModel.freezeVolumeImage). */
  freezeVolumeImage(args: FreezeVolumeImageArgs): Promise<void> {
    return this.model.freezeVolumeImage(args);
  }

  /** Replica simulator: these blocks were written (even with zeros) and stay allocated, as on EBS. */
  markBlocksWritten(volumeId: string, blockIndexes: Iterable<number>): Promise<void> {
    return this.model.markBlocksWritten(volumeId, blockIndexes);
  }

  /** Replica simulator: these blocks were discarded (TRIM) and vanish from the next snapshot unless non-zero. */
  discardBlocks(volumeId: string, blockIndexes: Iterable<number>): Promise<void> {
    return this.model.discardBlocks(volumeId, blockIndexes);
  }

  snapshotStatus(snapshotId: string): EbsSnapshotStatus | undefined {
    return this.model.snapshotStatus(snapshotId);
  }

  /**
   * EC2 CreateVolume with a SnapshotId: writes the completed snapshot's blocks into a sparse image
   * file of `volumeSizeGib` (the new volume's disk), and records them as written blocks of
   * `volumeId`, so the volume's first snapshot holds every block the snapshot held, as EBS's does
   * (a volume made from a snapshot starts from all of its blocks:
   * https://docs.aws.amazon.com/ebs/latest/userguide/ebs-creating-volume.html). Throws the service's
   * error for an unknown or unfinished snapshot. Returns the number of blocks written.
   */
  async writeSnapshotImage(args: {
    readonly snapshotId: string;
    readonly volumeId: string;
    readonly imagePath: string;
    readonly volumeSizeGib: number;
  }): Promise<number> {
    const entry = this.model.readable(args.snapshotId);
    if (args.volumeSizeGib < entry.meta.volumeSizeGib) {
      throw new RangeError(
        `a volume of ${args.volumeSizeGib} GiB cannot hold snapshot ${args.snapshotId} of ${entry.meta.volumeSizeGib} GiB`,
      );
    }
    const indexes: number[] = [];
    const file = await open(args.imagePath, 'w');
    try {
      await file.truncate(args.volumeSizeGib * GIB_BYTES);
      for (const [blockIndex, digest] of entry.blocks.entries()) {
        const data = await this.model.readBlock(args.snapshotId, digest);
        await file.write(data, 0, data.length, blockIndex * EBS_BLOCK_SIZE_BYTES);
        indexes.push(blockIndex);
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await this.model.markBlocksWritten(args.volumeId, indexes);
    return indexes.length;
  }

  /** Every snapshot, frozen or made by StartSnapshot, for EC2 DescribeSnapshots. */
  listSnapshots(): readonly EbsSnapshotSummary[] {
    return this.model.listSnapshots();
  }

  /** Deletes a snapshot and the block contents no other snapshot holds. False if it did not exist. */
  deleteSnapshot(snapshotId: string): Promise<boolean> {
    if (this.model.get(snapshotId) !== undefined) this.limiter.forget(snapshotId);
    return this.model.deleteSnapshot(snapshotId);
  }

  // ------------------------------------------------------------------ HTTP

  /** True if the request path is an EBS direct API route. */
  isEbsRequest(method: string, urlPath: string): boolean {
    return routeOf(method.toUpperCase(), urlPath) !== undefined;
  }

  /** Serves one EBS direct API request whose body has been read. */
  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const requestId = randomUUID();
    try {
      const url = new URL(req.url ?? '/', 'http://ebs.local');
      const route = routeOf((req.method ?? 'GET').toUpperCase(), url.pathname);
      if (route === undefined) {
        throw new EbsApiError(
          'ValidationException',
          `No EBS direct API operation for ${req.method} ${url.pathname}.`,
        );
      }
      const answer = await this.dispatch(route, url.searchParams, req, body);
      if ('data' in answer) {
        res.writeHead(answer.status, {
          ...answer.headers,
          'content-type': 'application/octet-stream',
          'content-length': String(answer.data.length),
          'x-amzn-requestid': requestId,
        });
        res.end(answer.data);
      } else {
        const payload = JSON.stringify(answer.body);
        res.writeHead(answer.status, {
          ...answer.headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(payload)),
          'x-amzn-requestid': requestId,
        });
        res.end(payload);
      }
    } catch (error) {
      const apiError =
        error instanceof EbsApiError
          ? error
          : new EbsApiError('InternalServerException', `Internal error: ${(error as Error).message}`);
      const payload = JSON.stringify(apiError.toBody());
      res.writeHead(apiError.httpStatus, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(payload)),
        'x-amzn-errortype': apiError.errorName,
        'x-amzn-requestid': requestId,
      });
      res.end(payload);
    }
  }

  private dispatch(
    route: Route,
    query: URLSearchParams,
    req: IncomingMessage,
    body: Buffer,
  ): Promise<JsonAnswer | BinaryAnswer> {
    switch (route.operation) {
      case 'StartSnapshot':
        return this.writes.startSnapshot(body);
      case 'PutSnapshotBlock':
        return this.writes.putSnapshotBlock(route.snapshotId, route.blockIndex ?? '', req, body);
      case 'CompleteSnapshot':
        return this.writes.completeSnapshot(route.snapshotId, req);
      case 'ListSnapshotBlocks':
        return Promise.resolve(this.reads.listSnapshotBlocks(route.snapshotId, query));
      case 'ListChangedBlocks':
        return Promise.resolve(this.reads.listChangedBlocks(route.snapshotId, query));
      case 'GetSnapshotBlock':
        return this.reads.getSnapshotBlock(route.snapshotId, route.blockIndex ?? '', query);
    }
  }
}
