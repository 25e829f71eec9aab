/**
 * DynamoDB key layout of the catalog (docs/catalog.md), shared by the DynamoDB adapter and the
 * in-memory store so both sort and group identically.
 *
 *   file version   pk  FV#<volumeId>#<partition>#<dir>         sk  <name>/<version>
 *                  gsi1pk FN#<volumeId>#<name>                 gsi1sk <partition>#<path>//<version>
 *   image catalog  pk  CI#<volumeId>                           sk  <version>
 *   application    pk  CA#<volumeId>#<imageId>                 sk  <partition>#<name>
 *   tree page      pk  FV#<volumeId>#T#<hash[0..2]>            sk  <hash>
 *
 * "/" never occurs in a name and "//" never in a normalised path, so every entry's (or path's)
 * versions are contiguous and in version order within their partition. Keys longer than DynamoDB
 * allows (partition key 2048 bytes, sort key 1024) hash the directory or path part instead.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.ts';
import { decodeName, isEscapedName } from '../fs/name-encoding.ts';

/**
 * The name-search index (GSI3): partition key `volumeId`, sort key `name`, attributes every version
 * item has (so DynamoDB fills it for catalogs written before it existed); projection INCLUDE of
 * NAME_SEARCH_ATTRIBUTES. lib/constructs/backup-storage.ts and local/product-table.ts define it.
 */
export const NAME_SEARCH_INDEX_NAME = 'GSI3';
/** What GSI3 projects besides the keys: what a search matches, filters and orders by. */
export const NAME_SEARCH_ATTRIBUTES: readonly string[] = [
  'kind',
  'partition',
  'path',
  'version',
  'imageId',
  'createdAt',
  'removed',
  'type',
  'size',
  'mtimeS',
  'mtimeNs',
];

/** Headroom under DynamoDB's 2048-byte partition-key limit for the prefix and volume id. */
export const MAX_PLAIN_PARTITION_KEY_BYTES = 1900;
/** Headroom under DynamoDB's 1024-byte sort-key limit for the version suffix. */
export const MAX_PLAIN_SORT_KEY_BYTES = 900;

const HASHED_MARK = '~sha256:';

function fitted(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  return `${HASHED_MARK}${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

export function directoryPartitionKey(volumeId: string, partition: number, dir: string): string {
  return `FV#${volumeId}#${partition}#${fitted(dir, MAX_PLAIN_PARTITION_KEY_BYTES)}`;
}

export function versionSortKey(name: string, version: string): string {
  return `${name}/${version}`;
}

/** The sort-key prefix shared by every version of `name` (what "versions of a path" queries). */
export function namePrefix(name: string): string {
  return `${name}/`;
}

/** A sort key after every version of `name` and before the next name ('~' sorts after the digits a version starts with). */
export function afterNameSortKey(name: string): string {
  return `${name}/~`;
}

export function nameIndexPartitionKey(volumeId: string, name: string): string {
  return `FN#${volumeId}#${name}`;
}

export function nameIndexSortKey(partition: number, path: string, version: string): string {
  return `${String(partition).padStart(4, '0')}#${fitted(path, MAX_PLAIN_SORT_KEY_BYTES)}//${version}`;
}

/**
 * Directory tree pages (catalog-trees.ts): `FV#<volumeId>#T#<first 2 hex digits>`, sort key the
 * page's hash. "T" is never a partition number, so these never meet a directory's key; the prefix
 * spreads one volume's pages over 256 partition keys.
 */
export function treePartitionKey(volumeId: string, hash: string): string {
  return `FV#${volumeId}#T#${hash.slice(0, 2)}`;
}

export function imageCatalogPartitionKey(volumeId: string): string {
  return `CI#${volumeId}`;
}

export function applicationPartitionKey(volumeId: string, imageId: string): string {
  return `CA#${volumeId}#${imageId}`;
}

export function applicationSortKey(partition: number, name: string): string {
  return `${String(partition).padStart(4, '0')}#${name}`;
}

/** Splits "/a/b/c" into ("/a/b", "c"); the root has no parent. */
export function splitPath(path: string): { dir: string; name: string } {
  const normal = normalizeCatalogPath(path);
  if (normal === '/')
    throw new ValidationError('the root directory has no parent entry', { context: { path } });
  const cut = normal.lastIndexOf('/');
  return { dir: cut === 0 ? '/' : normal.slice(0, cut), name: normal.slice(cut + 1) };
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Absolute, no empty or "." components; ".." is refused rather than resolved. */
export function normalizeCatalogPath(path: string): string {
  if (!path.startsWith('/')) {
    throw new ValidationError(`path must be absolute: ${JSON.stringify(path)}`, { context: { path } });
  }
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) {
    throw new ValidationError(`path must not contain "..": ${JSON.stringify(path)}`, { context: { path } });
  }
  // U+0000 only as the stored form's escape of a byte (fs/name-encoding.ts), never for NUL itself.
  if (path.includes('\0') && parts.some((part) => isEscapedName(part) && !isStoredName(part))) {
    throw new ValidationError('path must not contain NUL', { context: { path } });
  }
  return `/${parts.join('/')}`;
}

/** Whether a name with escapes is a well-formed stored form of bytes without NUL or "/". */
export function isStoredName(part: string): boolean {
  try {
    const bytes = decodeName(part);
    return !bytes.includes(0) && !bytes.includes(0x2f);
  } catch {
    return false;
  }
}

// ------------------------------------------------------------------------------------- cursors

/** Version of the cursor encoding; a cursor of another version is refused. */
const CURSOR_VERSION = 1;

/** An opaque page cursor: base64url of {v, k: kind, a: the position}. */
export function encodeCursor(kind: string, after: string): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, k: kind, a: after }), 'utf8').toString('base64url');
}

export function decodeCursor(kind: string, cursor: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw new ValidationError('invalid cursor', { cause: error });
  }
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    (parsed as { v?: unknown }).v !== CURSOR_VERSION ||
    (parsed as { k?: unknown }).k !== kind ||
    typeof (parsed as { a?: unknown }).a !== 'string'
  ) {
    throw new ValidationError('invalid cursor');
  }
  return (parsed as { a: string }).a;
}
