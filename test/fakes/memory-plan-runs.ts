/**
 * In-memory plan-run store (PlanRunReader): runs by id, a plan's runs newest first by start time
 * (then run id), as DynamoDbPlanRunStore orders its `<startedAt>#<runId>` sort keys.
 */
import type { PlanRunReader } from '../../lambdas/core/api/plan-routes.ts';
import type { PlanRun } from '../../lambdas/core/plans/plan-run.ts';

export class MemoryPlanRuns implements PlanRunReader {
  readonly runs = new Map<string, PlanRun>();
  /** How many times save() replaced a run. */
  saves = 0;

  createIfAbsent(run: PlanRun): Promise<PlanRun> {
    if (!this.runs.has(run.runId)) this.runs.set(run.runId, structuredClone(run));
    return Promise.resolve(structuredClone(this.runs.get(run.runId)!));
  }

  get(runId: string): Promise<PlanRun | undefined> {
    const run = this.runs.get(runId);
    return Promise.resolve(run === undefined ? undefined : structuredClone(run));
  }

  save(run: PlanRun): Promise<void> {
    this.saves += 1;
    this.runs.set(run.runId, structuredClone(run));
    return Promise.resolve();
  }

  delete(runId: string): Promise<void> {
    this.runs.delete(runId);
    return Promise.resolve();
  }

  listForPlan(plan: string): Promise<readonly PlanRun[]> {
    const sortKey = (run: PlanRun) => `${run.startedAt}#${run.runId}`;
    return Promise.resolve(
      [...this.runs.values()]
        .filter((run) => run.plan === plan)
        .sort((a, b) => (sortKey(a) < sortKey(b) ? 1 : -1))
        .map((run) => structuredClone(run)),
    );
  }
}
