/**
 * What the plan-run function publishes on the local stack, as the local-stack tests of plans read
 * it: the plan events put on EventBridge (the gateway hands every event to the replication agent
 * simulator, which these wrap) and the messages moto recorded on the outcome topic; and the
 * environment a test restores after deployProduct changed it.
 */
import type { EventEntry, ReplicaSimulator } from '../../local/replica/replica-simulator.ts';
import { PLAN_EVENT_SOURCE } from '../../lambdas/aws/plan-run-adapters.ts';

export interface RecordedPlanEvent {
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
}

/** Appends every event of source `rbp.plans` whose detail type `keep` accepts to `into`, in order. */
export function recordPlanEvents(
  agent: Pick<ReplicaSimulator, 'onEvents'>,
  into: RecordedPlanEvent[],
  keep: (detailType: string) => boolean = () => true,
): void {
  const delivered = agent.onEvents.bind(agent);
  agent.onEvents = async (entries: readonly EventEntry[]) => {
    await delivered(entries);
    for (const entry of entries) {
      if (entry.Source !== PLAN_EVENT_SOURCE || !keep(entry.DetailType ?? '')) continue;
      into.push({
        detailType: entry.DetailType ?? '',
        detail: JSON.parse(entry.Detail ?? '{}') as Record<string, unknown>,
      });
    }
  };
}

/**
 * What was published to the outcome topic, oldest first: moto keeps every message a topic sent
 * (`sent_notifications`: id, message, subject, …) and lists it in its model data.
 */
export async function outcomeMessages(
  motoEndpoint: string,
  topicArn: string,
): Promise<{ subject: string; message: string }[]> {
  const data = (await (await fetch(`${motoEndpoint}/moto-api/data.json`)).json()) as {
    sns?: { Topic?: { arn: string; sent_notifications: [string, string, string | null][] }[] };
  };
  const topic = (data.sns?.Topic ?? []).find((t) => t.arn === topicArn);
  return (topic?.sent_notifications ?? []).map(([, message, subject]) => ({
    subject: subject ?? '',
    message,
  }));
}

/** Puts process.env back as `saved` was: variables added since are removed. */
export function restoreEnv(saved: Readonly<Record<string, string | undefined>>): void {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
}
