/**
 * The adapters of recovery points (docs/recovery-points.md), built from clients and names like the
 * rest of the wiring: the API's RecoveryPointService and the Commit Recovery Point step's deps.
 * wiring.ts calls these (one line each), so the wiring stays the one place that reads the environment.
 */
import type { Clock } from '../core/ports.ts';
import type { ImageRecordStore } from '../core/image/image-records.ts';
import {
  volumeDevicesFromTags,
  type CommitRecoveryPointDeps,
} from '../core/recovery-points/recovery-points.ts';
import { RecoveryPointService } from '../core/recovery-points/recovery-point-service.ts';
import { DynamoDbJobStore } from './dynamodb-job-store.ts';
import { DynamoDbBackupLockStore } from './dynamodb-backup-lock.ts';
import { DynamoDbImageRecordStore } from './dynamodb-image-records.ts';
import { DynamoDbRecoveryPointStore } from './dynamodb-recovery-points.ts';
import { DynamoDbServerBackupSettings } from './dynamodb-server-settings.ts';
import { Ec2ReplicaSnapshots } from './ec2-replica-snapshots.ts';
import { Ec2ReplicaVolumes } from './ec2-replica-volumes.ts';
import type { SdkClients } from './sdk-clients.ts';
import { SfnBackupExecutions } from './sfn-backup-executions.ts';
import { Ec2AvailabilityZones, Ec2RestoredVolumes } from './ec2-restored-volumes.ts';
import { StateMachineVolumeRestoreLauncher } from './lambda-restore-launcher.ts';
import type { RestoredVolumes } from '../core/restore/restored-volumes.ts';

/** The volume-restore steps' CreateVolume / DescribeVolumes (Create Volume, restored-volumes.ts). */
export function restoredVolumesOf(clients: Pick<SdkClients, 'ec2'>): RestoredVolumes {
  return new Ec2RestoredVolumes(clients.ec2);
}

export function createRecoveryPointService(
  names: {
    readonly TABLE_NAME: string;
    readonly STATE_MACHINE_ARN: string;
    /** Server restores that make volumes run on the volume-restore state machine (absent: they are a 400). */
    readonly VOLUME_RESTORE_STATE_MACHINE_ARN?: string | undefined;
    /** The stack's key of restored snapshots, and so of the volumes made from them. */
    readonly RESTORE_KMS_KEY_ARN?: string | undefined;
  },
  clients: Pick<SdkClients, 'ec2' | 'sfn' | 'documents'>,
  clock: Clock,
): RecoveryPointService {
  const machine = names.VOLUME_RESTORE_STATE_MACHINE_ARN;
  return new RecoveryPointService({
    ...(machine === undefined
      ? {}
      : {
          restoredVolumes: {
            launcher: new StateMachineVolumeRestoreLauncher(clients.sfn, machine),
            zones: new Ec2AvailabilityZones(clients.ec2),
            ...(names.RESTORE_KMS_KEY_ARN === undefined ? {} : { kmsKeyArn: names.RESTORE_KMS_KEY_ARN }),
          },
        }),
    points: new DynamoDbRecoveryPointStore(clients.documents, names.TABLE_NAME),
    replicas: new Ec2ReplicaVolumes(clients.ec2),
    executions: new SfnBackupExecutions(clients.sfn, names.STATE_MACHINE_ARN),
    locks: new DynamoDbBackupLockStore(clients.documents, names.TABLE_NAME, clock),
    jobs: new DynamoDbJobStore(clients.documents, names.TABLE_NAME),
    clock,
    images: new DynamoDbImageRecordStore(clients.documents, names.TABLE_NAME),
    serverSettings: new DynamoDbServerBackupSettings(clients.documents, names.TABLE_NAME),
  });
}

export function createCommitRecoveryPointDeps(
  tableName: string,
  clients: Pick<SdkClients, 'ec2' | 'documents'>,
  records: ImageRecordStore,
): CommitRecoveryPointDeps {
  const ec2 = new Ec2ReplicaSnapshots(clients.ec2);
  return {
    records,
    points: new DynamoDbRecoveryPointStore(clients.documents, tableName),
    devices: volumeDevicesFromTags((volumeIds) => ec2.volumeTags(volumeIds)),
    liveness: new DynamoDbImageRecordStore(clients.documents, tableName),
  };
}
