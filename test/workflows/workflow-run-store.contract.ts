/**
 * One contract for the workflow-run store (WorkflowRunStore, core/workflows/workflow-run.ts): a run
 * id names one record (create refuses a second, replace and delete are conditional on the revision,
 * with the named-record messages), and a workflow's runs read a page at a time, newest first, only
 * that workflow's, always as the record stands after each write; a start is written only when no
 * other start of the workflow was written since it read the start position. Run against MemoryWorkflowRuns and
 * DynamoDbWorkflowRuns on moto (test/workflows/workflow-run-store.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../lambdas/core/errors.ts';
import { parseWorkflowDocument } from '../../lambdas/core/workflows/workflow-document.ts';
import {
  WORKFLOW_RUN_FORMAT_VERSION,
  type WorkflowRun,
  type WorkflowRunStore,
} from '../../lambdas/core/workflows/workflow-run.ts';
import { LIVE_CLONE_EXAMPLE } from './workflow-fixtures.ts';
import { rejection } from '../support/named-record-store.contract.ts';

/** The run id of the `n`-th run (time-ordered: a later `n` is a newer run). */
export function nthRunId(n: number): string {
  return `wr-20261203t${String(n).padStart(9, '0')}z-${(n % 256).toString(16).padStart(2, '0')}`;
}

/** A finished run of `workflow`, the `n`-th run of the store. */
export function storedRun(workflow: string, n: number, overrides: Partial<WorkflowRun> = {}): WorkflowRun {
  const runId = nthRunId(n);
  return {
    formatVersion: WORKFLOW_RUN_FORMAT_VERSION,
    name: runId,
    revision: 1,
    runId,
    workflow,
    type: 'LiveClone',
    action: 'run',
    trigger: 'api',
    status: 'Succeeded',
    phase: 'Finished',
    startedAt: '2026-12-03T06:00:00.000Z',
    endedAt: '2026-12-03T06:05:00.000Z',
    document: parseWorkflowDocument({ ...LIVE_CLONE_EXAMPLE, name: workflow }),
    volumes: [{ sourceVolumeId: 'vol-00000000000000001', imageId: 'img-1', snapshotId: `snap-${n}` }],
    nonSensitive: false,
    ...overrides,
  };
}

/** Every page of the workflow's runs at `limit`, each page's run ids. */
export async function pagesOf(store: WorkflowRunStore, workflow: string, limit: number): Promise<string[][]> {
  const pages: string[][] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.pageOfWorkflow(
      workflow,
      pageToken === undefined ? { limit } : { limit, pageToken },
    );
    expect(page.items.length).toBeLessThanOrEqual(limit);
    if (page.items.length < limit) expect(page.nextToken).toBeUndefined();
    pages.push(page.items.map((r) => r.runId));
    pageToken = page.nextToken;
  } while (pageToken !== undefined);
  return pages;
}

export function workflowRunStoreContract(label: string, make: () => Promise<WorkflowRunStore>): void {
  describe(`workflow run store contract: ${label}`, () => {
    it('creates once (a duplicate is a ConflictError) and reads back exactly what was written', async () => {
      const store = await make();
      const run = storedRun('qaclone', 1);
      await store.create(run);
      const duplicate = await rejection(store.create({ ...run, trigger: 'schedule:qaclone' }));
      expect(duplicate).toBeInstanceOf(ConflictError);
      expect(duplicate.message).toBe(`workflow run ${run.runId} already exists`);
      expect(await store.get(run.runId)).toEqual(run);
      expect(await store.get(nthRunId(2))).toBeUndefined();
      expect(await store.pageOfWorkflow('qaclone', { limit: 10 })).toEqual({ items: [run] });
    });

    it('replaces on the revision read: another revision is a ConflictError, an absent run a NotFoundError; the listing follows', async () => {
      const store = await make();
      const run = storedRun('qaclone', 1, { status: 'Running', phase: 'Restore' });
      await store.create(run);
      const finished: WorkflowRun = { ...run, revision: 2, status: 'Failed', phase: 'Finished', reason: 'x' };
      await store.replace(finished, 1);
      const stale = await rejection(store.replace({ ...finished, revision: 2, reason: 'y' }, 1));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toBe(`workflow run ${run.runId} changed meanwhile (revision 2)`);
      const absent = await rejection(store.replace(storedRun('qaclone', 9, { revision: 2 }), 1));
      expect(absent).toBeInstanceOf(NotFoundError);
      expect(absent.message).toBe(`workflow run ${nthRunId(9)} does not exist`);
      expect(await store.get(run.runId)).toEqual(finished);
      expect(await store.pageOfWorkflow('qaclone', { limit: 10 })).toEqual({ items: [finished] });
    });

    it('deletes on the revision read (absent is success, another revision a ConflictError); the listing follows', async () => {
      const store = await make();
      const kept = storedRun('qaclone', 1);
      const gone = storedRun('qaclone', 2);
      await store.create(kept);
      await store.create(gone);
      const stale = await rejection(store.delete(gone.runId, 7));
      expect(stale).toBeInstanceOf(ConflictError);
      expect(stale.message).toBe(`workflow run ${gone.runId} changed meanwhile (revision 1)`);
      await store.delete(gone.runId, 1);
      await store.delete(gone.runId, 1);
      await store.delete(nthRunId(3), 1);
      expect(await store.get(gone.runId)).toBeUndefined();
      expect(await store.pageOfWorkflow('qaclone', { limit: 10 })).toEqual({ items: [kept] });
      await store.create(gone);
      expect(await store.get(gone.runId)).toEqual(gone);
    });

    it("pages only the workflow's runs, newest first, whatever order they were written in; an unknown workflow has none", async () => {
      const store = await make();
      const order = [5, 1, 12, 3, 8, 2, 11, 7, 4, 10, 6, 9];
      for (const n of order) await store.create(storedRun(n % 3 === 0 ? 'other' : 'qaclone', n));
      await store.create(storedRun('qaclone2', 13));
      await store.create(storedRun('qaclon', 14));
      const mine = [11, 10, 8, 7, 5, 4, 2, 1].map(nthRunId);
      expect((await pagesOf(store, 'qaclone', 100)).flat()).toEqual(mine);
      const byThree = await pagesOf(store, 'qaclone', 3);
      expect(byThree.flat()).toEqual(mine);
      expect(byThree.slice(0, 3)).toEqual([mine.slice(0, 3), mine.slice(3, 6), mine.slice(6, 8)]);
      expect((await pagesOf(store, 'other', 1)).flat()).toEqual([12, 9, 6, 3].map(nthRunId));
      expect(await store.pageOfWorkflow('never', { limit: 10 })).toEqual({ items: [] });
    });

    it('starts: of two starts that read the same position one is written, the other refused as already running; positions are per workflow', async () => {
      const store = await make();
      expect(await store.lastStart('qaclone')).toBeUndefined();
      const first = storedRun('qaclone', 1, { status: 'Running', phase: 'Restore' });
      const rival = storedRun('qaclone', 2, { status: 'Running', phase: 'Restore' });
      await store.createStarted(first, undefined);
      const refused = await rejection(store.createStarted(rival, undefined));
      expect(refused).toBeInstanceOf(ConflictError);
      expect(refused.message).toBe(`workflow qaclone is already running (run ${first.runId})`);
      expect(await store.get(rival.runId)).toBeUndefined();
      expect(await store.pageOfWorkflow('qaclone', { limit: 10 })).toEqual({ items: [first] });
      expect(await store.lastStart('qaclone')).toBe(first.runId);

      const other = storedRun('other', 3);
      await store.createStarted(other, undefined);
      expect(await store.lastStart('other')).toBe(other.runId);

      const next = storedRun('qaclone', 4);
      const stale = await rejection(store.createStarted(next, nthRunId(9)));
      expect(stale.message).toBe(`workflow qaclone is already running (run ${first.runId})`);
      await store.createStarted(next, first.runId);
      expect(await store.lastStart('qaclone')).toBe(next.runId);
      expect((await pagesOf(store, 'qaclone', 10)).flat()).toEqual([next.runId, first.runId]);
    });

    it('a start whose run id exists is refused as a duplicate, and the position stays; a deleted run leaves the position where it was', async () => {
      const store = await make();
      const run = storedRun('qaclone', 1);
      await store.createStarted(run, undefined);
      const duplicate = await rejection(
        store.createStarted({ ...run, trigger: 'schedule:qaclone' }, run.runId),
      );
      expect(duplicate).toBeInstanceOf(ConflictError);
      expect(duplicate.message).toBe(`workflow run ${run.runId} already exists`);
      expect(await store.get(run.runId)).toEqual(run);
      expect(await store.lastStart('qaclone')).toBe(run.runId);
      await store.delete(run.runId, 1);
      expect(await store.lastStart('qaclone')).toBe(run.runId);
      const after = storedRun('qaclone', 2);
      await store.createStarted(after, run.runId);
      expect(await store.pageOfWorkflow('qaclone', { limit: 10 })).toEqual({ items: [after] });
    });
  });
}
