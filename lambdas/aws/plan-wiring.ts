/**
 * The adapters of protection plans, built from the clients and names: what the plan, server,
 * settings and run routes work over (ApiDeps.plans), and what the plan-run function works over.
 * wiring.ts gives them to the API function from its plan environment (the schedule group, the
 * plan-run state machine, the scheduler's role) and to the plan-run function.
 */
import { randomBytes } from 'node:crypto';
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PlanApiDeps } from '../core/api/plan-routes.ts';
import { ConflictError } from '../core/errors.ts';
import type { PlanRunExecutions, PlanRunFunctionPorts } from '../core/plans/run-service.ts';
import type { Clock } from '../core/ports.ts';
import { DynamoDbPlanRunStore, DynamoDbPlanStore, DynamoDbSettingsStore } from './dynamodb-plan-store.ts';
import { Ec2ServerDirectory } from './ec2-server-directory.ts';
import { DynamoDbRecoveryPointStore } from './dynamodb-recovery-points.ts';
import { DynamoDbRpoStateStore } from './plan-rpo-adapters.ts';
import { createRecoveryPointService } from './recovery-point-wiring.ts';
import { Ec2ReplicaVolumePages } from './ec2-server-pages.ts';
import { DynamoDbLifecycleImageRecords } from './dynamodb-lifecycle-images.ts';
import { DynamoDbServerBackupSettings } from './dynamodb-server-settings.ts';
import {
  LambdaHookInvoker,
  PlanOutcomePublisher,
  S3Ec2Destination,
  SfnPlanBackups,
  TagQuiesceAgent,
  type PlanBackupOptions,
} from './plan-run-adapters.ts';
import { SchedulerPlanSchedules, type PlanScheduleTarget } from './scheduler-plan-schedules.ts';
import { sdkErrorName, translateSdkError } from './sdk-errors.ts';
import type { SdkClients } from './sdk-clients.ts';

/** Random bytes of a plan-run id: 32 bits after a millisecond timestamp. */
const RUN_ID_RANDOM_BYTES = 4;

export interface PlanApiNames extends PlanScheduleTarget {
  readonly tableName: string;
}

/** The plan names from the Lambda environment's plan variables (wiring.ts PLAN_ENVIRONMENT). */
export function planNamesOf(env: {
  readonly TABLE_NAME: string;
  readonly PLAN_SCHEDULE_GROUP: string;
  readonly PLAN_RUN_STATE_MACHINE_ARN: string;
  readonly PLAN_SCHEDULER_ROLE_ARN: string;
  readonly SCHEDULE_DEAD_LETTER_QUEUE_ARN?: string | undefined;
}): PlanApiNames {
  return {
    tableName: env.TABLE_NAME,
    groupName: env.PLAN_SCHEDULE_GROUP,
    stateMachineArn: env.PLAN_RUN_STATE_MACHINE_ARN,
    roleArn: env.PLAN_SCHEDULER_ROLE_ARN,
    ...(env.SCHEDULE_DEAD_LETTER_QUEUE_ARN === undefined
      ? {}
      : { deadLetterArn: env.SCHEDULE_DEAD_LETTER_QUEUE_ARN }),
  };
}

/** StartExecution of the plan-run state machine, named by the run id. */
export class SfnPlanRunExecutions implements PlanRunExecutions {
  constructor(
    private readonly sfn: SFNClient,
    private readonly stateMachineArn: string,
  ) {}

  async start(runId: string, input: { plan: string; trigger: string }): Promise<void> {
    try {
      await this.sfn.send(
        new StartExecutionCommand({
          stateMachineArn: this.stateMachineArn,
          name: runId,
          input: JSON.stringify(input),
        }),
      );
    } catch (error) {
      if (sdkErrorName(error) === 'ExecutionAlreadyExists') {
        throw new ConflictError(`plan run ${runId} already exists`, { context: { runId }, cause: error });
      }
      throw translateSdkError(error, 'StartExecution (plan run)', { runId });
    }
  }
}

export function createPlanApiDeps(
  names: PlanApiNames,
  clients: {
    readonly documents: DynamoDBDocumentClient;
    readonly ec2: EC2Client;
    readonly scheduler: SchedulerClient;
    readonly sfn: SFNClient;
  },
  clock: Clock,
): PlanApiDeps {
  const registry = new DynamoDbLifecycleImageRecords(clients.documents, names.tableName);
  return {
    store: new DynamoDbPlanStore(clients.documents, names.tableName),
    settings: new DynamoDbSettingsStore(clients.documents, names.tableName),
    scheduler: new SchedulerPlanSchedules(clients.scheduler, names),
    servers: new Ec2ServerDirectory(clients.ec2),
    // After EC2's servers, GET /servers lists the registered servers EC2 no longer has, a page
    // at a time from the registry's index by server (the whole registry until it is backfilled).
    serverPages: new Ec2ReplicaVolumePages(
      clients.ec2,
      () => registry.registeredVolumes(),
      (page) => registry.pageRegisteredServers(page),
    ),
    runs: new DynamoDbPlanRunStore(clients.documents, names.tableName),
    executions: new SfnPlanRunExecutions(clients.sfn, names.stateMachineArn),
    randomHex: () => randomBytes(RUN_ID_RANDOM_BYTES).toString('hex'),
    clock,
  };
}

/** What the plan-run function reads and writes. */
export interface PlanRunNames {
  readonly tableName: string;
  readonly imageBucket: string;
  readonly eventBusName: string;
  readonly topicArn: string;
  /** The backup state machine a task starts. */
  readonly backupStateMachineArn: string;
}

export interface PlanRunOptions extends PlanBackupOptions {
  /** The longest Wait of the run state machine (the local stack's tests; unset in AWS). */
  readonly maxWaitSeconds?: number;
}

export function createPlanRunDeps(
  names: PlanRunNames,
  clients: Pick<SdkClients, 'documents' | 'ec2' | 's3' | 'sfn' | 'lambda' | 'eventBridge' | 'sns'>,
  clock: Clock,
  options: PlanRunOptions = {},
): PlanRunFunctionPorts {
  const servers = new Ec2ServerDirectory(clients.ec2);
  return {
    clock,
    plans: new DynamoDbPlanStore(clients.documents, names.tableName),
    runs: new DynamoDbPlanRunStore(clients.documents, names.tableName),
    settings: new DynamoDbSettingsStore(clients.documents, names.tableName),
    destination: new S3Ec2Destination(clients.s3, clients.ec2, names.imageBucket),
    servers,
    hooks: new LambdaHookInvoker(clients.lambda),
    quiesce: new TagQuiesceAgent(clients.eventBridge, names.eventBusName, clients.ec2, servers, clock),
    backups: new SfnPlanBackups(clients.sfn, names.backupStateMachineArn, servers, {
      // Every task's backup carries its server's configured probe and waits (config-servers.ts).
      serverSettings: new DynamoDbServerBackupSettings(clients.documents, names.tableName),
      ...options,
    }),
    events: new PlanOutcomePublisher(clients.eventBridge, names.eventBusName, clients.sns, names.topicArn),
    // A task's achieved RPO (its point and the one before) and the RPO check's newest points.
    recoveryPoints: new DynamoDbRecoveryPointStore(clients.documents, names.tableName),
    newestPoints: createRecoveryPointService(
      { TABLE_NAME: names.tableName, STATE_MACHINE_ARN: names.backupStateMachineArn },
      clients,
      clock,
    ),
    rpoState: new DynamoDbRpoStateStore(clients.documents, names.tableName),
    ...(options.maxWaitSeconds === undefined ? {} : { maxWaitSeconds: options.maxWaitSeconds }),
  };
}
