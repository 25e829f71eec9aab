/**
 * Lambda "publish-outcome": announces the end of a backup run on EventBridge (`Backup Succeeded`
 * / `Backup Failed`, source `rbp.backup`) and on the SNS topic.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../core/ports.ts';
import {
  OUTCOME_EVENT_VERSION,
  outcomeDetailType,
  readableCause,
  snsMessage,
  snsSubject,
  type BackupOutcomeDetail,
} from '../core/orchestration/backup-outcome.ts';
import { executionRefSchema } from '../core/orchestration/backup-request.ts';
import {
  EventBridgePublisher,
  SnsNotifier,
  type EventPublisher,
  type Notifier,
} from '../aws/outcome-publishers.ts';
import { eventBridgeClient, snsClient } from './support/aws-clients.ts';
import { EVENT_BUS_NAME, readEnvironment, TOPIC_ARN } from './support/environment.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';
import { backupField } from './support/step-schemas.ts';

export const publishOutcomeEventSchema = z.discriminatedUnion('status', [
  z.object({ status: z.literal('SUCCEEDED'), backup: backupField, imageIds: z.array(z.string()) }),
  z.object({
    status: z.literal('FAILED'),
    state: z.looseObject({
      backup: backupField.optional(),
      error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
      serverId: z.unknown().optional(),
      volumeIds: z.unknown().optional(),
      trigger: z.unknown().optional(),
    }),
    execution: executionRefSchema,
  }),
]);
type PublishOutcomeEvent = z.infer<typeof publishOutcomeEventSchema>;

export interface PublishOutcomeDeps {
  readonly events: EventPublisher;
  readonly notifier: Notifier;
  readonly clock: Clock;
}

/** The outcome detail; for a run that failed before `$.backup` existed, from the raw input. */
export function outcomeDetail(event: PublishOutcomeEvent, finishedAt: Date): BackupOutcomeDetail {
  const common = { version: OUTCOME_EVENT_VERSION, finishedAt: finishedAt.toISOString() } as const;
  if (event.status === 'SUCCEEDED') {
    const { backup } = event;
    return { ...common, status: 'SUCCEEDED', ...pickIdentity(backup), imageIds: event.imageIds };
  }
  const { state, execution } = event;
  const rawVolumes = z.array(z.string()).safeParse(state.volumeIds);
  const identity = state.backup
    ? pickIdentity(state.backup)
    : {
        backupId: execution.name,
        serverId:
          typeof state.serverId === 'string'
            ? state.serverId
            : rawVolumes.success
              ? (rawVolumes.data[0] ?? '(unknown)')
              : '(unknown)',
        volumeIds: rawVolumes.success ? rawVolumes.data : [],
        trigger: typeof state.trigger === 'string' ? state.trigger : 'manual',
        startedAt: new Date(execution.startTime).toISOString(),
      };
  const cause = readableCause(state.error?.Cause);
  return {
    ...common,
    status: 'FAILED',
    ...identity,
    imageIds: [],
    error: state.error?.Error ?? 'UnknownError',
    ...(cause === undefined ? {} : { cause }),
  };
}

function pickIdentity(backup: z.infer<typeof backupField>) {
  return {
    backupId: backup.backupId,
    serverId: backup.serverId,
    volumeIds: backup.volumeIds,
    trigger: backup.trigger,
    startedAt: backup.startedAt,
  };
}

export function createPublishOutcomeHandler(deps: PublishOutcomeDeps) {
  return createStepHandler('publish-outcome', publishOutcomeEventSchema, async (event) => {
    const detail = outcomeDetail(event, deps.clock.now());
    await deps.events.publish(outcomeDetailType(detail), detail);
    await deps.notifier.notify(snsSubject(detail), snsMessage(detail));
    return { published: true as const, status: detail.status };
  });
}

export const handler = lazyHandler(() => {
  const env = readEnvironment({ EVENT_BUS_NAME, TOPIC_ARN });
  return createPublishOutcomeHandler({
    events: new EventBridgePublisher(eventBridgeClient(), env.EVENT_BUS_NAME),
    notifier: new SnsNotifier(snsClient(), env.TOPIC_ARN),
    clock: systemClock,
  });
});
