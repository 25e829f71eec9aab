/**
 * The history listings, `rbp backup ls` and `rbp restore ls`: `--limit N` (default
 * DEFAULT_HISTORY_ITEMS), newest first as a table (or `{ items, more }` with --json), and on stderr
 * how to see more when the listing goes on.
 */
import type { Command } from 'commander';
import { apiContext, type ApiCommandOptions } from './context.ts';
import { DEFAULT_HISTORY_ITEMS, historyItems, parseHistoryLimit } from './job-progress.ts';
import type { Column } from './output.ts';

/** The options every history listing has: the API's and `--limit`. */
export type HistoryOptions = ApiCommandOptions & { readonly limit: number };

/** One history listing: `rbp <noun> ls` over GET `<collection>`. */
export interface HistoryListing<T> {
  /** The command group: `backup` for `rbp backup ls`. */
  readonly noun: string;
  /** The API collection: `/backups`. */
  readonly collection: string;
  /** Most items per request the collection answers. */
  readonly pageLimit: number;
  readonly columns: readonly Column<T>[];
}

/** Adds `--limit <n>` to a history listing. */
export function withHistoryLimit(command: Command): Command {
  return command.option('--limit <n>', 'show at most this many', parseHistoryLimit, DEFAULT_HISTORY_ITEMS);
}

/** Prints up to `options.limit` items of the listing, filtered by `query`. */
export async function printHistory<T>(
  listing: HistoryListing<T>,
  options: HistoryOptions,
  query: Readonly<Record<string, string | undefined>>,
): Promise<void> {
  const { client, print } = await apiContext(options);
  const { items, more } = await historyItems<T>(
    (page) => client.get(listing.collection, page),
    query,
    options.limit,
    listing.pageLimit,
  );
  print.result({ items, more }, items, listing.columns);
  if (more && !print.json) {
    process.stderr.write(`(more: rbp ${listing.noun} ls --limit ${options.limit * 2})\n`);
  }
}
