/**
 * The deploy-time writer of configuration records (the configuration's plans, config-plans.ts;
 * the servers' backup settings, config-servers.ts): CDK's AwsCustomResource making one DynamoDB
 * call per event. CDK runs every AwsCustomResource of a stack on one provider function, whose
 * role is the `role` of the first one made and to which every one attaches its policy
 * (https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.custom_resources.AwsCustomResource.html);
 * so the role and the log group are made here once per scope and shared, and each writer's policy
 * names only the keys it writes.
 */
import { Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';

/** The provider function's memory: it makes one small DynamoDB call per event. */
export const CONFIG_WRITER_MEMORY_MB = 256;

/** Construct ids of the shared role and log group (kept from when only plans were written). */
const WRITER_LOGS_ID = 'ConfigPlanWriterLogs';
const WRITER_ROLE_ID = 'ConfigPlanWriterRole';

export interface ConfigWriterProps {
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The provider's role and log group, made on the first call in `scope` and found on the next:
 * its own role (no AWS managed policy) writing to its own log group.
 */
export function configWriter(
  scope: Construct,
  props: ConfigWriterProps,
): { readonly role: iam.IRole; readonly logGroup: logs.ILogGroup } {
  const role = scope.node.tryFindChild(WRITER_ROLE_ID) as iam.Role | undefined;
  const logGroup = scope.node.tryFindChild(WRITER_LOGS_ID) as logs.LogGroup | undefined;
  if (role !== undefined && logGroup !== undefined) return { role, logGroup };
  const createdLogs = new logs.LogGroup(scope, WRITER_LOGS_ID, {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  const createdRole = new iam.Role(scope, WRITER_ROLE_ID, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description:
      "Writes the configuration's protection plans and servers' backup settings at deploy time (Custom::AWS provider)",
  });
  createdLogs.grantWrite(createdRole);
  return { role: createdRole, logGroup: createdLogs };
}

/** A DynamoDB item in the low-level attribute-value form the DynamoDB API takes. */
export function attributeValues(
  item: Record<string, string | number>,
): Record<string, { S: string } | { N: string }> {
  return Object.fromEntries(
    Object.entries(item).map(([key, value]) => [
      key,
      typeof value === 'number' ? { N: String(value) } : { S: value },
    ]),
  );
}

/**
 * The provider function CDK adds for AwsCustomResource (one per stack), set to the product's
 * function defaults: Node.js 22 (its AWS SDK v3 serves the call: installLatestAwsSdk is off),
 * arm64 (the provider is plain JavaScript), active tracing. Setting it twice sets the same.
 */
export function conformProvider(scope: Construct): void {
  const provider = Stack.of(scope).node.tryFindChild(
    `AWS${cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')}`,
  );
  const fn = provider?.node.defaultChild as lambda.CfnFunction | undefined;
  if (fn === undefined) return;
  fn.addPropertyOverride('Runtime', lambda.Runtime.NODEJS_22_X.name);
  fn.addPropertyOverride('Architectures', [lambda.Architecture.ARM_64.name]);
  fn.addPropertyOverride('TracingConfig', { Mode: 'Active' });
  Validations.of(fn).acknowledge({
    id: 'AwsSolutions-L1',
    reason:
      'Node.js 22 is the runtime the project builds and tests on; the provider is set to it like every product function.',
  });
}
