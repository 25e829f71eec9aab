/**
 * The contracts of the publisher ports: PlanEventPublisher (core/plans/run-service.ts), EventPublisher
 * and Notifier (core/orchestration/orchestration-ports.ts). What the core relies on: each plan
 * event reaches the bus once with source `rbp.plans`, its detail type and its detail as given, and
 * the topic once as a message that is the event's JSON; no events, no request; an orchestration
 * event reaches the bus with source `rbp.backup`; a notification reaches the topic with its
 * subject and message as given. Subjects stay within SNS's 100 characters
 * (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html), event details go through JSON
 * (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsRequestEntry.html).
 */
import { describe, expect, it } from 'vitest';
import type { EventPublisher, Notifier } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import type { PlanEvent } from '../../lambdas/core/plans/run-engine.ts';
import type { PlanEventPublisher } from '../../lambdas/core/plans/run-service.ts';
import type { BusEvent, TopicMessage } from '../fakes/memory-event-bus.ts';

export interface PublishersHarness {
  readonly plans: PlanEventPublisher;
  readonly backups: EventPublisher;
  readonly notifier: Notifier;
  /** The events on the bus, once at least `count` arrived (delivery may be asynchronous). */
  events(count: number): Promise<readonly BusEvent[]>;
  /** The topic's messages, once at least `count` arrived. */
  messages(count: number): Promise<readonly TopicMessage[]>;
}

const TASK_FAILED: PlanEvent = {
  detailType: 'Plan Task Failed',
  detail: {
    plan: 'nightly',
    runId: 'pr-20261203t020000000z-0a0b0c0d',
    task: { server: 'web01', status: 'Failed', reason: 'quiesce timed out', source: 'replica' },
  },
};
const RUN_FINISHED: PlanEvent = {
  detailType: 'Plan Run Finished',
  detail: {
    runId: 'pr-20261203t020000000z-0a0b0c0d',
    plan: 'n'.repeat(120),
    status: 'Failed',
    tasks: [{ server: 'web01', status: 'Failed', reason: 'quiesce timed out' }],
    trigger: 'schedule:nightly',
    startedAt: '2026-12-03T02:00:00.000Z',
    finishedAt: '2026-12-03T02:10:00.000Z',
  },
};

const byType = <T extends { detailType: string }>(items: readonly T[]): T[] =>
  [...items].sort((a, b) => a.detailType.localeCompare(b.detailType));

export function publishersContract(name: string, open: () => Promise<PublishersHarness>): void {
  describe(`event publishers contract: ${name}`, () => {
    it('each plan event reaches the bus and the topic once; no events, nothing', async () => {
      const h = await open();
      await h.plans.publish([]);
      await h.plans.publish([TASK_FAILED, RUN_FINISHED]);
      expect(byType(await h.events(2))).toEqual(
        byType([TASK_FAILED, RUN_FINISHED]).map((e) => ({ source: 'rbp.plans', ...e })),
      );
      const messages = await h.messages(2);
      expect(messages).toHaveLength(2);
      const parsed = messages.map((m) => JSON.parse(m.message) as { detailType: string });
      expect(byType(parsed)).toEqual(
        byType([TASK_FAILED, RUN_FINISHED]).map((e) => ({ detailType: e.detailType, ...e.detail })),
      );
      for (const { subject } of messages) expect(subject.length).toBeGreaterThan(0);
      for (const { subject } of messages) expect(subject.length).toBeLessThanOrEqual(100);
    });

    it('an orchestration event reaches the bus with the backup source; a notification the topic as given', async () => {
      const h = await open();
      await h.backups.publish('Checkpoint Requested', { checkpointId: 'cp-1', volumeIds: ['vol-0a'] });
      expect(await h.events(1)).toEqual([
        {
          source: 'rbp.backup',
          detailType: 'Checkpoint Requested',
          detail: { checkpointId: 'cp-1', volumeIds: ['vol-0a'] },
        },
      ]);
      await h.notifier.notify('rbp backup bk-1 failed', 'the snapshot of vol-0a failed');
      expect(await h.messages(1)).toEqual([
        { subject: 'rbp backup bk-1 failed', message: 'the snapshot of vol-0a failed' },
      ]);
    });
  });
}
