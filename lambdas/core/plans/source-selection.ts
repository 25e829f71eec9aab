/**
 * Which copy of a server a task backs up: the replica or the primary.
 *
 * The replica is used when it replicates properly (state `in-sync`, or `lagging` within the
 * activity's `replica.maxLagSeconds`) and the activity's preference allows it; otherwise the
 * primary, when the preference allows it and the server has one; otherwise the task fails with
 * the reason. A task never backs up a replica that does not replicate properly.
 */
import type { SourcePreference } from './plan-document.ts';
import type { ServerView } from './servers.ts';

export type BackupSource = 'replica' | 'primary';

export type SourceDecision =
  | {
      readonly ok: true;
      readonly source: BackupSource;
      /** Why this source, e.g. `replica stalled; prefer-replica falls back to the primary`. */
      readonly why: string;
    }
  | { readonly ok: false; readonly reason: string };

/** Undefined when the replica replicates properly, else why not. */
export function replicaProblem(server: ServerView, maxLagSeconds: number): string | undefined {
  switch (server.replication) {
    case 'in-sync':
    case 'lagging': {
      if (server.lagSeconds === undefined) {
        return server.replication === 'in-sync'
          ? undefined
          : `replica of ${server.name} is lagging by an unknown time`;
      }
      if (server.lagSeconds > maxLagSeconds) {
        return `replica of ${server.name} lags ${server.lagSeconds} s, more than the allowed ${maxLagSeconds} s`;
      }
      return undefined;
    }
    case 'stalled':
      return `replica of ${server.name} is stalled`;
    case 'disconnected':
      return `replica of ${server.name} is disconnected`;
  }
}

export function selectSource(
  server: ServerView,
  preference: SourcePreference,
  maxLagSeconds: number,
): SourceDecision {
  const replica = replicaProblem(server, maxLagSeconds);
  const noPrimary = `${server.name} has no primary volume`;
  switch (preference) {
    case 'replica-only':
      return replica === undefined
        ? { ok: true, source: 'replica', why: 'replica replicates properly' }
        : { ok: false, reason: `${replica}; source replica-only does not allow the primary` };
    case 'primary-only':
      return server.hasPrimary
        ? { ok: true, source: 'primary', why: 'source primary-only' }
        : { ok: false, reason: `${noPrimary}; source primary-only does not allow the replica` };
    case 'prefer-replica':
      if (replica === undefined) return { ok: true, source: 'replica', why: 'replica replicates properly' };
      if (server.hasPrimary)
        return { ok: true, source: 'primary', why: `${replica}; prefer-replica falls back to the primary` };
      return { ok: false, reason: `${replica}, and ${noPrimary}` };
    case 'prefer-primary':
      if (server.hasPrimary)
        return { ok: true, source: 'primary', why: 'prefer-primary and the server has a primary' };
      if (replica === undefined)
        return { ok: true, source: 'replica', why: `${noPrimary}; prefer-primary falls back to the replica` };
      return { ok: false, reason: `${noPrimary}, and ${replica}` };
  }
}
