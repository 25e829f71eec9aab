/**
 * Lambda "replica-checkpoint": asks the replication agent for a consistency checkpoint
 * (`request`) and tells it the snapshots are taken (`release`), as EventBridge events whose
 * contract is docs/replication-agent.md.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../core/ports.ts';
import {
  CHECKPOINT_EVENT_VERSION,
  CHECKPOINT_RELEASED,
  CHECKPOINT_REQUESTED,
  checkpointIdFor,
  checkpointRequestDetail,
  checkpointWindow,
  type CheckpointReleaseDetail,
} from '../core/orchestration/checkpoint.ts';
import type { CheckpointWindow } from '../core/orchestration/replica-probe.ts';
import { EventBridgePublisher, type EventPublisher } from '../aws/outcome-publishers.ts';
import { eventBridgeClient } from './support/aws-clients.ts';
import { EVENT_BUS_NAME, readEnvironment } from './support/environment.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField, checkpointField, roundField, snapshotRefSchema } from './support/step-schemas.ts';

export const replicaCheckpointEventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('request'), backup: backupField, round: roundField }),
  z.object({
    action: z.literal('release'),
    backup: backupField,
    checkpoint: checkpointField,
    snapshots: z.array(snapshotRefSchema),
  }),
]);

export interface ReplicaCheckpointDeps {
  readonly events: EventPublisher;
  readonly clock: Clock;
}

export function createReplicaCheckpointHandler(deps: ReplicaCheckpointDeps) {
  return createStepHandler(
    'replica-checkpoint',
    replicaCheckpointEventSchema,
    async (event): Promise<CheckpointWindow | { readonly released: true }> => {
      const { backup } = event;
      if (event.action === 'request') {
        const window = checkpointWindow(
          checkpointIdFor(backup.backupId, event.round),
          deps.clock.now(),
          backup.syncWait.timeoutSeconds,
        );
        await deps.events.publish(CHECKPOINT_REQUESTED, checkpointRequestDetail(window, backup));
        logger.info('checkpoint requested', { ...window });
        return window;
      }
      const detail: CheckpointReleaseDetail = {
        version: CHECKPOINT_EVENT_VERSION,
        checkpointId: event.checkpoint.checkpointId,
        backupId: backup.backupId,
        serverId: backup.serverId,
        volumeIds: backup.volumeIds,
        snapshotIds: event.snapshots.map((s) => s.snapshotId),
      };
      await deps.events.publish(CHECKPOINT_RELEASED, detail);
      return { released: true };
    },
  );
}

export const handler = lazyHandler(() => {
  const env = readEnvironment({ EVENT_BUS_NAME });
  return createReplicaCheckpointHandler({
    events: new EventBridgePublisher(eventBridgeClient(), env.EVENT_BUS_NAME),
    clock: systemClock,
  });
});
