/**
 * What the plan runs and the workflow runs have in common in the ReplicaBackup construct: a state
 * machine of one function, started by schedules and by the API, whose run records live in the
 * product table. Each part (plan-runs.ts, workflow-runs.ts) adds its own grants on top.
 */
import { ArnFormat, Stack, type RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './backup-functions.ts';
import { productStateMachine, tableAccess } from './state-machine.ts';

/** Step Functions state machine names are at most 80 characters (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html). */
const STATE_MACHINE_NAME_MAX_CHARS = 80;

/** What a run does with its run records: create, read, list, update and remove them. */
const RUN_RECORD_ACTIONS = ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem'];

/** `<prefix>-<kind>`, within Step Functions' limit on state machine names. */
export function runStateMachineName(prefix: string, kind: string): string {
  return `${prefix}-${kind}`.slice(0, STATE_MACHINE_NAME_MAX_CHARS);
}

/** What every run construct (plan runs, workflow runs) is given besides its own parts. */
export interface RunConstructProps {
  /** The `<prefix>-…` of its state machine (and schedule group). */
  readonly prefix: string;
  /** The API function, which starts runs and reads their records. */
  readonly apiFunction: lambda.Function;
  readonly table: dynamodb.TableV2;
  /** The stack's key: the table, the state machine's logs and what the runs make are encrypted with it. */
  readonly key: kms.Key;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export interface RunStateMachineProps {
  /** Construct ids are `<id>StateMachine` and `<id>StateMachineLogs`. */
  readonly id: string;
  readonly stateMachineName: string;
  /** The ASL file, relative to the project root (the manifest's definition file). */
  readonly definitionFile: string;
  /** The definition's one placeholder, substituted with the function's ARN. */
  readonly functionPlaceholder: string;
  /** The state machine's one function. */
  readonly fn: lambda.IFunction;
  /** Encrypts the state machine's logs. */
  readonly key: kms.Key;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** The run state machine: its definition file with the function's ARN, invoking that function only. */
export function createRunStateMachine(scope: Construct, props: RunStateMachineProps): sfn.StateMachine {
  return productStateMachine(scope, {
    id: `${props.id}StateMachine`,
    logGroupId: `${props.id}StateMachineLogs`,
    stateMachineName: props.stateMachineName,
    definitionFile: join(PROJECT_ROOT, props.definitionFile),
    substitutions: { [props.functionPlaceholder]: props.fn.functionArn },
    invokes: [props.fn],
    key: props.key,
    logRetention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
}

/** Run records (`keys`: their key prefixes) for the run function or the API that creates them. */
export function grantRunRecords(
  grantee: lambda.Function,
  table: dynamodb.TableV2,
  keys: readonly string[],
): void {
  grantee.addToRolePolicy(tableAccess(table, RUN_RECORD_ACTIONS, [...keys]));
}

/**
 * Invoke on the hook functions the configuration lists (names or ARNs), and on nothing else; no
 * statement when it lists none.
 */
export function grantInvokeHooks(scope: Construct, fn: lambda.Function, functions: readonly string[]): void {
  const stack = Stack.of(scope);
  const arns = functions.map((name) =>
    name.startsWith('arn:')
      ? name
      : stack.formatArn({
          service: 'lambda',
          resource: 'function',
          resourceName: name,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
  );
  if (arns.length > 0) {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: arns }));
  }
}

/** Sets the API function's environment for a kind of run. */
export function addEnvironment(fn: lambda.Function, environment: Readonly<Record<string, string>>): void {
  for (const [key, value] of Object.entries(environment)) fn.addEnvironment(key, value);
}
