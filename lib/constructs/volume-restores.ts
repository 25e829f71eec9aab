/**
 * Volume restores' part of the ReplicaBackup construct: the volume-restore state machine from
 * statemachines/volume-restore.asl.json (plan, a Distributed Map over block ranges, complete,
 * wait, finish), its log group and Distributed Map grants, the least-privilege grants of its one
 * function (volumeRestoreStep: restore job records, images in, the work area, new snapshots out
 * encrypted with KMS), and the API's environment and StartExecution grant. Resources are added to
 * the given scope (see backup-storage.ts for why). Restores that make volumes
 * (`rbp restore server --availability-zone`) add the Create Volume grants and the API's
 * DescribeAvailabilityZones.
 */
import { join } from 'node:path';
import { Stack, Token, Validations, type CfnElement, type RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { VOLUME_RESTORE_WORK_PREFIX } from '../../lambdas/core/restore/volume-restore-steps.ts';
import {
  VOLUME_RESTORE_DEFINITION_FILE,
  VOLUME_RESTORE_FUNCTION_PLACEHOLDER,
  type VolumeRestoreEnvironmentKey,
} from '../function-manifest.ts';
import { PROJECT_ROOT } from './backup-functions.ts';
import { CDK_GRANT_WILDCARD_FINDINGS, nagArnToken } from './nag.ts';
import { grantObjectPut } from './bucket-grants.ts';
import { productStateMachine, tableAccess } from './state-machine.ts';
import { anyEc2Arn } from './ec2-arns.ts';
import { IMAGE_RECORD_KEYS, RESTORE_JOB_KEYS } from './table-keys.ts';
import { RESTORE_ID_TAG } from '../../lambdas/core/restore/volume-restore.ts';

/** The volume-restore state machine definition, with ${…} substitutions. */
export const VOLUME_RESTORE_ASL_PATH = join(PROJECT_ROOT, VOLUME_RESTORE_DEFINITION_FILE);
/**
 * KMS keys other than the stack's that a caller may name for a restored snapshot must carry this
 * tag with the value `true` (the grant's aws:ResourceTag condition): an operator opts a key in.
 */
export const RESTORE_KEY_TAG = 'rbp:restore-key';
/**
 * What the EBS direct APIs need of a KMS key to write an encrypted snapshot
 * (https://docs.aws.amazon.com/ebs/latest/userguide/ebsapi-permissions.html#ebsapi-kms-permissions).
 */
const EBS_KMS_ACTIONS = [
  'kms:Encrypt',
  'kms:Decrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncrypt*',
  'kms:DescribeKey',
];

/**
 * Asynchronous retries of the restore worker (Lambda's default, stated): a job that fails
 * retryably runs twice more; then the event goes to the on-failure destination, which ends the job.
 */
const RESTORE_WORKER_ASYNC_RETRY_ATTEMPTS = 2;

/** Adds one Allow statement of `actions` on `resource` under `conditions` to the function's role. */
function allow(
  fn: lambda.Function,
  actions: string[],
  resource: string,
  conditions: Record<string, Record<string, string>>,
): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: [resource], conditions }));
}

export interface VolumeRestoresProps {
  /** The state machine is named `<prefix>-volume-restore`. */
  readonly prefix: string;
  readonly stepFunction: lambda.Function;
  readonly apiFunction: lambda.Function;
  /** File restores' worker: its on-failure destination (a worker that died) is the step function. */
  readonly restoreWorker: lambda.Function;
  readonly table: dynamodb.TableV2;
  /** Encrypts restored snapshots (unless the caller names a tagged key), the logs and the data. */
  readonly key: kms.Key;
  readonly imageBucket: s3.IBucket;
  readonly workBucket: s3.IBucket;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class VolumeRestores {
  readonly stateMachine: sfn.StateMachine;
  readonly stateMachineName: string;

  constructor(scope: Construct, props: VolumeRestoresProps) {
    const stateMachineName = `${props.prefix}-volume-restore`;
    this.stateMachineName = stateMachineName;
    const machine = productStateMachine(scope, {
      id: 'VolumeRestoreStateMachine',
      logGroupId: 'VolumeRestoreLogs',
      stateMachineName,
      definitionFile: VOLUME_RESTORE_ASL_PATH,
      substitutions: {
        [VOLUME_RESTORE_FUNCTION_PLACEHOLDER]: props.stepFunction.functionArn,
        WorkBucketName: props.workBucket.bucketName,
      },
      invokes: [props.stepFunction],
      key: props.key,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
      distributedMap: { workBucket: props.workBucket, workKeys: `${VOLUME_RESTORE_WORK_PREFIX}*` },
    });
    this.stateMachine = machine;

    this.grantSteps(scope, props);
    const environment: Record<VolumeRestoreEnvironmentKey, string> = {
      VOLUME_RESTORE_STATE_MACHINE_ARN: machine.stateMachineArn,
      RESTORE_KMS_KEY_ARN: props.key.keyArn,
    };
    for (const [name, value] of Object.entries(environment)) props.apiFunction.addEnvironment(name, value);
    machine.grantStartExecution(props.apiFunction);
    // POST /server-restores with availabilityZone checks the zone before any job starts.
    props.apiFunction.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ec2:DescribeAvailabilityZones'], resources: ['*'] }),
    );
    // POST /restores/{id}/cancel stops the restore's execution (named by the restore id).
    machine.grantExecution(props.apiFunction, 'states:StopExecution');
    // GET /restores/{id}: a running volume restore's progress is its segment records in the work area.
    props.workBucket.grantRead(props.apiFunction, `${VOLUME_RESTORE_WORK_PREFIX}*`);
    // A restore worker that dies (timeout, out of memory) cannot end its job: after the retries
    // Lambda sends the invocation record to the step function, which ends the job FAILED.
    props.restoreWorker.configureAsyncInvoke({
      onFailure: new destinations.LambdaDestination(props.stepFunction, { responseOnly: false }),
      retryAttempts: RESTORE_WORKER_ASYNC_RETRY_ATTEMPTS,
    });
    // GET /restores/{id} reads the job record; the API never needs the executions themselves.
    this.acknowledge(scope, props);
  }

  /** The step function: job records, images, the work area, and new snapshots encrypted with KMS. */
  private grantSteps(scope: Construct, props: VolumeRestoresProps): void {
    const stack = Stack.of(scope);
    const fn = props.stepFunction;
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RESTORE_JOB_KEYS));
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:Query'], IMAGE_RECORD_KEYS));
    // The account-wide PutSnapshotBlock budget (docs/scale.md): items BUDGET#<family>.
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:PutItem'], ['BUDGET#*']));
    props.imageBucket.grantRead(fn);
    props.workBucket.grantRead(fn, `${VOLUME_RESTORE_WORK_PREFIX}*`);
    grantObjectPut(props.workBucket, fn, `${VOLUME_RESTORE_WORK_PREFIX}*`);
    props.key.grantEncryptDecrypt(fn);
    const snapshotArn = anyEc2Arn(scope, 'snapshot');
    const restoreTagged = { StringLike: { [`aws:ResourceTag/${RESTORE_ID_TAG}`]: '*' } };
    allow(fn, ['ebs:StartSnapshot'], snapshotArn, {
      StringLike: { [`aws:RequestTag/${RESTORE_ID_TAG}`]: '*' },
    });
    allow(fn, ['ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot'], snapshotArn, restoreTagged);
    allow(fn, ['ec2:CreateTags'], snapshotArn, { StringEquals: { 'ec2:CreateAction': 'StartSnapshot' } });
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots'], resources: ['*'] }));
    this.grantRestoredVolumes(scope, fn);
    // EBS encrypts the new snapshot with the stack's key: the EBS direct API's KMS actions, and
    // grants only for AWS resources (EBS creates one for the snapshot).
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: EBS_KMS_ACTIONS, resources: [props.key.keyArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:CreateGrant'],
        resources: [props.key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    // A caller-named key: only keys of this account tagged rbp:restore-key=true.
    const anyKey = stack.formatArn({ service: 'kms', resource: 'key', resourceName: '*' });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [...EBS_KMS_ACTIONS, 'kms:CreateGrant'],
        resources: [anyKey],
        conditions: {
          StringEquals: { [`aws:ResourceTag/${RESTORE_KEY_TAG}`]: 'true' },
          Bool: { 'kms:GrantIsForAWSResource': 'true' },
        },
      }),
    );
  }

  /**
   * Create Volume (restored-volumes.ts): CreateVolume only of an encrypted volume that carries the
   * rbp:restore-id tag at creation and only from a snapshot a restore wrote (its rbp:restore-id
   * tag); tags only as part of CreateVolume; DescribeVolumes to find a volume made before. Using
   * the snapshot's KMS key for the volume is the EBS KMS statements below.
   * https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-CreateVolume
   */
  private grantRestoredVolumes(scope: Construct, fn: lambda.Function): void {
    const volumeArn = anyEc2Arn(scope, 'volume');
    allow(fn, ['ec2:CreateVolume'], volumeArn, {
      Bool: { 'ec2:Encrypted': 'true' },
      StringLike: { [`aws:RequestTag/${RESTORE_ID_TAG}`]: '*' },
    });
    allow(fn, ['ec2:CreateVolume'], anyEc2Arn(scope, 'snapshot'), {
      StringLike: { [`aws:ResourceTag/${RESTORE_ID_TAG}`]: '*' },
    });
    allow(fn, ['ec2:CreateTags'], volumeArn, { StringEquals: { 'ec2:CreateAction': 'CreateVolume' } });
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeVolumes'], resources: ['*'] }));
  }

  /** The wildcards cdk-nag reports (AwsSolutions-IAM5), with reasons. */
  private acknowledge(scope: Construct, props: VolumeRestoresProps): void {
    const stack = Stack.of(scope);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const work = `Resource::${nagArnToken(props.workBucket)}/${VOLUME_RESTORE_WORK_PREFIX}*`;
    const workReason =
      'The work area of volume restores: per-restore keys (items, segment and range records, Map results) that are not known in advance.';
    Validations.of(this.stateMachine).acknowledge(
      { id: `AwsSolutions-IAM5[${work}]`, reason: workReason },
      ...CDK_GRANT_WILDCARD_FINDINGS.map((finding) => ({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason:
          "CDK's read/put grants on the product's own work bucket and KMS key (ItemReader, ResultWriter).",
      })),
    );
    const workerRole = props.restoreWorker.role;
    if (workerRole !== undefined) {
      Validations.of(workerRole).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArnToken(props.stepFunction)}:*]`,
        reason:
          "CDK's invoke grant of the on-failure destination covers the step function's versions and aliases.",
      });
    }
    const apiRole = props.apiFunction.role;
    if (apiRole !== undefined) {
      // grantExecution names the machine's executions as execution:<machine name>:*.
      const machine = stack.getLogicalId(this.stateMachine.node.defaultChild as CfnElement);
      const machineName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machine}"}]}]}`;
      Validations.of(apiRole).acknowledge(
        { id: `AwsSolutions-IAM5[${work}]`, reason: workReason },
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:${machineName}:*]`,
          reason:
            'POST /restores/{id}/cancel stops the volume restore execution named by the restore id, which is not known in advance (StopExecution only).',
        },
      );
    }
    const role = props.stepFunction.role;
    if (role === undefined) return;
    Validations.of(role).acknowledge(
      { id: `AwsSolutions-IAM5[${work}]`, reason: workReason },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${region}:<AWS::AccountId>:key/*]`,
        reason: `A caller may name another KMS key for a restored snapshot; only keys tagged ${RESTORE_KEY_TAG}=true qualify (aws:ResourceTag condition).`,
      },
      {
        id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
        reason: 'The EBS direct APIs re-encrypt data keys of an encrypted snapshot with the snapshot key.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${region}:<AWS::AccountId>:volume/*]`,
        reason: `A restored volume's id is not known before CreateVolume: CreateVolume needs ec2:Encrypted and the ${RESTORE_ID_TAG} request tag, CreateTags only as part of CreateVolume.`,
      },
    );
  }
}
