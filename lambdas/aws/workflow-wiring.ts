/**
 * The adapters the workflow routes work over (ApiDeps.workflows), built from the clients and
 * names; wiring.ts gives them to the API function.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
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

export function createWorkflowApiDeps(
  names: { readonly tableName: string } & WorkflowDeployment,
  clients: { readonly documents: DynamoDBDocumentClient; readonly ec2: EC2Client },
  clock: Clock,
): WorkflowServicePorts {
  return {
    store: new DynamoDbNamedRecords(clients.documents, names.tableName, WORKFLOW_RECORDS),
    servers: new Ec2ServerDirectory(clients.ec2),
    instances: new Ec2InstanceDirectory(clients.ec2),
    deployment: { account: names.account, region: names.region },
    clock,
  };
}
