/**
 * Where the next page of a listing cut from a source's own pages resumes (`GET /servers` and
 * `GET /volumes` read EC2's DescribeVolumes a page at a time). The store's token is
 * `{"t": <the source's token>, "s": <items of that source page already listed>, "n": <items per
 * source page>}`, with `"g": 1` once the listing reads the registered items the source no longer
 * has: a client's page smaller than a source page stops inside it, and the next one reads the same
 * source page again (same token, same size) and skips what was listed.
 */
import { ValidationError } from '../errors.ts';

/** Smallest volume page asked for: DescribeVolumes accepts MaxResults of 5 to 500. */
export const MIN_VOLUME_PAGE = 5;
/** Largest volume page asked for: DescribeVolumes accepts MaxResults of 5 to 500. */
export const MAX_VOLUME_PAGE = 500;

export interface SourcePosition {
  /**
   * 1 once the listing has gone past the source's last page into the registered items the source
   * no longer has (`GET /volumes`' volumes whose replica is gone); `t` is then that phase's token.
   */
  readonly g?: 1;
  /** The source's token of the page to read (absent: the first). */
  readonly t?: string;
  /** Items of that source page already listed. */
  readonly s: number;
  /** Items per source page. */
  readonly n: number;
}

/**
 * The position a store token names; the first page's (source pages of `limit` items, within
 * DescribeVolumes' 5–500) without one. ValidationError for a token this module did not write.
 */
export function positionOf(token: string | undefined, limit: number): SourcePosition {
  if (token === undefined) {
    return { s: 0, n: Math.min(MAX_VOLUME_PAGE, Math.max(MIN_VOLUME_PAGE, limit)) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(token);
  } catch {
    parsed = undefined;
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const { g, t, s, n } = record;
  if (
    (g !== undefined && g !== 1) ||
    (t !== undefined && (typeof t !== 'string' || t === '')) ||
    !Number.isSafeInteger(s) ||
    (s as number) < 0 ||
    !Number.isSafeInteger(n) ||
    (n as number) < MIN_VOLUME_PAGE ||
    (n as number) > MAX_VOLUME_PAGE
  ) {
    throw new ValidationError('invalid cursor: unreadable position', { context: { field: 'cursor' } });
  }
  return {
    ...(g === 1 ? { g: 1 as const } : {}),
    ...(t === undefined ? {} : { t }),
    s: s as number,
    n: n as number,
  };
}

export function tokenOf(position: SourcePosition): string {
  return JSON.stringify(position);
}
