/**
 * The contract of QuiesceAgent (lambdas/core/plans/plan-ports.ts), the plan run's side of the
 * replication agent: a request reaches the bus once as `Quiesce Requested` / `Release Requested`
 * (source `rbp.plans`) with the request id, the server, the application when one is named, the
 * server's replica volumes, the timeout and the clock's time; a request is confirmed once the
 * agent has tagged one of the server's replica volumes with its id, not before, and not by
 * another request's; the quiesced applications are the agent's `rbp:quiesced` tags of the
 * server's volumes, each name once.
 */
import { describe, expect, it } from 'vitest';
import type { QuiesceAgent } from '../../lambdas/core/plans/plan-ports.ts';
import type { BusEvent } from '../fakes/memory-event-bus.ts';

export interface QuiesceAgentHarness {
  readonly agent: QuiesceAgent;
  /** The time the harness's clock gives. */
  readonly now: string;
  /** A server with `count` replica volumes; their ids in order. */
  server(name: string, count: number): Promise<readonly string[]>;
  /** The replication agent tags a volume (its answers). */
  answer(volumeId: string, tags: Record<string, string>): Promise<void>;
  /** The events on the bus, once at least `count` arrived. */
  events(count: number): Promise<readonly BusEvent[]>;
}

export function quiesceAgentContract(name: string, open: () => Promise<QuiesceAgentHarness>): void {
  describe(`QuiesceAgent contract: ${name}`, () => {
    it('sends each request once as an event naming the server’s volumes', async () => {
      const h = await open();
      const volumeIds = await h.server('QA-EVENTS', 2);
      await h.agent.requestQuiesce({
        requestId: 'q-1',
        server: 'QA-EVENTS',
        application: 'db',
        timeoutSeconds: 60,
      });
      await h.agent.requestRelease({ requestId: 'r-1', server: 'QA-EVENTS', timeoutSeconds: 30 });
      // The volumes in the server directory's order, which is not this port's to keep: compared as sets.
      const common = {
        version: 1,
        serverId: 'QA-EVENTS',
        volumeIds: [...volumeIds].sort(),
        requestedAt: h.now,
      };
      const sent = [...(await h.events(2))]
        .map((e) => {
          const detail = e.detail as { volumeIds: string[] };
          return { ...e, detail: { ...detail, volumeIds: [...detail.volumeIds].sort() } };
        })
        .sort((a, b) => a.detailType.localeCompare(b.detailType));
      expect(sent).toEqual([
        {
          source: 'rbp.plans',
          detailType: 'Quiesce Requested',
          detail: { ...common, requestId: 'q-1', application: 'db', timeoutSeconds: 60 },
        },
        {
          source: 'rbp.plans',
          detailType: 'Release Requested',
          detail: { ...common, requestId: 'r-1', timeoutSeconds: 30 },
        },
      ]);
    });

    it('a request is confirmed once the agent tagged a volume with its id, and only its own', async () => {
      const h = await open();
      const [first, second] = await h.server('QA-CONFIRM', 2);
      expect(await h.agent.isQuiesced('q-confirm-1')).toBe(false);
      await h.answer(second!, { 'rbp:quiesce-confirmed': 'q-confirm-1' });
      expect(await h.agent.isQuiesced('q-confirm-1')).toBe(true);
      expect(await h.agent.isQuiesced('q-confirm-2')).toBe(false);
      expect(await h.agent.isReleased('q-confirm-1')).toBe(false);
      await h.answer(first!, { 'rbp:release-confirmed': 'r-confirm-1' });
      expect(await h.agent.isReleased('r-confirm-1')).toBe(true);
    });

    it('the quiesced applications are the server’s rbp:quiesced tags, each once', async () => {
      const h = await open();
      const [first, second] = await h.server('QA-APPS', 2);
      expect(await h.agent.quiescedApplications('QA-APPS')).toEqual([]);
      await h.answer(first!, { 'rbp:quiesced': 'db, web' });
      await h.answer(second!, { 'rbp:quiesced': 'db' });
      expect([...(await h.agent.quiescedApplications('QA-APPS'))].sort()).toEqual(['db', 'web']);
      expect(await h.agent.quiescedApplications('QA-NOBODY')).toEqual([]);
    });
  });
}
