/**
 * runStateOf (lambdas/core/workflows/workflow-run-service.ts) reads a workflow's runs newest first
 * only as far as its answer needs; what it answers must be what reading every run answered before:
 * the running run, else currentRunOf over all of them. Histories are made the way the engine makes
 * them (runs one after another, each replacing the current run as the engine does on success, a
 * failure in Replace keeping its own clone and leaving the replaced run unmarked), with runs of
 * other workflows between them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  currentRunOf,
  runStateOf,
  START_RUNS_PAGE,
  type WorkflowRunState,
} from '../../lambdas/core/workflows/workflow-run-service.ts';
import type { WorkflowRun, WorkflowRunAction } from '../../lambdas/core/workflows/workflow-run.ts';
import { MemoryWorkflowRuns } from './memory-workflow-runs.ts';
import { nthRunId, storedRun } from './workflow-run-store.contract.ts';

type Outcome = 'succeeds' | 'fails before its clone' | 'fails in Replace';

interface Step {
  readonly action: WorkflowRunAction;
  readonly outcome: Outcome;
  /** Runs of another workflow started before this one. */
  readonly others: number;
}

const CLONE = [{ sourceVolumeId: 'vol-00000000000000001', imageId: 'img-1', snapshotId: 'snap-clone' }];

/** The workflow's runs (oldest first) after `steps`, the last one still Running when `lastRunning`. */
function history(store: MemoryWorkflowRuns, steps: readonly Step[], lastRunning: boolean): WorkflowRun[] {
  const runs: WorkflowRun[] = [];
  let n = 0;
  steps.forEach((step, index) => {
    for (let o = 0; o < step.others; o += 1) store.records.set(nthRunId(++n), storedRun('other', n));
    const current = currentRunOf([...runs].reverse());
    if (step.action === 'unmount' && current === undefined) return; // refused: nothing mounted
    const base = storedRun('qaclone', ++n, {
      action: step.action,
      volumes: [],
      ...(current === undefined ? {} : { replacesRunId: current.runId }),
    });
    const last = index === steps.length - 1;
    let run: WorkflowRun;
    if (last && lastRunning) run = { ...base, status: 'Running', phase: 'Restore' };
    else if (step.outcome === 'succeeds') {
      run = { ...base, status: 'Succeeded', volumes: step.action === 'run' ? CLONE : [] };
      if (current !== undefined) {
        const replaced = runs.findIndex((r) => r.runId === current.runId);
        runs[replaced] = { ...current, revision: current.revision + 1, replacedByRunId: run.runId };
      }
    } else if (step.outcome === 'fails in Replace' && step.action === 'run') {
      run = { ...base, status: 'Failed', volumes: CLONE, reason: 'removing the previous clone failed' };
    } else run = { ...base, status: 'Failed', reason: 'failed' };
    runs.push(run);
  });
  for (const run of runs) store.records.set(run.runId, run);
  return runs;
}

function everyRunAnswer(runs: readonly WorkflowRun[]): WorkflowRunState {
  const newestFirst = [...runs].reverse();
  const running = newestFirst.find((r) => r.status === 'Running');
  if (running !== undefined) return { running };
  const current = currentRunOf(newestFirst);
  return current === undefined ? {} : { current };
}

const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  action: fc.constantFrom<WorkflowRunAction>('run', 'run', 'unmount'),
  outcome: fc.constantFrom<Outcome>('succeeds', 'fails before its clone', 'fails in Replace'),
  others: fc.nat({ max: 3 }),
});

describe('runStateOf', () => {
  it('answers what reading every run answered, over histories as the engine makes them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArbitrary, { maxLength: 4 * START_RUNS_PAGE }),
        fc.boolean(),
        async (steps, lastRunning) => {
          const store = new MemoryWorkflowRuns();
          const runs = history(store, steps, lastRunning);
          expect(await runStateOf({ runs: store }, 'qaclone')).toEqual(everyRunAnswer(runs));
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('reads one page when the newest run is current, whatever came before', async () => {
    const store = new MemoryWorkflowRuns();
    const steps: Step[] = Array.from({ length: 5 * START_RUNS_PAGE }, (_, i) => ({
      action: 'run',
      outcome: i % 3 === 0 ? 'fails before its clone' : 'succeeds',
      others: 2,
    }));
    const runs = history(store, steps, false);
    expect(await runStateOf({ runs: store }, 'qaclone')).toEqual({ current: runs.at(-1) });
    expect(store.pageReads).toEqual(['qaclone']);
  });

  it('stops at a run that replaced nothing: a workflow whose runs always failed costs one page', async () => {
    const store = new MemoryWorkflowRuns();
    const steps: Step[] = Array.from({ length: 5 * START_RUNS_PAGE }, () => ({
      action: 'run',
      outcome: 'fails before its clone',
      others: 0,
    }));
    history(store, steps, false);
    expect(await runStateOf({ runs: store }, 'qaclone')).toEqual({});
    expect(store.pageReads).toEqual(['qaclone']);
  });
});
