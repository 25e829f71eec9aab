/**
 * The product's EventBridge bus and SNS topic in memory, behind the publisher ports: the plans'
 * (PlanEventPublisher, source `rbp.plans`: each event on the bus and as a topic message), the
 * orchestration's (EventPublisher, source `rbp.backup`) and the outcome notifier (Notifier).
 * Details go through JSON, as PutEvents' `Detail` does.
 */
import { EVENT_SOURCE } from '../../lambdas/core/orchestration/checkpoint.ts';
import type { EventPublisher, Notifier } from '../../lambdas/core/orchestration/orchestration-ports.ts';
import type { PlanEvent } from '../../lambdas/core/plans/run-engine.ts';
import type { PlanEventPublisher } from '../../lambdas/core/plans/run-service.ts';

/** EventBridge `source` of the plans' events. */
const PLAN_EVENT_SOURCE = 'rbp.plans';
/** SNS subjects are at most 100 characters (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html). */
const SUBJECT_MAX_CHARS = 100;

export interface BusEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: unknown;
}

export interface TopicMessage {
  readonly subject: string;
  readonly message: string;
}

export class MemoryEventBus {
  readonly events: BusEvent[] = [];
  readonly messages: TopicMessage[] = [];

  readonly plans: PlanEventPublisher = {
    publish: (events: readonly PlanEvent[]) => {
      for (const { detailType, detail } of events) {
        this.put(PLAN_EVENT_SOURCE, detailType, detail);
        this.messages.push({
          subject: `rbp plan ${detail.plan}: ${detailType}`.slice(0, SUBJECT_MAX_CHARS),
          message: JSON.stringify({ detailType, ...detail }, null, 2),
        });
      }
      return Promise.resolve();
    },
  };

  readonly backups: EventPublisher = {
    publish: (detailType: string, detail: object) =>
      Promise.resolve(this.put(EVENT_SOURCE, detailType, detail)),
  };

  readonly notifier: Notifier = {
    notify: (subject: string, message: string) =>
      Promise.resolve(void this.messages.push({ subject, message })),
  };

  private put(source: string, detailType: string, detail: object): void {
    this.events.push({ source, detailType, detail: JSON.parse(JSON.stringify(detail)) as unknown });
  }
}
