/**
 * Lambda "probe-replica": one look at whether the replica volumes hold the checkpoint in sync
 * (core/orchestration/replica-probe.ts, runProbeStep). The state machine loops on WAITING; after
 * the deadline this fails with ReplicaSyncTimeoutError.
 */
import type { Clock } from '../core/ports.ts';
import { runProbeStep } from '../core/orchestration/replica-probe.ts';
import type { ReplicaStatePort } from '../core/orchestration/orchestration-ports.ts';
import { probeInputSchema } from '../core/orchestration/step-state.ts';
import { stepLog } from '../aws/observability.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export interface ProbeReplicaDeps extends ReplicaStatePort {
  readonly clock: Clock;
}

export function createProbeReplicaHandler(deps: ProbeReplicaDeps) {
  return createStepHandler('probe-replica', probeInputSchema, (input) => runProbeStep(deps, input, stepLog));
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  return createProbeReplicaHandler({
    volumeTags: (ids) => wiring.replicaSnapshots().volumeTags(ids),
    drsSourceServer: (id) => wiring.drs().sourceServer(id),
    clock: wiring.clock,
  });
});
