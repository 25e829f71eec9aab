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
import { Ec2ReplicaSnapshots } from './ec2-replica-snapshots.ts';
import { Ec2ReplicaVolumes } from './ec2-replica-volumes.ts';
import type { SdkClients } from './sdk-clients.ts';
import { SfnBackupExecutions } from './sfn-backup-executions.ts';

export function createRecoveryPointService(
  names: { readonly TABLE_NAME: string; readonly STATE_MACHINE_ARN: string },
  clients: Pick<SdkClients, 'ec2' | 'sfn' | 'documents'>,
  clock: Clock,
): RecoveryPointService {
  return new RecoveryPointService({
    points: new DynamoDbRecoveryPointStore(clients.documents, names.TABLE_NAME),
    replicas: new Ec2ReplicaVolumes(clients.ec2),
    executions: new SfnBackupExecutions(clients.sfn, names.STATE_MACHINE_ARN),
    locks: new DynamoDbBackupLockStore(clients.documents, names.TABLE_NAME, clock),
    jobs: new DynamoDbJobStore(clients.documents, names.TABLE_NAME),
    clock,
    images: new DynamoDbImageRecordStore(clients.documents, names.TABLE_NAME),
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
