/**
 * Opaque pagination cursors. A cursor is `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`
 * where the payload names the query it belongs to (a digest of the operation and its normalised
 * parameters) and a position in that query's results. A client cannot forge or edit a cursor (the
 * MAC fails), nor replay one against another query (the scope fails): both are a 400, never a 500
 * and never a page of somebody else's listing. The key comes from configuration at the edge.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { ValidationError } from '../errors.ts';

/** Shortest accepted HMAC key: 256 bits, the output size of SHA-256 (RFC 2104 §3). */
export const MIN_CURSOR_KEY_BYTES = 32;
/** Longest cursor accepted in a query string: positions are small; anything longer is not ours. */
export const MAX_CURSOR_CHARS = 2_048;
/** Version of the payload layout; a new layout gets a new number, and old cursors fail cleanly. */
const CURSOR_VERSION = 1;
/** Bytes of the scope digest kept in the payload: 128 bits make a collision between queries moot. */
const SCOPE_DIGEST_BYTES = 16;

/** Where the next page starts: an offset into a computed list, or a store's own page token. */
export type CursorPosition = { readonly offset: number } | { readonly token: string };

interface CursorPayload {
  readonly v: number;
  readonly s: string;
  readonly p: CursorPosition;
}

function scopeDigest(scope: string): string {
  return createHash('sha256')
    .update(scope, 'utf8')
    .digest()
    .subarray(0, SCOPE_DIGEST_BYTES)
    .toString('base64url');
}

function isPosition(value: unknown): value is CursorPosition {
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  const record = value as Record<string, unknown>;
  if (keys[0] === 'offset') return Number.isSafeInteger(record.offset) && (record.offset as number) >= 0;
  if (keys[0] === 'token') return typeof record.token === 'string' && record.token.length > 0;
  return false;
}

function invalidCursor(reason: string): ValidationError {
  return new ValidationError(`invalid cursor: ${reason}`, { context: { field: 'cursor' } });
}

export class CursorCodec {
  private readonly key: Buffer;

  constructor(key: Uint8Array) {
    if (key.length < MIN_CURSOR_KEY_BYTES) {
      throw new ValidationError(`the cursor key must have at least ${MIN_CURSOR_KEY_BYTES} bytes`);
    }
    this.key = Buffer.from(key);
  }

  /** A cursor for `position` in the results of the query identified by `scope`. */
  encode(scope: string, position: CursorPosition): string {
    const payload: CursorPayload = { v: CURSOR_VERSION, s: scopeDigest(scope), p: position };
    const body = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  /** The position in `cursor`, which must have been made by encode() for the same scope. */
  decode(scope: string, cursor: string): CursorPosition {
    if (cursor.length > MAX_CURSOR_CHARS) throw invalidCursor(`longer than ${MAX_CURSOR_CHARS} characters`);
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(cursor);
    if (!match) throw invalidCursor('not a cursor issued by this API');
    const [, body, mac] = match as unknown as [string, string, string];
    const expected = this.mac(body);
    const given = Buffer.from(mac, 'base64url');
    // Only the canonical encoding is accepted: base64 leaves spare bits in the last character,
    // and a cursor that differs from the issued one in any character is not that cursor.
    if (
      given.toString('base64url') !== mac ||
      Buffer.from(body, 'base64url').toString('base64url') !== body
    ) {
      throw invalidCursor('it was altered or was not issued by this API');
    }
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw invalidCursor('it was altered or was not issued by this API');
    }
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch (cause) {
      throw new ValidationError('invalid cursor: unreadable payload', {
        cause,
        context: { field: 'cursor' },
      });
    }
    const record = (typeof payload === 'object' && payload !== null ? payload : {}) as Partial<CursorPayload>;
    if (record.v !== CURSOR_VERSION) throw invalidCursor('issued by another version of this API');
    if (record.s !== scopeDigest(scope)) throw invalidCursor('it belongs to a different query');
    if (!isPosition(record.p)) throw invalidCursor('unreadable position');
    return record.p;
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.key).update(body, 'utf8').digest();
  }
}

/** The scope of a query: its operation and its parameters in a canonical order (cursor/limit excluded). */
export function queryScope(operationId: string, parameters: Readonly<Record<string, unknown>>): string {
  const entries = Object.entries(parameters)
    .filter(([name, value]) => name !== 'cursor' && name !== 'limit' && value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([operationId, entries]);
}
