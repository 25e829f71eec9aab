/**
 * Lambda "replica-snapshots": Create Snapshots, Check Snapshots, Discard Failed Round and Rotate
 * Base Snapshots (core/orchestration/replica-snapshots.ts, runReplicaSnapshotsStep).
 */
import {
  runReplicaSnapshotsStep,
  type ReplicaSnapshotsDeps,
} from '../core/orchestration/replica-snapshots.ts';
import { replicaSnapshotsInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export function createReplicaSnapshotsHandler(deps: ReplicaSnapshotsDeps) {
  return createStepHandler('replica-snapshots', replicaSnapshotsInputSchema, (input) =>
    runReplicaSnapshotsStep(deps, input, stepLog),
  );
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  return createReplicaSnapshotsHandler({
    snapshots: wiring.replicaSnapshots(),
    primaries: wiring.primarySnapshots(),
    clock: wiring.clock,
    retainBaseSnapshots: wiring.environment('RETAIN_BASE_SNAPSHOTS').RETAIN_BASE_SNAPSHOTS,
  });
});
