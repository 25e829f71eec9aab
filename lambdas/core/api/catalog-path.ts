/**
 * Paths inside a backed-up filesystem, as the API accepts them: absolute POSIX paths, normalised
 * (`//`, `.` and `..` resolved), never above the root, without NUL, within Linux's length limits.
 * A path that would climb above `/` is refused, not clamped: it is a traversal attempt or a bug.
 */

import { encodeName, unescapeBytes } from '../fs/name-encoding.ts';

/** Longest accepted path in UTF-8 bytes: Linux PATH_MAX (including the terminating NUL there). */
export const MAX_CATALOG_PATH_BYTES = 4_096;
/** Longest accepted component (file name) in UTF-8 bytes: NAME_MAX on ext4, XFS and most others. */
export const MAX_PATH_COMPONENT_BYTES = 255;

export type CatalogPathResult =
  | { readonly ok: true; readonly path: string; readonly components: readonly string[] }
  | { readonly ok: false; readonly reason: string };

const utf8 = new TextEncoder();
/** In u-mode a surrogate class matches only unpaired halves (paired ones form one code point). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Normalises `raw`; the result is `/` or `/a/b` (no trailing slash). */
export function normaliseCatalogPath(raw: string): CatalogPathResult {
  if (raw.length === 0) return { ok: false, reason: 'must not be empty' };
  if (raw.includes('\0')) return { ok: false, reason: 'must not contain NUL' };
  if (LONE_SURROGATE.test(raw)) return { ok: false, reason: 'must be valid Unicode (no lone surrogates)' };
  if (utf8.encode(raw).length > MAX_CATALOG_PATH_BYTES) {
    return { ok: false, reason: `must be at most ${MAX_CATALOG_PATH_BYTES} bytes` };
  }
  if (!raw.startsWith('/')) return { ok: false, reason: 'must be absolute (start with /)' };
  const components: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (components.length === 0) return { ok: false, reason: 'must not climb above the root (..)' };
      components.pop();
      continue;
    }
    if (utf8.encode(part).length > MAX_PATH_COMPONENT_BYTES) {
      return { ok: false, reason: `each name must be at most ${MAX_PATH_COMPONENT_BYTES} bytes` };
    }
    components.push(part);
  }
  return { ok: true, path: `/${components.join('/')}`, components };
}

/**
 * A normalised path given in the escaped form the API speaks (`caf\xe9`, `a\\b`;
 * fs/name-encoding.ts) as the stored form the catalog and the readers use. A component whose
 * escapes stand for "/" or NUL is refused: no name holds those bytes.
 */
export function storedCatalogPath(normalised: string): CatalogPathResult {
  if (!normalised.includes('\\')) {
    return { ok: true, path: normalised, components: normalised.split('/').filter((c) => c !== '') };
  }
  const components: string[] = [];
  for (const part of normalised.split('/')) {
    if (part === '') continue;
    const bytes = unescapeBytes(part);
    if (bytes.includes(0x2f) || bytes.includes(0)) {
      return { ok: false, reason: 'must not name "/" or NUL inside a name (\\x2f, \\x00)' };
    }
    if (bytes.length > MAX_PATH_COMPONENT_BYTES) {
      return { ok: false, reason: `each name must be at most ${MAX_PATH_COMPONENT_BYTES} bytes` };
    }
    components.push(encodeName(bytes));
  }
  return { ok: true, path: `/${components.join('/')}`, components };
}
