/**
 * History of backups and restores (GET /backups, GET /restores): what ran, when, for how long,
 * with what outcome, what it copied or produced, and the step that failed. Both page in the store
 * (Step Functions' ListExecutions token, the job store's DynamoDB Query key) behind the API's
 * signed cursors: nothing is loaded in full.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { ApiDeps } from './api-ports.ts';
import { MAX_CURSOR_CHARS, queryScope } from './cursor.ts';
import { storePage } from './pagination.ts';
import { route, type Route } from './route-definition.ts';
import {
  BACKUP_STATUSES,
  backupSchema,
  pageSchema,
  RESTORE_STATUSES,
  restoreSchema,
  volumeIdSchema,
} from './schemas.ts';

/**
 * Most backups per page: each costs one DescribeExecution (and a failed one its history), and the
 * page must be answered well within API Gateway's 29-second integration timeout.
 */
export const MAX_BACKUP_PAGE_LIMIT = 50;
/** Backups per page unless the client asks otherwise. */
export const DEFAULT_BACKUP_PAGE_LIMIT = 20;
/** Restores per page unless the client asks otherwise (one Query reads a page). */
export const DEFAULT_RESTORE_PAGE_LIMIT = 50;
/** Most restores per page: one DynamoDB Query page. */
export const MAX_RESTORE_PAGE_LIMIT = 1_000;
/** Longest server name accepted in a filter: the tag value's limit. */
export const MAX_SERVER_NAME_CHARS = 256;

const cursor = z
  .string()
  .min(1)
  .max(MAX_CURSOR_CHARS)
  .optional()
  .describe('Opaque cursor from the previous page (nextCursor); valid only for the same query');
const limit = (max: number, fallback: number) =>
  z.coerce
    .number()
    .int('must be an integer')
    .min(1)
    .max(max)
    .default(fallback)
    .describe(`Items per page (1-${max})`);

export const listBackupsQuery = z
  .object({
    server: z.string().min(1).max(MAX_SERVER_NAME_CHARS).optional().describe('Only backups of this server'),
    volume: volumeIdSchema.optional().describe('Only backups that include this volume'),
    status: z.enum(BACKUP_STATUSES).optional().describe('Only backups in this state'),
    cursor,
    limit: limit(MAX_BACKUP_PAGE_LIMIT, DEFAULT_BACKUP_PAGE_LIMIT),
  })
  .strict();

export const listRestoresQuery = z
  .object({
    status: z.enum(RESTORE_STATUSES).optional().describe('Only restores in this state'),
    cursor,
    limit: limit(MAX_RESTORE_PAGE_LIMIT, DEFAULT_RESTORE_PAGE_LIMIT),
  })
  .strict();

/** A 400 for an operation this deployment does not wire (e.g. `listing backups`). */
export function unavailable(operation: string): never {
  throw new ValidationError(`${operation} is not available in this deployment`);
}

/**
 * The optional operation `key` of `port`, bound to it, or a 400 saying `operation` (e.g. `listing
 * backups`) is not available in this deployment.
 */
export function operationOf<P extends object, K extends keyof P>(
  port: P,
  key: K,
  operation: string,
): Exclude<P[K], undefined> {
  const method = port[key];
  if (typeof method !== 'function') unavailable(operation);
  return (method as (...args: unknown[]) => unknown).bind(port) as Exclude<P[K], undefined>;
}

export const HISTORY_ROUTES: readonly Route[] = [
  route('GET /backups', 'listBackups', {
    summary:
      'Backups, running and past, newest first: outcome, start, duration, bytes, the step that failed and why (filters apply per page)',
    query: listBackupsQuery,
    answer: pageSchema(backupSchema),
    async serve(deps: ApiDeps, { query }) {
      const list = operationOf(deps.backups, 'list', 'listing backups');
      return storePage(query, queryScope('listBackups', query), deps.cursors, (page) =>
        list({
          ...page,
          ...(query.status === undefined ? {} : { status: query.status }),
          ...(query.volume === undefined ? {} : { volumeId: query.volume }),
          ...(query.server === undefined ? {} : { serverId: query.server }),
        }),
      );
    },
  }),
  route('GET /restores', 'listRestores', {
    summary: 'Restores, running and past, newest first: kind, outcome, times, duration, size, error',
    query: listRestoresQuery,
    answer: pageSchema(restoreSchema),
    async serve(deps: ApiDeps, { query }) {
      const list = operationOf(deps.restores, 'list', 'listing restores');
      return storePage(query, queryScope('listRestores', query), deps.cursors, (page) =>
        list({ ...page, ...(query.status === undefined ? {} : { status: query.status }) }),
      );
    },
  }),
];
