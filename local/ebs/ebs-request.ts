/**
 * The HTTP side of an EBS direct API request: which operation a method and path name, and the
 * parameter checks every operation shares.
 */
import type { IncomingMessage } from 'node:http';
import { VALIDATION_REASON, validationError } from './ebs-api-error.ts';

export const SNAPSHOT_ID_PATTERN = /^snap-[0-9a-f]+$/;
export const CHECKSUM_PATTERN = /^[A-Za-z0-9+/=]{1,64}$/;
export const DECIMAL_INTEGER_PATTERN = /^-?\d{1,16}$/;

export interface Route {
  readonly operation:
    | 'StartSnapshot'
    | 'PutSnapshotBlock'
    | 'CompleteSnapshot'
    | 'ListSnapshotBlocks'
    | 'ListChangedBlocks'
    | 'GetSnapshotBlock';
  readonly snapshotId: string;
  readonly blockIndex?: string;
}

export function routeOf(method: string, urlPath: string): Route | undefined {
  const path = urlPath.split('?', 1)[0] ?? '';
  let segments: string[];
  try {
    segments = path.split('/').slice(1).map(decodeURIComponent);
  } catch {
    return undefined; // a malformed %-escape names no operation
  }
  if (segments[0] !== 'snapshots') return undefined;
  if (segments.length === 1 && method === 'POST') return { operation: 'StartSnapshot', snapshotId: '' };
  if (segments.length === 3 && segments[1] === 'completion' && method === 'POST') {
    return { operation: 'CompleteSnapshot', snapshotId: segments[2] ?? '' };
  }
  const snapshotId = segments[1] ?? '';
  if (segments.length === 3 && segments[2] === 'blocks' && method === 'GET') {
    return { operation: 'ListSnapshotBlocks', snapshotId };
  }
  if (segments.length === 3 && segments[2] === 'changedblocks' && method === 'GET') {
    return { operation: 'ListChangedBlocks', snapshotId };
  }
  if (segments.length === 4 && segments[2] === 'blocks') {
    if (method === 'GET') return { operation: 'GetSnapshotBlock', snapshotId, blockIndex: segments[3] };
    if (method === 'PUT') return { operation: 'PutSnapshotBlock', snapshotId, blockIndex: segments[3] };
  }
  return undefined;
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** An integer request parameter, or undefined when absent; anything else is INVALID_PARAMETER_VALUE. */
export function optionalInteger(raw: string | null | undefined, name: string): number | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (!DECIMAL_INTEGER_PATTERN.test(raw)) {
    throw validationError(
      VALIDATION_REASON.invalidParameterValue,
      `${name} must be an integer, got '${raw}'.`,
    );
  }
  return Number(raw);
}

export function requireSnapshotIdFormat(snapshotId: string): void {
  if (!SNAPSHOT_ID_PATTERN.test(snapshotId) || snapshotId.length > 64) {
    throw validationError(
      VALIDATION_REASON.invalidSnapshotId,
      `The snapshot ID '${snapshotId}' is not valid.`,
    );
  }
}

/** A JSON response of an operation. */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A binary response of an operation (GetSnapshotBlock). */
export interface BinaryAnswer {
  readonly status: number;
  readonly data: Buffer;
  readonly headers: Readonly<Record<string, string>>;
}
