/**
 * Lambda "replica-checkpoint": Request Checkpoint and Release Checkpoint, as EventBridge events
 * whose contract is docs/replication-agent.md (core/orchestration/checkpoint.ts, runCheckpointStep).
 */
import type { Clock } from '../core/ports.ts';
import { runCheckpointStep } from '../core/orchestration/checkpoint.ts';
import type { EventPublisher } from '../core/orchestration/orchestration-ports.ts';
import { checkpointInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export interface ReplicaCheckpointDeps {
  readonly events: EventPublisher;
  readonly clock: Clock;
}

export function createReplicaCheckpointHandler(deps: ReplicaCheckpointDeps) {
  return createStepHandler('replica-checkpoint', checkpointInputSchema, (input) =>
    runCheckpointStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() =>
  createReplicaCheckpointHandler({
    events: tracedLambdaWiring().events(),
    clock: tracedLambdaWiring().clock,
  }),
);
