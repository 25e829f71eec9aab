/**
 * The backup state machine: statemachines/backup.asl.json with its `${…}` placeholders
 * substituted from lib/function-manifest.ts, its log group, the invoke grants of the functions it
 * names and what its Distributed Map needs. Resources are added to the given scope (see
 * backup-storage.ts for why).
 */
import { join } from 'node:path';
import { ArnFormat, Stack, Token, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import {
  ASL_RESOURCE_PLACEHOLDERS,
  BACKUP_DEFINITION_FILE,
  manifestEntries,
  type FunctionName,
  type ResourceEnvironmentKey,
} from '../function-manifest.ts';
import { PROJECT_ROOT, wildcardReasons } from './backup-functions.ts';
import type { BackupStorage } from './backup-storage.ts';
import { nagArnToken } from './nag.ts';

/** The backup state machine definition, with ${…} substitutions. */
export const BACKUP_ASL_PATH = join(PROJECT_ROOT, BACKUP_DEFINITION_FILE);

export interface BackupStateMachineProps {
  /** The state machine is named `<prefix>-backup`. */
  readonly prefix: string;
  readonly storage: BackupStorage;
  readonly functions: Readonly<Record<FunctionName, lambda.IFunction>>;
  /** The deployment's resource names, for the definition's resource placeholders. */
  readonly resources: Readonly<Record<ResourceEnvironmentKey, string>>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class BackupStateMachine {
  readonly stateMachine: sfn.StateMachine;
  readonly stateMachineName: string;

  constructor(scope: Construct, props: BackupStateMachineProps) {
    const stack = Stack.of(scope);
    const { storage, functions } = props;
    const stateMachineName = `${props.prefix}-backup`;
    this.stateMachineName = stateMachineName;
    const logGroup = new logs.LogGroup(scope, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: props.logRetention,
      encryptionKey: storage.key,
      removalPolicy: props.removalPolicy,
    });
    const invoked = manifestEntries().flatMap(([name, entry]) =>
      entry.aslPlaceholder === undefined ? [] : [[entry.aslPlaceholder, functions[name]] as const],
    );
    const substitutions: Record<string, string> = {
      ...Object.fromEntries(invoked.map(([placeholder, fn]) => [placeholder, fn.functionArn])),
      ...Object.fromEntries(
        Object.entries(ASL_RESOURCE_PLACEHOLDERS).map(([placeholder, key]) => [
          placeholder,
          props.resources[key],
        ]),
      ),
    };
    const machine = new sfn.StateMachine(scope, 'BackupStateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(BACKUP_ASL_PATH),
      definitionSubstitutions: substitutions,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    for (const [, fn] of invoked) fn.grantInvoke(machine);
    // Distributed Map: the Map Run starts child executions of this state machine and reads/writes S3.
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
    storage.workBucket.grantRead(machine, 'work/*');
    storage.workBucket.grantPut(machine, 'work/*');
    this.stateMachine = machine;
    this.acknowledgeWildcards(scope, props);
  }

  /** The wildcards cdk-nag reports on the state machine's role (AwsSolutions-IAM5), with reasons. */
  private acknowledgeWildcards(scope: Construct, props: BackupStateMachineProps): void {
    const stack = Stack.of(scope);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const reasons = wildcardReasons(scope, props.storage);
    const work = `Resource::${nagArnToken(props.storage.workBucket)}/work/*`;
    const invocations = Object.values(props.functions).map((fn) => ({
      id: `AwsSolutions-IAM5[Resource::${nagArnToken(fn)}:*]`,
      reason: 'Step Functions may invoke any version or alias of the function the definition names.',
    }));
    const shared = [
      work,
      'Action::kms:GenerateDataKey*',
      'Action::kms:ReEncrypt*',
      'Action::s3:GetObject*',
      'Action::s3:GetBucket*',
      'Action::s3:List*',
      'Action::s3:Abort*',
    ].map((finding) => ({ id: `AwsSolutions-IAM5[${finding}]`, reason: reasons[finding]! }));
    Validations.of(this.stateMachine).acknowledge(
      ...invocations,
      ...shared,
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray and CloudWatch Logs delivery (log delivery APIs) have no resource-level permissions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:${this.stateMachineName}/*]`,
        reason:
          'The Distributed Map describes and stops its own child executions, whose names are generated.',
      },
    );
  }
}
