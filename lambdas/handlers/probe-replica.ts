/**
 * Lambda "probe-replica": one look at whether the replica volumes hold the checkpoint in sync
 * (tag probe or DRS probe). The state machine loops on WAITING; after the deadline this fails
 * with ReplicaSyncTimeoutError.
 */
import { z } from 'zod';
import { systemClock, type Clock } from '../core/ports.ts';
import {
  evaluateDrsProbe,
  evaluateTagProbe,
  REPLICA_TAG,
  requireNotTimedOut,
  type DrsSourceServerView,
  type ProbeVerdict,
  type ReplicaVolumeTags,
} from '../core/orchestration/replica-probe.ts';
import { NotAReplicaError } from '../core/orchestration/orchestration-errors.ts';
import { DrsReplication } from '../aws/drs-replication.ts';
import { Ec2ReplicaSnapshots } from '../aws/ec2-replica-snapshots.ts';
import { drsClient, ec2Client } from './support/aws-clients.ts';
import { createStepHandler, lazyHandler, logger } from './support/step-handler.ts';
import { backupField, checkpointField } from './support/step-schemas.ts';

export const probeReplicaEventSchema = z.object({ backup: backupField, checkpoint: checkpointField });

export interface ProbeReplicaDeps {
  readonly volumeTags: (volumeIds: readonly string[]) => Promise<ReplicaVolumeTags[]>;
  readonly drsSourceServer: (sourceServerId: string) => Promise<DrsSourceServerView | undefined>;
  readonly clock: Clock;
}

export function createProbeReplicaHandler(deps: ProbeReplicaDeps) {
  return createStepHandler(
    'probe-replica',
    probeReplicaEventSchema,
    async ({ backup, checkpoint }): Promise<ProbeVerdict> => {
      const now = deps.clock.now();
      const volumes = await deps.volumeTags(backup.volumeIds);
      let verdict: ProbeVerdict;
      if (backup.probe.kind === 'tags') {
        verdict = evaluateTagProbe(volumes, backup.volumeIds, checkpoint, now);
      } else {
        for (const volume of volumes) {
          if (volume.tags[REPLICA_TAG] !== 'true') {
            throw new NotAReplicaError(
              `volume ${volume.volumeId} is not tagged ${REPLICA_TAG}=true; refusing to back it up`,
              {
                context: { volumeId: volume.volumeId },
              },
            );
          }
        }
        const server = await deps.drsSourceServer(backup.probe.sourceServerId);
        verdict = evaluateDrsProbe(
          server,
          backup.probe.sourceServerId,
          backup.probe.maxLagSeconds,
          checkpoint,
          now,
        );
      }
      logger.info('replica probed', {
        checkpointId: checkpoint.checkpointId,
        status: verdict.status,
        reasons: verdict.reasons,
      });
      return requireNotTimedOut(verdict, checkpoint);
    },
  );
}

export const handler = lazyHandler(() => {
  const ec2 = new Ec2ReplicaSnapshots(ec2Client());
  const drs = new DrsReplication(drsClient());
  return createProbeReplicaHandler({
    volumeTags: (ids) => ec2.volumeTags(ids),
    drsSourceServer: (id) => drs.sourceServer(id),
    clock: systemClock,
  });
});
