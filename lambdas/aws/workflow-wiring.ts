/**
 * The adapters the workflow routes work over (ApiDeps.workflows), built from the clients and
 * names; wiring.ts gives them to the API function.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/ports.ts';
import {
  workflowRecordSchema,
  type WorkflowDeployment,
  type WorkflowRecord,
  type WorkflowServicePorts,
} from '../core/workflows/workflow-service.ts';
import { DynamoDbNamedRecords, type NamedRecordKind } from './dynamodb-named-records.ts';
import { Ec2InstanceDirectory } from './ec2-instance-directory.ts';
import { Ec2ServerDirectory } from './ec2-server-directory.ts';
import { Ec2WorkflowResources } from './ec2-workflow-resources.ts';
import { SchedulerWorkflowSchedules, type WorkflowScheduleTarget } from './scheduler-workflow-schedules.ts';
import { dynamoDbWorkflowRuns } from './workflow-run-adapters.ts';

/** The partition of every workflow record (one item per workflow, sort key = its name). */
export const WORKFLOW_PARTITION = 'WORKFLOW#';
/** The key prefixes the API function's table policy allows for workflows (`dynamodb:LeadingKeys`). */
export const WORKFLOW_TABLE_KEYS = [`${WORKFLOW_PARTITION}*`] as const;

export const WORKFLOW_RECORDS: NamedRecordKind<WorkflowRecord> = {
  kind: 'workflow',
  partition: WORKFLOW_PARTITION,
  attribute: 'workflow',
  schema: workflowRecordSchema,
  tooLargeAdvice: 'name fewer volumes or tags',
};

/**
 * The account and region of this deployment, from the ARN of one of its own resources
 * (`arn:partition:service:region:account:…`,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html).
 */
export function deploymentOfArn(arn: string): WorkflowDeployment {
  const [, , , region = '', account = ''] = arn.split(':');
  return { region, account };
}

/**
 * The workflow schedules' target from the API's environment: the workflows' schedule group, the
 * workflow-run state machine, the role Scheduler assumes and the schedules' dead-letter queue
 * (optional); undefined when any is missing (a
 * deployment without workflow schedules).
 */
export function workflowScheduleTargetOf(env: {
  readonly WORKFLOW_SCHEDULE_GROUP?: string | undefined;
  readonly WORKFLOW_RUN_STATE_MACHINE_ARN?: string | undefined;
  readonly WORKFLOW_SCHEDULER_ROLE_ARN?: string | undefined;
  readonly SCHEDULE_DEAD_LETTER_QUEUE_ARN?: string | undefined;
}): WorkflowScheduleTarget | undefined {
  const groupName = env.WORKFLOW_SCHEDULE_GROUP;
  const stateMachineArn = env.WORKFLOW_RUN_STATE_MACHINE_ARN;
  const roleArn = env.WORKFLOW_SCHEDULER_ROLE_ARN;
  if (groupName === undefined || stateMachineArn === undefined || roleArn === undefined) return undefined;
  const deadLetterArn = env.SCHEDULE_DEAD_LETTER_QUEUE_ARN;
  return { groupName, stateMachineArn, roleArn, ...(deadLetterArn === undefined ? {} : { deadLetterArn }) };
}

export function createWorkflowApiDeps(
  names: { readonly tableName: string; readonly schedules?: WorkflowScheduleTarget } & WorkflowDeployment,
  clients: {
    readonly documents: DynamoDBDocumentClient;
    readonly ec2: EC2Client;
    /** Needed when `names.schedules` is given. */
    readonly scheduler?: SchedulerClient;
  },
  clock: Clock,
): WorkflowServicePorts {
  const scheduler =
    names.schedules === undefined || clients.scheduler === undefined
      ? undefined
      : new SchedulerWorkflowSchedules(clients.scheduler, names.schedules);
  return {
    ...(scheduler === undefined ? {} : { scheduler }),
    created: new Ec2WorkflowResources(clients.ec2),
    store: new DynamoDbNamedRecords(clients.documents, names.tableName, WORKFLOW_RECORDS),
    runs: dynamoDbWorkflowRuns(clients.documents, names.tableName),
    servers: new Ec2ServerDirectory(clients.ec2),
    instances: new Ec2InstanceDirectory(clients.ec2),
    deployment: { account: names.account, region: names.region },
    clock,
  };
}
