/**
 * Expanding a plan's activities into tasks, in activity order:
 *
 * - the servers of an activity, in the order of its list; a wildcard pattern contributes the
 *   servers it matches in natural order (QA2 before QA10); a server named twice counts once;
 * - per server: one task, or, when the activity names `applications`, one task per matching
 *   application of the server (natural order);
 * - a server that is unavailable (not found, or replication disconnected) becomes ONE Skipped
 *   task carrying the activity's application pattern, with the reason;
 * - a pattern (or tag filter) that matches no server, and an application pattern that matches no
 *   application of an available server, each become one Skipped task.
 */
import type { Activity, PlanDocument } from './plan-document.ts';
import { isWildcard, matchesPattern, naturalCompare } from './patterns.ts';
import type { PlanTask } from './plan-run.ts';
import { matchesTags, unavailableReason, type ServerView } from './servers.ts';

type Selection =
  | { readonly kind: 'server'; readonly name: string; readonly server: ServerView | undefined }
  | { readonly kind: 'nothing'; readonly label: string; readonly reason: string };

function byName(a: ServerView, b: ServerView): number {
  return naturalCompare(a.name, b.name);
}

function tagLabel(tags: Readonly<Record<string, string>>): string {
  return `tags:${Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
}

function selectServers(activity: Activity, servers: readonly ServerView[]): Selection[] {
  const selections: Selection[] = [];
  const seen = new Set<string>();
  const add = (name: string, server: ServerView | undefined) => {
    if (seen.has(name)) return;
    seen.add(name);
    selections.push({ kind: 'server', name, server });
  };
  if (activity.tags !== undefined) {
    const matched = servers.filter((s) => matchesTags(s, activity.tags ?? {})).sort(byName);
    if (matched.length === 0) {
      const label = tagLabel(activity.tags);
      return [{ kind: 'nothing', label, reason: `no server has a replica volume with ${label.slice(5)}` }];
    }
    for (const server of matched) add(server.name, server);
    return selections;
  }
  const patterns = typeof activity.servers === 'string' ? [activity.servers] : (activity.servers ?? []);
  for (const pattern of patterns) {
    if (!isWildcard(pattern)) {
      add(
        pattern,
        servers.find((s) => s.name === pattern),
      );
      continue;
    }
    const matched = servers.filter((s) => matchesPattern(pattern, s.name)).sort(byName);
    if (matched.length === 0) {
      selections.push({ kind: 'nothing', label: pattern, reason: `no server matches ${pattern}` });
    }
    for (const server of matched) add(server.name, server);
  }
  return selections;
}

/** A task as expansion creates it: Pending, or Skipped with its reason. */
function newTask(
  fields: Pick<PlanTask, 'activity' | 'server'> & { application?: string | undefined; reason?: string },
): Omit<PlanTask, 'index'> {
  const skipped = fields.reason !== undefined;
  return {
    activity: fields.activity,
    server: fields.server,
    ...(fields.application === undefined ? {} : { application: fields.application }),
    status: skipped ? 'Skipped' : 'Pending',
    step: skipped ? 'Done' : 'Window',
    ...(skipped ? { reason: fields.reason } : {}),
    backupAttempts: 0,
  };
}

/** The tasks of a plan over the servers the directory knows, in creation order. */
export function expandActivities(plan: PlanDocument, servers: readonly ServerView[]): PlanTask[] {
  const tasks: Omit<PlanTask, 'index'>[] = [];
  plan.activities.forEach((activity, activityIndex) => {
    const pattern = activity.applications;
    for (const selection of selectServers(activity, servers)) {
      if (selection.kind === 'nothing') {
        tasks.push(
          newTask({
            activity: activityIndex,
            server: selection.label,
            application: pattern,
            reason: selection.reason,
          }),
        );
        continue;
      }
      const unavailable = unavailableReason(selection.server, selection.name);
      if (unavailable !== undefined || selection.server === undefined) {
        tasks.push(
          newTask({
            activity: activityIndex,
            server: selection.name,
            application: pattern,
            reason: unavailable,
          }),
        );
        continue;
      }
      if (pattern === undefined) {
        tasks.push(newTask({ activity: activityIndex, server: selection.name }));
        continue;
      }
      const applications = [...new Set(selection.server.applications)]
        .filter((name) => matchesPattern(pattern, name))
        .sort(naturalCompare);
      if (applications.length === 0) {
        tasks.push(
          newTask({
            activity: activityIndex,
            server: selection.name,
            application: pattern,
            reason: `no application of ${selection.name} matches ${pattern}`,
          }),
        );
      }
      for (const application of applications) {
        tasks.push(newTask({ activity: activityIndex, server: selection.name, application }));
      }
    }
  });
  return tasks.map((task, index) => ({ index, ...task }));
}

/** True when an activity selects the server by name or pattern or by its volumes' tags. */
export function activitySelects(activity: Activity, server: ServerView): boolean {
  if (activity.tags !== undefined) return matchesTags(server, activity.tags);
  const patterns = typeof activity.servers === 'string' ? [activity.servers] : (activity.servers ?? []);
  return patterns.some((pattern) => matchesPattern(pattern, server.name));
}

/** The names of the plans (in the order given) with an activity that selects the server. */
export function plansSelecting(server: ServerView, plans: readonly PlanDocument[]): string[] {
  return plans
    .filter((plan) => plan.activities.some((a) => activitySelects(a, server)))
    .map((plan) => plan.name);
}
