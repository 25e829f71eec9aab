/**
 * The workflow-run dependencies over the SDK clients: for the API (starting runs, reading them)
 * and for the run state machine's function (lambdas/handlers/workflow-run.ts). wiring.ts calls
 * these with the deployment's names.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/ports.ts';
import { catalogStateOf } from '../core/api/catalog-reader.ts';
import { RecordDirectories } from '../core/api/record-directories.ts';
import { volumeRestoreJobs, type VolumeRestoreLauncher } from '../core/restore/volume-restore-jobs.ts';
import type { WorkflowRunPorts } from '../core/workflows/workflow-run-ports.ts';
import type { StartWorkflowRunPorts } from '../core/workflows/workflow-run-service.ts';
import { DynamoDbCatalogStore } from './dynamodb-catalog.ts';
import { DynamoDbImageRecordStore } from './dynamodb-image-records.ts';
import { DynamoDbJobStore } from './dynamodb-job-store.ts';
import { DynamoDbNamedRecords } from './dynamodb-named-records.ts';
import { DynamoDbRecoveryPointStore } from './dynamodb-recovery-points.ts';
import { Ec2InstanceDirectory } from './ec2-instance-directory.ts';
import { Ec2ReplicaVolumes } from './ec2-replica-volumes.ts';
import { Ec2ServerDirectory } from './ec2-server-directory.ts';
import { StateMachineVolumeRestoreLauncher } from './lambda-restore-launcher.ts';
import type { SdkClients } from './sdk-clients.ts';
import { WORKFLOW_RECORDS } from './workflow-wiring.ts';
import {
  dynamoDbWorkflowRuns,
  Ec2CloneResources,
  LambdaMaskingHooks,
  SfnWorkflowRunExecutions,
} from './workflow-run-adapters.ts';

/** Random bytes of a run id: 64 bits, so two runs of the same millisecond collide with odds of 2^-64. */
const RUN_ID_RANDOM_BYTES = 8;

export interface WorkflowRunNames {
  readonly tableName: string;
  /** The run state machine that POST /workflows/{name}/runs starts. */
  readonly workflowRunStateMachineArn: string;
}

function directories(tableName: string, clients: Pick<SdkClients, 'ec2' | 'documents'>): RecordDirectories {
  const records = new DynamoDbImageRecordStore(clients.documents, tableName);
  return new RecordDirectories({
    replicas: new Ec2ReplicaVolumes(clients.ec2),
    records,
    cataloged: catalogStateOf(new DynamoDbCatalogStore(clients.documents, tableName)),
  });
}

/** The workflows, runs and what a run looks up (servers, images, recovery points, instances): the API's and the function's. */
function workflowRunLookups(tableName: string, clients: Pick<SdkClients, 'ec2' | 'documents'>) {
  return {
    workflows: new DynamoDbNamedRecords(clients.documents, tableName, WORKFLOW_RECORDS),
    runs: dynamoDbWorkflowRuns(clients.documents, tableName),
    servers: new Ec2ServerDirectory(clients.ec2),
    images: directories(tableName, clients),
    recoveryPoints: new DynamoDbRecoveryPointStore(clients.documents, tableName),
    instances: new Ec2InstanceDirectory(clients.ec2),
  };
}

/** What the API's workflow-run routes work over. */
export function createWorkflowRunApiDeps(
  names: WorkflowRunNames,
  clients: Pick<SdkClients, 'ec2' | 'documents' | 'sfn'>,
  clock: Clock,
): StartWorkflowRunPorts {
  return {
    ...workflowRunLookups(names.tableName, clients),
    executions: new SfnWorkflowRunExecutions(clients.sfn, names.workflowRunStateMachineArn),
    randomHex: () => randomBytes(RUN_ID_RANDOM_BYTES).toString('hex'),
    clock,
  };
}

/** What the run state machine's function works over. */
export function createWorkflowRunDeps(
  names: {
    readonly tableName: string;
    /** The volume-restore state machine the runs start their restores on. */
    readonly volumeRestoreStateMachineArn: string;
    /** KMS key of the clone snapshots (the stack's key). */
    readonly kmsKeyArn?: string;
  },
  clients: Pick<SdkClients, 'ec2' | 'documents' | 'sfn' | 'lambda'>,
  clock: Clock,
  launcher?: VolumeRestoreLauncher,
): WorkflowRunPorts {
  return {
    ...workflowRunLookups(names.tableName, clients),
    restoreJobs: volumeRestoreJobs(new DynamoDbJobStore(clients.documents, names.tableName)),
    restoreLauncher:
      launcher ?? new StateMachineVolumeRestoreLauncher(clients.sfn, names.volumeRestoreStateMachineArn),
    resources: new Ec2CloneResources(clients.ec2),
    masking: new LambdaMaskingHooks(clients.lambda),
    clock,
    ...(names.kmsKeyArn === undefined ? {} : { kmsKeyArn: names.kmsKeyArn }),
  };
}
