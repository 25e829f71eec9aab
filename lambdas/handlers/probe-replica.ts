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
import { Ec2DrsReplicaState } from '../aws/replica-state.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export interface ProbeReplicaDeps extends ReplicaStatePort {
  readonly clock: Clock;
}

export function createProbeReplicaHandler(deps: ProbeReplicaDeps) {
  return createStepHandler('probe-replica', probeInputSchema, (input) => runProbeStep(deps, input, stepLog));
}

export const handler = lazyHandler(() => {
  const wiring = tracedLambdaWiring();
  const state = new Ec2DrsReplicaState(wiring.replicaSnapshots, wiring.drs);
  return createProbeReplicaHandler({
    volumeTags: state.volumeTags,
    drsSourceServer: state.drsSourceServer,
    clock: wiring.clock,
  });
});
