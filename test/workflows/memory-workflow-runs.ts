/**
 * In-memory WorkflowRunStore: the named-record fake (conditional writes on the revision, the same
 * messages) and a workflow's runs a page at a time, newest first, as the DynamoDB store reads them
 * (lambdas/aws/workflow-run-store.ts). Its page token is the last run id of the page.
 */
import type { PageRequest, StorePage } from '../../lambdas/core/api/api-ports.ts';
import type { WorkflowRun, WorkflowRunStore } from '../../lambdas/core/workflows/workflow-run.ts';
import { MemoryNamedRecords } from '../fakes/memory-named-records.ts';

/** Newest first: run ids are time-ordered as text, compared as UTF-8 bytes as DynamoDB does. */
function newestFirst(a: WorkflowRun, b: WorkflowRun): number {
  return Buffer.compare(Buffer.from(b.runId), Buffer.from(a.runId));
}

export class MemoryWorkflowRuns extends MemoryNamedRecords<WorkflowRun> implements WorkflowRunStore {
  /** pageOfWorkflow calls, by workflow (what a start or a listing read). */
  readonly pageReads: string[] = [];

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
}
