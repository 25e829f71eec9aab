/**
 * The adapters the plan, server and settings routes work over (ApiDeps.plans), built from the
 * clients and names; wiring.ts gives them to the API function from its plan environment (the
 * schedule group, the plan-run state machine, the scheduler's role).
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PlanApiDeps } from '../core/api/plan-routes.ts';
import type { Clock } from '../core/ports.ts';
import { DynamoDbPlanStore, DynamoDbSettingsStore } from './dynamodb-plan-store.ts';
import { Ec2ServerDirectory } from './ec2-server-directory.ts';
import { SchedulerPlanSchedules, type PlanScheduleTarget } from './scheduler-plan-schedules.ts';

export interface PlanApiNames extends PlanScheduleTarget {
  readonly tableName: string;
}

/** The plan names from the Lambda environment's plan variables (wiring.ts PLAN_ENVIRONMENT). */
export function planNamesOf(env: {
  readonly TABLE_NAME: string;
  readonly PLAN_SCHEDULE_GROUP: string;
  readonly PLAN_RUN_STATE_MACHINE_ARN: string;
  readonly PLAN_SCHEDULER_ROLE_ARN: string;
}): PlanApiNames {
  return {
    tableName: env.TABLE_NAME,
    groupName: env.PLAN_SCHEDULE_GROUP,
    stateMachineArn: env.PLAN_RUN_STATE_MACHINE_ARN,
    roleArn: env.PLAN_SCHEDULER_ROLE_ARN,
  };
}

export function createPlanApiDeps(
  names: PlanApiNames,
  clients: {
    readonly documents: DynamoDBDocumentClient;
    readonly ec2: EC2Client;
    readonly scheduler: SchedulerClient;
  },
  clock: Clock,
): PlanApiDeps {
  return {
    store: new DynamoDbPlanStore(clients.documents, names.tableName),
    settings: new DynamoDbSettingsStore(clients.documents, names.tableName),
    scheduler: new SchedulerPlanSchedules(clients.scheduler, names),
    servers: new Ec2ServerDirectory(clients.ec2),
    clock,
  };
}
