/**
 * In-memory WorkflowRunStore: the named-record fake (conditional writes on the revision, the same
 * messages) and a workflow's runs a page at a time, newest first, as the DynamoDB store reads them
 * (lambdas/aws/workflow-run-store.ts). Its page token is the last run id of the page.
 */
import type { PageRequest, StorePage } from '../../lambdas/core/api/api-ports.ts';
import {
  alreadyRunningError,
  type WorkflowRun,
  type WorkflowRunStore,
} from '../../lambdas/core/workflows/workflow-run.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';

/** Newest first: run ids are time-ordered as text, compared as UTF-8 bytes as DynamoDB does. */
function newestFirst(a: WorkflowRun, b: WorkflowRun): number {
  return Buffer.compare(Buffer.from(b.runId), Buffer.from(a.runId));
}

export class MemoryWorkflowRuns extends MemoryNamedRecords<WorkflowRun> implements WorkflowRunStore {
  /** pageOfWorkflow calls, by workflow (what a start or a listing read). */
  readonly pageReads: string[] = [];
  /** Each workflow's start position: the run createStarted wrote last. */
  readonly lastStarts = new Map<string, string>();

  constructor() {
    super('workflow run');
  }

  pageOfWorkflow(workflow: string, request: PageRequest): Promise<StorePage<WorkflowRun>> {
    this.pageReads.push(workflow);
    const after = request.pageToken;
    const runs = [...this.records.values()]
      .filter((r) => r.workflow === workflow)
      .filter((r) => after === undefined || Buffer.compare(Buffer.from(r.runId), Buffer.from(after)) < 0)
      .sort(newestFirst);
    const items = runs.slice(0, request.limit).map((r) => structuredClone(r));
    return Promise.resolve(
      runs.length > items.length ? { items, nextToken: items.at(-1)!.runId } : { items },
    );
  }

  lastStart(workflow: string): Promise<string | undefined> {
    return Promise.resolve(this.lastStarts.get(workflow));
  }

  /**
   * As the DynamoDB store: a duplicate run id first, then the start position; the check and both
   * writes happen before the first await, so two starts cannot interleave between them.
   */
  createStarted(run: WorkflowRun, lastStart: string | undefined): Promise<void> {
    if (this.records.has(run.name)) return this.create(run);
    const current = this.lastStarts.get(run.workflow);
    if (current !== lastStart) return Promise.reject(alreadyRunningError(run.workflow, current!));
    this.lastStarts.set(run.workflow, run.runId);
    return this.create(run);
  }
}
