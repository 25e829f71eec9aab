/**
 * Block tokens and page tokens: opaque, HMAC-signed, bound to the snapshot(s) and to a block index,
 * carrying an expiry. Each listing draws a fresh nonce, so listing a snapshot again yields different
 * tokens, as EBS does, while tokens already handed out stay valid until they expire (block tokens
 * for 7 days: https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-elements.html).
 *
 * Layout before base64 (36 bytes, so 48 base64 characters: within the 256-character limit and the
 * `^[A-Za-z0-9+/=]+$` pattern of the model):
 *   version u8 | kind u8 | expiry (epoch seconds) u32 | nonce 8 bytes | block index u32 | HMAC 18 bytes
 * The HMAC covers the kind, the bound snapshot ids and the payload.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const TOKEN_FORMAT_VERSION = 1;
/** Bytes of HMAC-SHA256 kept: 144 bits is far beyond what a test or a client could forge. */
const TOKEN_MAC_BYTES = 18;
const TOKEN_PAYLOAD_BYTES = 1 + 1 + 4 + 8 + 4;
const TOKEN_BYTES = TOKEN_PAYLOAD_BYTES + TOKEN_MAC_BYTES;
const TOKEN_PATTERN = /^[A-Za-z0-9+/=]+$/;
/** Longest token the model allows (`BlockToken` / `PageToken` max length). */
export const MAX_TOKEN_CHARS = 256;

export type TokenKind = 'block' | 'list-page' | 'changed-page';

const KIND_BYTE: Readonly<Record<TokenKind, number>> = {
  block: 0x42,
  'list-page': 0x4c,
  'changed-page': 0x43,
};

export interface TokenClaims {
  /** Block index the token points at (block tokens) or where the next page starts (page tokens). */
  readonly blockIndex: number;
  readonly expiresAtEpochSeconds: number;
}

export class TokenSigner {
  constructor(private readonly key: Uint8Array) {}

  /** A fresh nonce for one listing: every token of that listing shares it. */
  static newNonce(): Buffer {
    return randomBytes(8);
  }

  sign(kind: TokenKind, boundTo: readonly string[], claims: TokenClaims, nonce: Buffer): string {
    const payload = Buffer.alloc(TOKEN_PAYLOAD_BYTES);
    payload.writeUInt8(TOKEN_FORMAT_VERSION, 0);
    payload.writeUInt8(KIND_BYTE[kind], 1);
    payload.writeUInt32BE(claims.expiresAtEpochSeconds, 2);
    nonce.copy(payload, 6, 0, 8);
    payload.writeUInt32BE(claims.blockIndex, 14);
    return Buffer.concat([payload, this.mac(kind, boundTo, payload)]).toString('base64');
  }

  /**
   * The claims of a token that this emulator signed for `kind` and `boundTo`, or undefined if the
   * token is malformed, tampered with or bound to something else. Expiry is the caller's check.
   */
  verify(kind: TokenKind, boundTo: readonly string[], token: string): TokenClaims | undefined {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !TOKEN_PATTERN.test(token)) return undefined;
    const bytes = Buffer.from(token, 'base64');
    if (bytes.length !== TOKEN_BYTES || bytes.toString('base64') !== token) return undefined;
    const payload = bytes.subarray(0, TOKEN_PAYLOAD_BYTES);
    const expected = this.mac(kind, boundTo, payload);
    if (!timingSafeEqual(expected, bytes.subarray(TOKEN_PAYLOAD_BYTES))) return undefined;
    if (payload.readUInt8(0) !== TOKEN_FORMAT_VERSION || payload.readUInt8(1) !== KIND_BYTE[kind])
      return undefined;
    return { expiresAtEpochSeconds: payload.readUInt32BE(2), blockIndex: payload.readUInt32BE(14) };
  }

  private mac(kind: TokenKind, boundTo: readonly string[], payload: Buffer): Buffer {
    const hmac = createHmac('sha256', this.key);
    hmac.update(`${kind}\n${boundTo.join('\n')}\n`);
    hmac.update(payload);
    return hmac.digest().subarray(0, TOKEN_MAC_BYTES);
  }
}
