/**
 * A faithful emulator of the EBS direct APIs, backed by raw disk-image files (work in progress:
 * signatures first so the gateway and the backup engine can import them).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../lambdas/core/ports.ts';

export interface EbsEmulatorOptions {
  /** Persistent state: content-addressed 512 KiB blocks and snapshot maps, as files. */
  readonly stateDir: string;
  readonly clock?: Clock;
  readonly blockTokenTtlMs?: number;
  readonly pageTokenTtlMs?: number;
  readonly seed?: number;
}

export interface EbsEmulatorFaults {
  corruptBlockDataRate?: number;
  perSnapshotRequestsPerSecond?: number;
  listPageBlockWindow?: number;
}

export type EbsSnapshotStatus = 'pending' | 'completed' | 'error';

export interface EbsSnapshotSummary {
  readonly snapshotId: string;
  readonly volumeId?: string;
  readonly volumeSizeGib: number;
  readonly status: string;
  readonly startTime: Date;
}

export class EbsEmulator {
  private constructor(private readonly options: EbsEmulatorOptions) {}

  static open(options: EbsEmulatorOptions): Promise<EbsEmulator> {
    return Promise.resolve(new EbsEmulator(options));
  }

  setFaults(_faults: EbsEmulatorFaults): void {
    throw new Error(`not implemented yet (${this.options.stateDir})`);
  }

  freezeVolumeImage(_args: {
    snapshotId: string;
    volumeId: string;
    imagePath: string;
    volumeSizeGib: number;
    completeAfterMs?: number;
  }): Promise<void> {
    return Promise.reject(new Error('not implemented yet'));
  }

  markBlocksWritten(_volumeId: string, _blockIndexes: Iterable<number>): Promise<void> {
    return Promise.reject(new Error('not implemented yet'));
  }

  discardBlocks(_volumeId: string, _blockIndexes: Iterable<number>): Promise<void> {
    return Promise.reject(new Error('not implemented yet'));
  }

  snapshotStatus(_snapshotId: string): EbsSnapshotStatus | undefined {
    return undefined;
  }

  listSnapshots(): readonly EbsSnapshotSummary[] {
    return [];
  }

  deleteSnapshot(_snapshotId: string): Promise<boolean> {
    return Promise.resolve(false);
  }

  isEbsRequest(method: string, urlPath: string): boolean {
    return /^\/snapshots(\/|$)/.test(urlPath) && ['GET', 'PUT', 'POST'].includes(method);
  }

  handle(_req: IncomingMessage, res: ServerResponse, _body: Buffer): Promise<void> {
    res.writeHead(500).end();
    return Promise.resolve();
  }
}
