/**
 * Protection plans' part of the ReplicaBackup construct (docs/plans.md): the EventBridge Scheduler
 * group that holds the plans' schedules (the API creates, updates and deletes them at run time),
 * the role Scheduler assumes to start the plan-run state machine, the plan environment of the API
 * function and its grants (the plan and settings items of the table, the schedules of its group,
 * iam:PassRole of the scheduler role only). Resources are added to the given scope (see
 * backup-storage.ts for why).
 */
import { ArnFormat, Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { PLAN_PARTITION, PLAN_TABLE_KEYS } from '../../lambdas/aws/dynamodb-plan-store.ts';
import type { PlanEnvironmentKey } from '../function-manifest.ts';

/** EventBridge Scheduler group names are at most 64 characters (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateScheduleGroup.html). */
const SCHEDULE_GROUP_NAME_MAX_CHARS = 64;
/** Step Functions state machine names are at most 80 characters (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html). */
const STATE_MACHINE_NAME_MAX_CHARS = 80;
/** The schedule actions the API calls (scheduler-plan-schedules.ts), on schedules of the group. */
const SCHEDULE_ACTIONS = [
  'scheduler:CreateSchedule',
  'scheduler:UpdateSchedule',
  'scheduler:DeleteSchedule',
  'scheduler:GetSchedule',
];

export interface PlanRunsProps {
  /** The group is `<prefix>-plans`, the state machine `<prefix>-plan-run`. */
  readonly prefix: string;
  readonly apiFunction: lambda.Function;
  readonly table: dynamodb.TableV2;
  /** Encrypts the schedule group's schedules that CloudFormation creates (none today) and the logs. */
  readonly key: kms.Key;
  readonly removalPolicy: RemovalPolicy;
}

/** The plan-run state machine's name in a deployment. */
export function planRunStateMachineName(prefix: string): string {
  return `${prefix}-plan-run`.slice(0, STATE_MACHINE_NAME_MAX_CHARS);
}

/** The schedule group of the plans' schedules in a deployment. */
export function planScheduleGroupName(prefix: string): string {
  return `${prefix}-plans`.slice(0, SCHEDULE_GROUP_NAME_MAX_CHARS);
}

export class PlanRuns {
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly scheduleGroupName: string;
  /** Assumed by EventBridge Scheduler to start the plan-run state machine. */
  readonly schedulerRole: iam.Role;
  readonly stateMachineName: string;
  readonly stateMachineArn: string;

  constructor(scope: Construct, props: PlanRunsProps) {
    const stack = Stack.of(scope);
    this.stateMachineName = planRunStateMachineName(props.prefix);
    this.stateMachineArn = stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: this.stateMachineName,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.scheduleGroupName = planScheduleGroupName(props.prefix);
    this.scheduleGroup = new scheduler.ScheduleGroup(scope, 'PlanScheduleGroup', {
      scheduleGroupName: this.scheduleGroupName,
      removalPolicy: props.removalPolicy,
    });
    // Scheduler assumes the role for schedules of this account only (confused-deputy guard:
    // https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
    this.schedulerRole = new iam.Role(scope, 'PlanSchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
      description:
        'EventBridge Scheduler starts the plan-run state machine for the schedules of protection plans',
    });
    this.schedulerRole.addToPolicy(
      new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [this.stateMachineArn] }),
    );
    props.apiFunction.node.addDependency(this.scheduleGroup);
    wirePlanApi(scope, props, this);
  }
}

function tableAccess(table: dynamodb.TableV2, actions: string[], leadingKeys: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions,
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys } },
  });
}

/** The API function's plan environment and grants. */
function wirePlanApi(scope: Construct, props: PlanRunsProps, plans: PlanRuns): void {
  const api = props.apiFunction;
  const environment: Record<PlanEnvironmentKey, string> = {
    PLAN_SCHEDULE_GROUP: plans.scheduleGroupName,
    PLAN_RUN_STATE_MACHINE_ARN: plans.stateMachineArn,
    PLAN_SCHEDULER_ROLE_ARN: plans.schedulerRole.roleArn,
  };
  for (const [key, value] of Object.entries(environment)) api.addEnvironment(key, value);

  // Plan records (conditional put/delete on their revision) and the settings item; only plans are deleted.
  api.addToRolePolicy(
    tableAccess(
      props.table,
      ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
      [...PLAN_TABLE_KEYS],
    ),
  );
  api.addToRolePolicy(tableAccess(props.table, ['dynamodb:DeleteItem'], [`${PLAN_PARTITION}*`]));
  const stack = Stack.of(scope);
  const groupName = plans.scheduleGroupName;
  const schedules = stack.formatArn({
    service: 'scheduler',
    resource: 'schedule',
    resourceName: `${groupName}/*`,
  });
  api.addToRolePolicy(new iam.PolicyStatement({ actions: SCHEDULE_ACTIONS, resources: [schedules] }));
  // ListSchedules has no resource type: it is allowed on '*' and the adapter filters by group
  // (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html).
  api.addToRolePolicy(new iam.PolicyStatement({ actions: ['scheduler:ListSchedules'], resources: ['*'] }));
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [plans.schedulerRole.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
    }),
  );
  if (api.role !== undefined) {
    Validations.of(api.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:${stack.region}:<AWS::AccountId>:schedule/${groupName}/*]`,
        reason: 'Plan schedules are created at run time in the plan schedule group, named after their plans.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'EC2 DescribeVolumes and Scheduler ListSchedules support no resource-level permissions.',
      },
    );
  }
}
