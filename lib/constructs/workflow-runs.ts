/**
 * Workflow runs' part of the ReplicaBackup construct (docs/workflows.md): the workflow-run state
 * machine (statemachines/workflow-run.asl.json), the grants of its one function (workflow and run
 * records, the restore jobs it creates and reads, image records, starting volume restores, EC2
 * snapshots, volumes and attachments of what workflows make, invoking the configured masking
 * hooks), and the API's part (its environment, run records, starting the state machine).
 * Resources are added to the given scope (see backup-storage.ts for why).
 */
import { Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { WORKFLOW_RUN_PARTITION, WORKFLOW_RUN_TABLE_KEYS } from '../../lambdas/aws/workflow-run-adapters.ts';
import { WORKFLOW_TABLE_KEYS } from '../../lambdas/aws/workflow-wiring.ts';
import {
  WORKFLOW_RUN_DEFINITION_FILE,
  WORKFLOW_RUN_FUNCTION_PLACEHOLDER,
  type WorkflowRunEnvironmentKey,
} from '../function-manifest.ts';
import * as runs from './run-state-machine.ts';
import { tableAccess } from './state-machine.ts';
import { anyEc2Arn } from './ec2-arns.ts';
import { IMAGE_RECORD_KEYS, RECOVERY_POINT_KEYS, RESTORE_JOB_KEYS } from './table-keys.ts';
import { WORKFLOW_TAG } from '../../lambdas/core/workflows/workflow-run-engine.ts';

/** The state machine is `<prefix>-workflow-run`; the key also encrypts the clone snapshots. */
export interface WorkflowRunsProps extends runs.RunConstructProps {
  /** The workflow-run state machine's one function (the manifest's workflowRun). */
  readonly workflowRunFunction: lambda.Function;
  /** The volume-restore state machine the runs start their restores on. */
  readonly volumeRestoreStateMachine: sfn.StateMachine;
  /** Masking hook functions (names or ARNs) workflows may invoke: the function may invoke these only. */
  readonly maskingFunctions?: readonly string[];
}

export function workflowRunStateMachineName(prefix: string): string {
  return runs.runStateMachineName(prefix, 'workflow-run');
}

export class WorkflowRuns {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, props: WorkflowRunsProps) {
    const fn = props.workflowRunFunction;
    this.stateMachine = runs.createRunStateMachine(scope, {
      id: 'WorkflowRun',
      stateMachineName: workflowRunStateMachineName(props.prefix),
      definitionFile: WORKFLOW_RUN_DEFINITION_FILE,
      functionPlaceholder: WORKFLOW_RUN_FUNCTION_PLACEHOLDER,
      fn,
      key: props.key,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    fn.addEnvironment('VOLUME_RESTORE_STATE_MACHINE_ARN', props.volumeRestoreStateMachine.stateMachineArn);
    fn.addEnvironment('RESTORE_KMS_KEY_ARN', props.key.keyArn);
    this.grantFunction(scope, props);
    this.wireApi(props);
  }

  private grantFunction(scope: Construct, props: WorkflowRunsProps): void {
    const stack = Stack.of(scope);
    const fn = props.workflowRunFunction;
    fn.addToRolePolicy(
      tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:Query'], [...WORKFLOW_TABLE_KEYS]),
    );
    runs.grantRunRecords(fn, props.table, WORKFLOW_RUN_TABLE_KEYS);
    grantListingBackfill(fn, props);
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RESTORE_JOB_KEYS));
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:Query'], IMAGE_RECORD_KEYS));
    fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem'], RECOVERY_POINT_KEYS));
    props.key.grantEncryptDecrypt(fn);
    props.volumeRestoreStateMachine.grantStartExecution(fn);
    // Describe* support no resource-level permissions
    // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'ec2:DescribeVolumes',
          'ec2:DescribeSnapshots',
          'ec2:DescribeInstances',
          'ec2:DescribeImages',
        ],
        resources: ['*'],
      }),
    );
    const snapshots = anyEc2Arn(scope, 'snapshot');
    const volumes = anyEc2Arn(scope, 'volume');
    const instances = anyEc2Arn(scope, 'instance');
    // Tags go on the restores' snapshots (made by this product) and on the volumes it creates. A snapshot's
    // ARN has no account field (arn:aws:ec2:region::snapshot/snap-…), so an ARN with the account never matches:
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html#amazonec2-resources-for-iam-policies
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [snapshots, volumes],
      }),
    );
    // Volumes are created only tagged with the workflow; deleted, attached and detached only if so tagged.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateVolume'],
        resources: [volumes],
        conditions: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': [WORKFLOW_TAG] } },
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:CreateVolume'], resources: [snapshots] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DeleteVolume', 'ec2:AttachVolume', 'ec2:DetachVolume'],
        resources: [volumes],
        conditions: { StringLike: { [`aws:ResourceTag/${WORKFLOW_TAG}`]: '*' } },
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['ec2:AttachVolume', 'ec2:DetachVolume'], resources: [instances] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DeleteSnapshot'],
        resources: [snapshots],
        conditions: { StringLike: { 'aws:ResourceTag/rbp:restore-id': '*' } },
      }),
    );
    // A masked clone is the hook's snapshot, tagged with the masking event's tags (rbp:workflow among them).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DeleteSnapshot'],
        resources: [snapshots],
        conditions: { StringLike: { [`aws:ResourceTag/${WORKFLOW_TAG}`]: '*' } },
      }),
    );
    runs.grantInvokeHooks(scope, fn, props.maskingFunctions ?? []);
    if (fn.role !== undefined) {
      Validations.of(fn.role).acknowledge(
        {
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason:
            'EC2 DescribeVolumes, DescribeSnapshots, DescribeInstances and DescribeImages support no resource-level permissions.',
        },
        {
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason:
            "CDK's encrypt/decrypt grant on the product key includes the GenerateDataKey family (clone snapshots).",
        },
        {
          id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
          reason: "CDK's encrypt/decrypt grant on the product key includes the ReEncrypt family.",
        },
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}:<AWS::AccountId>:volume/*]`,
          reason:
            'Clone volumes are created at run time; deletes, attaches and detaches are limited to volumes tagged rbp:workflow.',
        },
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}::snapshot/*]`,
          reason:
            'Clone snapshots are made at run time by the volume restores and masking hooks; deletes are limited to snapshots tagged rbp:restore-id or rbp:workflow.',
        },
        {
          id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}:<AWS::AccountId>:instance/*]`,
          reason: 'A DirectMount attaches to the instance its workflow names, known only at run time.',
        },
      );
    }
  }

  private wireApi(props: WorkflowRunsProps): void {
    const api = props.apiFunction;
    const environment: Record<WorkflowRunEnvironmentKey, string> = {
      WORKFLOW_RUN_STATE_MACHINE_ARN: this.stateMachine.stateMachineArn,
    };
    runs.addEnvironment(api, environment);
    // Run records: the API creates a run before it starts the execution, and removes it when that fails.
    runs.grantRunRecords(api, props.table, WORKFLOW_RUN_TABLE_KEYS);
    grantListingBackfill(api, props);
    this.stateMachine.grantStartExecution(api);
  }
}

/**
 * The listing backfill of run records written before their listing copies (workflow-run-store.ts)
 * checks each record's revision inside the transaction that writes its copy (ConditionCheck).
 */
function grantListingBackfill(grantee: lambda.Function, props: WorkflowRunsProps): void {
  grantee.addToRolePolicy(
    tableAccess(props.table, ['dynamodb:ConditionCheckItem'], [`${WORKFLOW_RUN_PARTITION}*`]),
  );
}
