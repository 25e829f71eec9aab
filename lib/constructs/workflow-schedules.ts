/**
 * Workflows' schedules and delete, the API function's part (docs/workflows.md): the EventBridge
 * Scheduler group that holds the schedules of scheduled workflows (the API creates, updates,
 * disables and deletes them, `wf-<name>`), the role Scheduler assumes to start the workflow-run
 * state machine (states:StartExecution on it only), the API's environment and grants (the
 * schedules of the group, iam:PassRole of that role only), and what `DELETE /workflows/{name}?
 * created=remove` needs: detaching and deleting volumes and deleting snapshots that carry the
 * rbp:workflow tag, nothing else. Resources are added to the given scope (see backup-storage.ts).
 */
import { Stack, Token, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { grantScheduleDeadLetter } from './backup-monitoring.ts';
import { CREATED_BY_WORKFLOW_TAG } from '../../lambdas/core/workflows/workflow-service.ts';
import { anyEc2Arn } from './ec2-arns.ts';

/** The schedule actions the API calls (scheduler-workflow-schedules.ts), on schedules of the group. */
const WORKFLOW_SCHEDULE_ACTIONS = [
  'scheduler:CreateSchedule',
  'scheduler:UpdateSchedule',
  'scheduler:DeleteSchedule',
  'scheduler:GetSchedule',
];

export interface WorkflowSchedulesProps {
  /** The group is `<prefix>-workflows`. */
  readonly prefix: string;
  readonly apiFunction: lambda.Function;
  /** The workflow-run state machine's ARN (what the schedules start). */
  readonly workflowRunStateMachineArn: string;
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The schedules' dead-letter queue and the key it is encrypted with: the scheduler role may send
   * to it (the API names it in each schedule: SCHEDULE_DEAD_LETTER_QUEUE_ARN, set by plan-runs.ts).
   */
  readonly deadLetter?: { readonly queue: sqs.IQueue; readonly key: kms.IKey };
}

/** The account as cdk-nag prints it in a finding: `<AWS::AccountId>` when it is not known at synth. */
function nagAccount(stack: Stack): string {
  return Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
}

export function workflowScheduleGroupName(prefix: string): string {
  return `${prefix}-workflows`;
}

export class WorkflowSchedules {
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly scheduleGroupName: string;
  /** Assumed by EventBridge Scheduler to start the workflow-run state machine. */
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, props: WorkflowSchedulesProps) {
    const stack = Stack.of(scope);
    this.scheduleGroupName = workflowScheduleGroupName(props.prefix);
    this.scheduleGroup = new scheduler.ScheduleGroup(scope, 'WorkflowScheduleGroup', {
      scheduleGroupName: this.scheduleGroupName,
      ...(props.removalPolicy === undefined ? {} : { removalPolicy: props.removalPolicy }),
    });
    // Scheduler assumes the role for schedules of this account only (confused-deputy guard:
    // https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
    this.schedulerRole = new iam.Role(scope, 'WorkflowSchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description: 'EventBridge Scheduler starts the workflow-run state machine for scheduled workflows',
    });
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [props.workflowRunStateMachineArn],
      }),
    );
    if (props.deadLetter !== undefined)
      grantScheduleDeadLetter(props.deadLetter.queue, props.deadLetter.key, this.schedulerRole);
    const api = props.apiFunction;
    api.node.addDependency(this.scheduleGroup);
    api.addEnvironment('WORKFLOW_SCHEDULE_GROUP', this.scheduleGroupName);
    api.addEnvironment('WORKFLOW_SCHEDULER_ROLE_ARN', this.schedulerRole.roleArn);
    const schedules = stack.formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.scheduleGroupName}/*`,
    });
    api.addToRolePolicy(
      new iam.PolicyStatement({ actions: WORKFLOW_SCHEDULE_ACTIONS, resources: [schedules] }),
    );
    api.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    grantWorkflowDelete(scope, api);
    if (api.role !== undefined) {
      Validations.of(api.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:${stack.region}:${nagAccount(stack)}:schedule/${this.scheduleGroupName}/*]`,
        reason:
          'Workflow schedules are created at run time in the workflow schedule group, named after their workflows.',
      });
    }
  }
}

/**
 * `DELETE /workflows/{name}?created=remove`: find the workflow's snapshots and volumes (Describe*
 * support no resource-level permissions), detach its volumes (DetachVolume is authorized on the
 * volume and on the instance; the condition holds the volume to the workflow tag), delete them and
 * its snapshots, only those tagged rbp:workflow
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html).
 */
function grantWorkflowDelete(scope: Construct, api: lambda.Function): void {
  const stack = Stack.of(scope);
  const tagged = { StringLike: { [`aws:ResourceTag/${CREATED_BY_WORKFLOW_TAG}`]: '*' } };
  api.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots', 'ec2:DescribeVolumes'], resources: ['*'] }),
  );
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2:DetachVolume', 'ec2:DeleteVolume'],
      resources: [anyEc2Arn(scope, 'volume')],
      conditions: tagged,
    }),
  );
  api.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['ec2:DetachVolume'], resources: [anyEc2Arn(scope, 'instance')] }),
  );
  // Snapshot ARNs have no account (arn:aws:ec2:region::snapshot/snap-…).
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2:DeleteSnapshot'],
      resources: [anyEc2Arn(scope, 'snapshot')],
      conditions: tagged,
    }),
  );
  if (api.role !== undefined) {
    Validations.of(api.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'EC2 DescribeSnapshots and DescribeVolumes support no resource-level permissions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}:${nagAccount(stack)}:volume/*]`,
        reason:
          'Volumes a workflow created have ids known at run time; the statement holds them to the rbp:workflow tag.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}::snapshot/*]`,
        reason:
          'Snapshots a workflow created have ids known at run time; the statement holds them to the rbp:workflow tag.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}:${nagAccount(stack)}:instance/*]`,
        reason:
          'A DirectMount target is any instance of the account the operator names; DetachVolume needs the instance too.',
      },
    );
  }
}
