/**
 * One way to make the product's state machines (backup, volume restore, plan run, and the ones to
 * come): a STANDARD state machine from an ASL file with `${…}` substitutions, an encrypted log group
 * named as Step Functions' vended logs expect, X-Ray tracing, the invoke grants of the functions the
 * definition names, and, for a definition with a Distributed Map, starting its own child executions
 * and reading/writing its work area. The cdk-nag findings these grants produce are acknowledged
 * here, with their reasons; what a caller grants beyond this it acknowledges itself.
 */
import { ArnFormat, Stack, Token, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { nagArnToken } from './nag.ts';
import { grantObjectPut } from './bucket-grants.ts';

export interface ProductStateMachineProps {
  /** Construct id of the state machine (kept stable: a new id replaces the resource). */
  readonly id: string;
  /** Construct id of its log group. */
  readonly logGroupId: string;
  readonly stateMachineName: string;
  /** Absolute path of the ASL definition. */
  readonly definitionFile: string;
  readonly substitutions: Readonly<Record<string, string>>;
  /** The functions the definition invokes (each gets an invoke grant). */
  readonly invokes: readonly lambda.IFunction[];
  /** Encrypts the log group. */
  readonly key: kms.IKey;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /**
   * A definition with a Distributed Map: the Map Run starts child executions of this state machine,
   * describes and stops them, and reads (ItemReader) and writes (ResultWriter) these work keys.
   */
  readonly distributedMap?: { readonly workBucket: s3.IBucket; readonly workKeys: string };
}

/** A state machine as every state machine of the product is made (see the module comment). */
export function productStateMachine(scope: Construct, props: ProductStateMachineProps): sfn.StateMachine {
  const { stateMachineName } = props;
  const logGroup = new logs.LogGroup(scope, props.logGroupId, {
    // Step Functions delivers logs as vended logs; the /aws/vendedlogs/ prefix keeps the log
    // group's resource policy small (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html).
    logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
    retention: props.logRetention,
    encryptionKey: props.key,
    removalPolicy: props.removalPolicy,
  });
  const machine = new sfn.StateMachine(scope, props.id, {
    stateMachineName,
    stateMachineType: sfn.StateMachineType.STANDARD,
    definitionBody: sfn.DefinitionBody.fromFile(props.definitionFile),
    definitionSubstitutions: { ...props.substitutions },
    tracingEnabled: true,
    logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
  });
  for (const fn of props.invokes) fn.grantInvoke(machine);
  Validations.of(machine).acknowledge(
    ...props.invokes.map((fn) => ({
      id: `AwsSolutions-IAM5[Resource::${nagArnToken(fn)}:*]`,
      reason: 'Step Functions may invoke any version or alias of the function the definition names.',
    })),
    {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray and CloudWatch Logs delivery (log delivery APIs) have no resource-level permissions.',
    },
  );
  if (props.distributedMap !== undefined) grantDistributedMap(scope, machine, props);
  return machine;
}

/**
 * A Distributed Map runs its iterations as child executions of the same state machine
 * (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).
 */
function grantDistributedMap(
  scope: Construct,
  machine: sfn.StateMachine,
  props: ProductStateMachineProps,
): void {
  const stack = Stack.of(scope);
  const { stateMachineName } = props;
  const selfArn = stack.formatArn({
    service: 'states',
    resource: 'stateMachine',
    resourceName: stateMachineName,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  const childExecutions = stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${stateMachineName}/*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  machine.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [selfArn] }),
  );
  machine.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['states:DescribeExecution', 'states:StopExecution'],
      resources: [childExecutions],
    }),
  );
  const { workBucket, workKeys } = props.distributedMap!;
  workBucket.grantRead(machine, workKeys);
  // The Distributed Map's ResultWriter may upload in parts and abort them:
  // https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
  grantObjectPut(workBucket, machine, workKeys, { multipart: true });
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  Validations.of(machine).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:${stateMachineName}/*]`,
    reason: 'The Distributed Map describes and stops its own child executions, whose names are generated.',
  });
}

/** Access to the items of the table whose partition keys match one of `leadingKeys` (patterns). */
export function tableAccess(
  table: dynamodb.ITableV2,
  actions: readonly string[],
  leadingKeys: readonly string[],
): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: [...actions],
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [...leadingKeys] } },
  });
}
