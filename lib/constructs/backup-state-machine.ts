/**
 * The backup state machine: statemachines/backup.asl.json with its `${…}` placeholders
 * substituted from lib/function-manifest.ts, made by productStateMachine (state-machine.ts) with
 * its log group, the invoke grants of the functions it names and what its Distributed Map needs. Resources are added to the given scope (see
 * backup-storage.ts for why).
 */
import { join } from 'node:path';
import { Validations, type RemovalPolicy } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
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
import { CDK_GRANT_WILDCARD_FINDINGS, nagArnToken } from './nag.ts';
import { productStateMachine } from './state-machine.ts';

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
    const { storage, functions } = props;
    const stateMachineName = `${props.prefix}-backup`;
    this.stateMachineName = stateMachineName;
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
    const machine = productStateMachine(scope, {
      id: 'BackupStateMachine',
      logGroupId: 'StateMachineLogs',
      stateMachineName,
      definitionFile: BACKUP_ASL_PATH,
      substitutions,
      invokes: invoked.map(([, fn]) => fn),
      key: storage.key,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      distributedMap: { workBucket: storage.workBucket, workKeys: 'work/*' },
    });
    this.stateMachine = machine;
    this.acknowledgeWildcards(scope, props);
  }

  /** The wildcards cdk-nag reports on the state machine's role (AwsSolutions-IAM5), with reasons. */
  private acknowledgeWildcards(scope: Construct, props: BackupStateMachineProps): void {
    const reasons = wildcardReasons(scope, props.storage);
    const work = `Resource::${nagArnToken(props.storage.workBucket)}/work/*`;
    const shared = [work, ...CDK_GRANT_WILDCARD_FINDINGS].map((finding) => ({
      id: `AwsSolutions-IAM5[${finding}]`,
      reason: reasons[finding]!,
    }));
    Validations.of(this.stateMachine).acknowledge(...shared);
  }
}
