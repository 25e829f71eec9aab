/**
 * File names as bytes, and the two text forms the product gives them (docs/catalog.md, "Names
 * that are not valid UTF-8").
 *
 * ext2/3/4 and XFS store a name as any bytes but "/" and NUL; most are UTF-8, some are not (a
 * Latin-1 `caf\xe9` written by an old tool). A lossy decoding (U+FFFD for each bad sequence) makes
 * two such names equal and loses the bytes a restore must write back, so:
 *
 * - the **stored form** (catalog keys and items, walk entries' `name` and `path`, restore jobs):
 *   a valid UTF-8 name is its own text, unchanged; any other byte string is its valid UTF-8 runs as
 *   text with every other byte written as U+0000 followed by two lower-case hex digits. No name
 *   holds a NUL byte, so the two cases never meet, and the form is a bijection from byte strings to
 *   canonical texts (`encodeName` / `decodeName`);
 * - the **escaped form** (API and CLI, what tables show and what users type): `\` is written `\\`,
 *   and a byte that is not part of valid UTF-8, or is an ASCII control character, `\xNN`
 *   (`caf\xe9`), as `ls -b` and GNU tar show such names. On input a `\` not followed by `\` or
 *   `x` and two hex digits stands for itself, so a typed `a\b` still means the name `a\b`.
 */
import { ValidationError } from '../errors.ts';
import { asciiText, decodeUtf8 } from './bytes.ts';

/** Marks a byte escaped in the stored form; never part of a name, so it cannot be confused. */
const STORED_ESCAPE = '\u0000';
/** The escaped form's escape character. */
const BACKSLASH = 0x5c;

const UTF8 = new TextEncoder();

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/**
 * The length of the well-formed UTF-8 sequence at `at` (Unicode 15, table 3-7: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or 0 when the byte there does not start one.
 */
function sequenceLength(bytes: Uint8Array, at: number): number {
  const b0 = bytes[at]!;
  if (b0 < 0x80) return 1;
  const cont = (i: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = bytes[at + i];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xe1 && b0 <= 0xec) || b0 === 0xee || b0 === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Calls `text` for each valid UTF-8 character (as text) and `bad` for each other byte, in order. */
function eachPiece(bytes: Uint8Array, text: (t: string) => void, bad: (byte: number) => void): void {
  let at = 0;
  while (at < bytes.length) {
    const n = sequenceLength(bytes, at);
    if (n === 0) {
      bad(bytes[at]!);
      at += 1;
    } else {
      text(n === 1 ? String.fromCharCode(bytes[at]!) : STRICT_UTF8.decode(bytes.subarray(at, at + n)));
      at += n;
    }
  }
}

function isValidUtf8WithoutNul(bytes: Uint8Array): string | undefined {
  try {
    const text = STRICT_UTF8.decode(bytes);
    return text.includes(STORED_ESCAPE) ? undefined : text;
  } catch {
    return undefined;
  }
}

/**
 * The stored form of a name (or of any byte string, such as a symlink target): the text itself
 * when the bytes are valid UTF-8 without NUL; otherwise valid runs as text and every other byte as
 * U+0000 and two hex digits.
 */
export function encodeName(bytes: Uint8Array): string {
  const plain = isValidUtf8WithoutNul(bytes);
  if (plain !== undefined) return plain;
  let out = '';
  eachPiece(
    bytes,
    (t) => {
      out += t === STORED_ESCAPE ? `${STORED_ESCAPE}00` : t;
    },
    (byte) => {
      out += `${STORED_ESCAPE}${hex2(byte)}`;
    },
  );
  return out;
}

/**
 * A name read from disk in its stored form, with whether it was plain UTF-8: the walk's hot path
 * (ASCII names decode without a TextDecoder call in decodeUtf8).
 */
export function storedName(bytes: Uint8Array): { text: string; valid: boolean } {
  const decoded = decodeUtf8(bytes);
  if (decoded.valid && !decoded.text.includes(STORED_ESCAPE)) return decoded;
  return { text: encodeName(bytes), valid: false };
}

/**
 * The stored form of a name that is ASCII without NUL (most names: it is then its own text and
 * plain UTF-8), else undefined (then use storedName). No object per name.
 */
export function plainAsciiName(bytes: Uint8Array): string | undefined {
  const text = asciiText(bytes);
  return text === undefined || text.includes(STORED_ESCAPE) ? undefined : text;
}

/** Whether a stored form stands for bytes that are not plain UTF-8 text. */
export function isEscapedName(stored: string): boolean {
  return stored.includes(STORED_ESCAPE);
}

const HEX_PAIR = /^[0-9a-f]{2}$/;

/** The bytes a stored form stands for (the inverse of `encodeName`). */
export function decodeName(stored: string): Uint8Array {
  if (!stored.includes(STORED_ESCAPE)) return UTF8.encode(stored);
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at < stored.length) {
    const mark = stored.indexOf(STORED_ESCAPE, at);
    const end = mark < 0 ? stored.length : mark;
    if (end > at) parts.push(UTF8.encode(stored.slice(at, end)));
    if (mark < 0) break;
    const digits = stored.slice(mark + 1, mark + 3);
    if (!HEX_PAIR.test(digits)) {
      throw new ValidationError('malformed stored name: U+0000 must be followed by two hex digits', {
        context: { at: mark },
      });
    }
    parts.push(Uint8Array.of(Number.parseInt(digits, 16)));
    at = mark + 3;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Whether `text` holds a character the escaped form writes as an escape: "\\", NUL, a control character. */
export function needsEscape(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f || code === BACKSLASH) return true;
  }
  return false;
}

/**
 * The escaped form of a stored name or path (what the API answers and tables show): `\` as `\\`,
 * ASCII control characters and bytes that are not valid UTF-8 as `\xNN`; "/" stays as it is.
 */
export function escapeName(stored: string): string {
  if (!needsEscape(stored)) return stored;
  let out = '';
  eachPiece(
    decodeName(stored),
    (t) => {
      const code = t.charCodeAt(0);
      out += t === '\\' ? '\\\\' : t.length === 1 && (code < 0x20 || code === 0x7f) ? `\\x${hex2(code)}` : t;
    },
    (byte) => {
      out += `\\x${hex2(byte)}`;
    },
  );
  return out;
}

/** The bytes an escaped form stands for: `\\` and `\xNN` are escapes, any other `\` is itself. */
export function unescapeBytes(escaped: string): Uint8Array {
  if (!escaped.includes('\\')) return UTF8.encode(escaped);
  const out: number[] = [];
  let at = 0;
  while (at < escaped.length) {
    const slash = escaped.indexOf('\\', at);
    const end = slash < 0 ? escaped.length : slash;
    if (end > at) out.push(...UTF8.encode(escaped.slice(at, end)));
    if (slash < 0) break;
    const next = escaped[slash + 1];
    const digits = escaped.slice(slash + 2, slash + 4);
    if (next === '\\') {
      out.push(BACKSLASH);
      at = slash + 2;
    } else if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(digits)) {
      out.push(Number.parseInt(digits, 16));
      at = slash + 4;
    } else {
      out.push(BACKSLASH);
      at = slash + 1;
    }
  }
  return Uint8Array.from(out);
}

/** The stored form of an escaped name or path (the inverse of `escapeName` on its results). */
export function unescapeName(escaped: string): string {
  if (!escaped.includes('\\')) return escaped;
  return encodeName(unescapeBytes(escaped));
}
