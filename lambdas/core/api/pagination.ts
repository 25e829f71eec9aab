/** Pages of API listings, with signed cursors (cursor.ts) in place of raw positions. */
import { ValidationError } from '../errors.ts';
import type { NamedRecordPages, PageRequest, StorePage } from './api-ports.ts';
import type { CursorCodec } from './cursor.ts';

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor?: string;
}

export interface PageQuery {
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/** One page of a list the API computed in full (volumes, images). */
export function pageOfList<T>(
  items: readonly T[],
  query: PageQuery,
  scope: string,
  cursors: CursorCodec,
): Page<T> {
  let offset = 0;
  if (query.cursor !== undefined) {
    const position = cursors.decode(scope, query.cursor);
    if (!('offset' in position)) throw new ValidationError('invalid cursor: it belongs to a different query');
    offset = position.offset;
  }
  const end = offset + query.limit;
  const page = items.slice(offset, end);
  return end < items.length
    ? { items: page, nextCursor: cursors.encode(scope, { offset: end }) }
    : { items: page };
}

/** The store's page token behind a client's cursor (undefined for the first page). */
export function storeTokenOf(query: PageQuery, scope: string, cursors: CursorCodec): string | undefined {
  if (query.cursor === undefined) return undefined;
  const position = cursors.decode(scope, query.cursor);
  if (!('token' in position)) throw new ValidationError('invalid cursor: it belongs to a different query');
  return position.token;
}

/**
 * One page of a listing the store pages itself: the client's cursor back to the store's token,
 * `read` asks the store for that page (the client's limit, no token on the first page), and the
 * store's next token goes out wrapped in a signed cursor of `scope`.
 */
export async function storePage<T>(
  query: PageQuery,
  scope: string,
  cursors: CursorCodec,
  read: (page: PageRequest) => Promise<StorePage<T>>,
): Promise<Page<T>> {
  const pageToken = storeTokenOf(query, scope, cursors);
  const page = await read(
    pageToken === undefined ? { limit: query.limit } : { limit: query.limit, pageToken },
  );
  return pageOfStore(page, scope, cursors);
}

/** A store's page with its next token wrapped in a signed cursor. */
export function pageOfStore<T>(page: StorePage<T>, scope: string, cursors: CursorCodec): Page<T> {
  return page.nextToken === undefined
    ? { items: page.items }
    : { items: page.items, nextCursor: cursors.encode(scope, { token: page.nextToken }) };
}

/**
 * A page of named records from a list already in name order (UTF-8 byte order, as DynamoDB sorts a
 * partition): the records after the name in `pageToken`, at most `limit`, and the page's last name
 * as the next token when more follow. What an in-memory store's page is.
 */
export function pageOfNamedList<R extends { readonly name: string }>(
  records: readonly R[],
  request: PageRequest,
): StorePage<R> {
  const after = request.pageToken;
  const rest =
    after === undefined
      ? records
      : records.filter((r) => Buffer.compare(Buffer.from(r.name), Buffer.from(after)) > 0);
  const items = rest.slice(0, request.limit);
  return rest.length > items.length ? { items, nextToken: items.at(-1)!.name } : { items };
}

/** A named-record store as the listing routes read it: by page when it pages itself. */
export interface NamedRecordListing<R> extends Partial<NamedRecordPages<R>> {
  /** Every record, ordered by name. */
  list(): Promise<readonly R[]>;
}

/**
 * One page of a named-record store in name order: the store's own page (one Query of `limit`
 * items on DynamoDB), or, for a store that only lists (the in-memory fakes), its list paged by
 * name with the same tokens.
 */
export async function pageOfNamedRecords<R extends { readonly name: string }>(
  store: NamedRecordListing<R>,
  request: PageRequest,
): Promise<StorePage<R>> {
  return store.page === undefined ? pageOfNamedList(await store.list(), request) : store.page(request);
}
