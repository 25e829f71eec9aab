/**
 * Keeping EventBridge Scheduler schedules in step with the record they belong to (a plan's
 * `<plan>--<n>`, a workflow's `wf-<name>`): the record is the source of truth, its schedules are
 * synced to what it asks for, and a failed sync undoes the record change before the error is
 * passed on, so a record and its schedules never disagree.
 */

/** What every synced schedule has; the owner's own fields (`plan`, `workflow`) come on top. */
export interface SyncedSchedule {
  readonly name: string;
  readonly expression: string;
  readonly timeZone: string;
  readonly enabled: boolean;
}

/** The writes a sync makes. */
export interface ScheduleWriter<S extends SyncedSchedule> {
  /** Creates the schedule, or replaces it when one with the name exists. */
  put(schedule: S): Promise<void>;
  /** Deleting an absent schedule is success. */
  delete(name: string): Promise<void>;
}

/** True when `current` already has every field `desired` asks for (the schedules are flat records). */
function sameSchedule<S extends SyncedSchedule>(current: S, desired: S): boolean {
  return (Object.keys(desired) as (keyof S)[]).every((key) => current[key] === desired[key]);
}

/**
 * Makes an owner's schedules exactly `desired`, given the ones it has now (`existing`): puts each
 * desired schedule that is absent or differs, in order, then deletes each existing one that is
 * not desired. A schedule already as desired is not written.
 */
export async function syncSchedules<S extends SyncedSchedule>(
  writer: ScheduleWriter<S>,
  existing: readonly S[],
  desired: readonly S[],
): Promise<void> {
  for (const schedule of desired) {
    const current = existing.find((s) => s.name === schedule.name);
    if (current === undefined || !sameSchedule(current, schedule)) await writer.put(schedule);
  }
  for (const schedule of existing) {
    if (!desired.some((d) => d.name === schedule.name)) await writer.delete(schedule.name);
  }
}

/**
 * Runs `undo` after a failure of `action`, then rethrows the action's error; when the undo fails
 * too, both are thrown together (an AggregateError whose cause is the undo's error).
 */
export async function withUndo<T>(action: () => Promise<T>, undo: () => Promise<void>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    try {
      await undo();
    } catch (undoError) {
      throw new AggregateError(
        [error, undoError],
        `${String(error)}; undoing it failed as well: ${String(undoError)}`,
        { cause: undoError },
      );
    }
    throw error;
  }
}
