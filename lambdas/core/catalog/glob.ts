/**
 * File-name globs for `files find` (docs/api.md, "Searching files"): `*` any run of characters,
 * `?` one character, `[abc]`, `[a-z]`, `[!abc]` (or `[^abc]`) one character of (not of) a set, as
 * POSIX shells match a name (https://pubs.opengroup.org/onlinepubs/9699919799/utilities/V3_chap02.html#tag_18_13).
 * The glob is written in the escaped form of names (fs/name-encoding.ts): `\xNN` is a byte that is
 * not UTF-8 (one character for `?`), `\\` a backslash, and `\*`, `\?`, `\[` the characters
 * themselves. Matching is done on stored names; the glob's literal start becomes the prefix of a
 * key-range query on the name index.
 */
import { ValidationError } from '../errors.ts';
import { encodeName } from '../fs/name-encoding.ts';

/** Longest glob accepted: a name is at most 255 bytes, escapes and classes make a glob longer. */
export const MAX_GLOB_CHARS = 1_024;

/** One character of a stored name: a code point, or a byte that is not UTF-8. */
type Unit =
  { readonly kind: 'char'; readonly cp: number } | { readonly kind: 'byte'; readonly value: number };

type Token =
  | { readonly kind: 'unit'; readonly unit: Unit }
  | { readonly kind: 'star' }
  | { readonly kind: 'any' }
  | {
      readonly kind: 'class';
      readonly negated: boolean;
      readonly ranges: readonly { readonly from: Unit; readonly to: Unit }[];
    };

export interface CompiledGlob {
  /** The stored-form text every match starts with ('' when the glob starts with a wildcard). */
  readonly keyPrefix: string;
  /** True when the glob has no wildcard: it names one file name. */
  readonly exact: boolean;
  /** Whether a stored name matches. */
  matches(storedName: string): boolean;
}

const STORED_ESCAPE = 0;

/** The units of a stored name: code points, and U+0000 + two hex digits as one byte. */
function unitsOf(stored: string): Unit[] {
  const out: Unit[] = [];
  for (let i = 0; i < stored.length;) {
    const cp = stored.codePointAt(i)!;
    if (cp === STORED_ESCAPE) {
      out.push({ kind: 'byte', value: Number.parseInt(stored.slice(i + 1, i + 3), 16) });
      i += 3;
    } else {
      out.push({ kind: 'char', cp });
      i += cp > 0xffff ? 2 : 1;
    }
  }
  return out;
}

/** Literal bytes of the glob (escapes resolved) turned into units the way a name's bytes would be. */
function unitsOfBytes(bytes: readonly number[]): Unit[] {
  return unitsOf(encodeName(Uint8Array.from(bytes)));
}

const utf8 = new TextEncoder();

/**
 * Parses the glob into tokens. Literal runs are collected as bytes and decoded as a name's bytes
 * would be, so `\xc3\xa9` and `é` are the same character.
 */
function tokenize(glob: string): Token[] {
  const tokens: Token[] = [];
  let literal: number[] = [];
  const flush = (): void => {
    for (const unit of unitsOfBytes(literal)) tokens.push({ kind: 'unit', unit });
    literal = [];
  };
  let i = 0;
  /** One literal at `i` (an escape or a character) as bytes; advances i. */
  const literalAt = (): number[] => {
    const c = glob[i]!;
    if (c === '\\') {
      const next = glob[i + 1];
      const digits = glob.slice(i + 2, i + 4);
      if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(digits)) {
        i += 4;
        return [Number.parseInt(digits, 16)];
      }
      if (next !== undefined) {
        const cp = glob.codePointAt(i + 1)!;
        i += 1 + (cp > 0xffff ? 2 : 1);
        return [...utf8.encode(String.fromCodePoint(cp))];
      }
      i += 1;
      return [0x5c];
    }
    const cp = glob.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    return [...utf8.encode(String.fromCodePoint(cp))];
  };
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === '*') {
      flush();
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
      i += 1;
    } else if (c === '?') {
      flush();
      tokens.push({ kind: 'any' });
      i += 1;
    } else if (c === '[' && glob.indexOf(']', i + 2) > 0) {
      flush();
      i += 1;
      const negated = glob[i] === '!' || glob[i] === '^';
      if (negated) i += 1;
      const items: Unit[][] = [];
      const ranges: { from: Unit; to: Unit }[] = [];
      let first = true;
      while (i < glob.length && (glob[i] !== ']' || first)) {
        first = false;
        if (glob[i] === '-' && items.length > 0 && glob[i + 1] !== ']' && i + 1 < glob.length) {
          i += 1;
          const to = unitsOfBytes(literalAt());
          const from = items.pop()!;
          ranges.push({ from: from.at(-1)!, to: to[0]! });
          continue;
        }
        items.push(unitsOfBytes(literalAt()));
      }
      if (glob[i] !== ']') throw new ValidationError('glob has a "[" without its "]"', { context: { glob } });
      i += 1;
      for (const units of items) for (const unit of units) ranges.push({ from: unit, to: unit });
      tokens.push({ kind: 'class', negated, ranges });
    } else {
      literal.push(...literalAt());
    }
  }
  flush();
  return tokens;
}

function unitValue(unit: Unit): number {
  return unit.kind === 'char' ? unit.cp : unit.value;
}

function sameUnit(a: Unit, b: Unit, fold: (cp: number) => number): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind === 'byte' ? a.value === unitValue(b) : fold(a.cp) === fold(unitValue(b));
}

function inClass(
  token: Extract<Token, { kind: 'class' }>,
  unit: Unit,
  fold: (cp: number) => number,
): boolean {
  const hit = token.ranges.some((range) => {
    if (range.from.kind !== unit.kind || range.to.kind !== unit.kind) return false;
    const v = unitValue(unit);
    if (v >= unitValue(range.from) && v <= unitValue(range.to)) return true;
    if (unit.kind !== 'char') return false;
    const f = fold(v);
    return f >= fold(unitValue(range.from)) && f <= fold(unitValue(range.to));
  });
  return hit !== token.negated;
}

function lowerCodePoint(cp: number): number {
  return String.fromCodePoint(cp).toLowerCase().codePointAt(0)!;
}

function tokenMatches(token: Token, unit: Unit, fold: (cp: number) => number): boolean {
  switch (token.kind) {
    case 'unit':
      return sameUnit(token.unit, unit, fold);
    case 'any':
      return true;
    case 'class':
      return inClass(token, unit, fold);
    default:
      return false;
  }
}

/** Wildcard matching with one backtrack point per star (linear in practice, never exponential). */
function matchUnits(tokens: readonly Token[], units: readonly Unit[], fold: (cp: number) => number): boolean {
  let t = 0;
  let u = 0;
  let starT = -1;
  let starU = 0;
  while (u < units.length) {
    const token = tokens[t];
    if (token !== undefined && token.kind === 'star') {
      starT = t;
      starU = u;
      t += 1;
    } else if (token !== undefined && tokenMatches(token, units[u]!, fold)) {
      t += 1;
      u += 1;
    } else if (starT >= 0) {
      t = starT + 1;
      starU += 1;
      u = starU;
    } else {
      return false;
    }
  }
  while (tokens[t]?.kind === 'star') t += 1;
  return t === tokens.length;
}

function storedOf(unit: Unit): string {
  return unit.kind === 'char'
    ? String.fromCodePoint(unit.cp)
    : `\u0000${unit.value.toString(16).padStart(2, '0')}`;
}

/**
 * Compiles a glob. `caseInsensitive` folds characters to lower case as NTFS and FAT compare
 * names; the key prefix is then empty unless the literal start has no letters.
 */
export function compileGlob(
  glob: string,
  options: { readonly caseInsensitive?: boolean } = {},
): CompiledGlob {
  if (glob === '') throw new ValidationError('glob must not be empty');
  if (glob.length > MAX_GLOB_CHARS) {
    throw new ValidationError(`glob must be at most ${MAX_GLOB_CHARS} characters`, { context: { glob } });
  }
  if (glob.includes('/') || glob.includes('\0')) {
    throw new ValidationError('glob matches one file name: it must not contain "/" or NUL', {
      context: { glob },
    });
  }
  const tokens = tokenize(glob);
  const fold = options.caseInsensitive === true ? lowerCodePoint : (cp: number): number => cp;
  let keyPrefix = '';
  for (const token of tokens) {
    if (token.kind !== 'unit') break;
    if (options.caseInsensitive === true && token.unit.kind === 'char') {
      const s = String.fromCodePoint(token.unit.cp);
      if (s.toLowerCase() !== s.toUpperCase()) break; // a letter: either case may be stored
    }
    keyPrefix += storedOf(token.unit);
  }
  return {
    keyPrefix,
    exact: tokens.every((token) => token.kind === 'unit'),
    matches: (storedName) => matchUnits(tokens, unitsOf(storedName), fold),
  };
}
