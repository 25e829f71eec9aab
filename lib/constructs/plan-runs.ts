/**
 * Protection plans' part of the ReplicaBackup construct (docs/plans.md): the EventBridge Scheduler
 * group that holds the plans' schedules (the API creates, updates and deletes them at run time),
 * the role Scheduler assumes to start the plan-run state machine, the plan-run state machine
 * (statemachines/plan-run.asl.json) and the grants of its function (plan, settings and run items,
 * the image bucket's probe object, starting and describing backups, events, the topic, the hook
 * functions the configuration lists), the plan environment of the API function and its grants
 * (plan, settings and run items, the schedules of its group, iam:PassRole of the scheduler role
 * only, starting the plan-run state machine). Resources are added to the given scope (see
 * backup-storage.ts for why).
 */
import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { grantObjectPut } from './bucket-grants.ts';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import {
  PLAN_PARTITION,
  PLAN_RUN_TABLE_KEYS,
  PLAN_TABLE_KEYS,
} from '../../lambdas/aws/dynamodb-plan-store.ts';
import { DESTINATION_PROBE_KEY } from '../../lambdas/aws/plan-run-adapters.ts';
import { RPO_STATE_TABLE_KEYS } from '../../lambdas/aws/plan-rpo-adapters.ts';
import { SERVER_SETTINGS_TABLE_KEYS } from '../../lambdas/aws/dynamodb-server-settings.ts';
import { RPO_CHECK_MINUTES } from '../../lambdas/core/plans/rpo.ts';
import { grantScheduleDeadLetter } from './backup-monitoring.ts';
import { nagArnToken } from './nag.ts';
import { IMAGE_RECORD_KEYS, RECOVERY_POINT_KEYS } from './table-keys.ts';
import {
  PLAN_RUN_DEFINITION_FILE,
  PLAN_RUN_FUNCTION_PLACEHOLDER,
  type PlanEnvironmentKey,
  type ScheduleEnvironmentKey,
} from '../function-manifest.ts';
import {
  addEnvironment,
  createRunStateMachine,
  grantInvokeHooks,
  grantRunRecords,
  runStateMachineName,
  type RunConstructProps,
} from './run-state-machine.ts';
import { tableAccess } from './state-machine.ts';

/** EventBridge Scheduler group names are at most 64 characters (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateScheduleGroup.html). */
const SCHEDULE_GROUP_NAME_MAX_CHARS = 64;
/** The schedule actions the API calls (scheduler-plan-schedules.ts), on schedules of the group. */
const SCHEDULE_ACTIONS = [
  'scheduler:CreateSchedule',
  'scheduler:UpdateSchedule',
  'scheduler:DeleteSchedule',
  'scheduler:GetSchedule',
];

/** A check that fails (throttled) is retried a few times; the next check, minutes later, is the fallback. */
const RPO_CHECK_RETRY_ATTEMPTS = 2;
/** A check older than its own period is pointless: the next one is due. */
const RPO_CHECK_MAX_EVENT_AGE = Duration.minutes(RPO_CHECK_MINUTES);

/** The group is `<prefix>-plans`, the state machine `<prefix>-plan-run`. */
export interface PlanRunsProps extends RunConstructProps {
  /** The plan-run state machine's one function (the manifest's planRun). */
  readonly planRunFunction: lambda.Function;
  /** The backup state machine a plan task starts. */
  readonly backupStateMachine: sfn.StateMachine;
  readonly backupStateMachineName: string;
  readonly imageBucket: s3.IBucket;
  readonly eventBus: events.IEventBus;
  readonly topic: sns.ITopic;
  /** Hook functions (names or ARNs) plans may invoke: the function may invoke these only. */
  readonly hookFunctions?: readonly string[];
  /**
   * The schedules' dead-letter queue (backup-monitoring.ts createScheduleDeadLetterQueue): the plan
   * schedules the API writes and the RPO check's send failed firings there. Absent: none.
   */
  readonly scheduleDeadLetterQueue?: sqs.IQueue;
}

/** The plan-run state machine's name in a deployment. */
export function planRunStateMachineName(prefix: string): string {
  return runStateMachineName(prefix, 'plan-run');
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
  readonly stateMachine: sfn.StateMachine;
  /** Invokes the plan-run function with `{action: "checkRpo"}` every RPO_CHECK_MINUTES. */
  readonly rpoCheckSchedule: scheduler.Schedule;

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
    if (props.scheduleDeadLetterQueue !== undefined)
      grantScheduleDeadLetter(props.scheduleDeadLetterQueue, props.key, this.schedulerRole);
    props.apiFunction.node.addDependency(this.scheduleGroup);
    this.stateMachine = createRunStateMachine(scope, {
      id: 'PlanRun',
      stateMachineName: this.stateMachineName,
      definitionFile: PLAN_RUN_DEFINITION_FILE,
      functionPlaceholder: PLAN_RUN_FUNCTION_PLACEHOLDER,
      fn: props.planRunFunction,
      key: props.key,
      logRetention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });
    grantPlanRunFunction(scope, props);
    this.rpoCheckSchedule = scheduleRpoCheck(scope, props);
    wirePlanApi(scope, props, this);
  }
}

/**
 * The RPO check (lambdas/core/plans/rpo.ts): a schedule of its own (not in the plans' group, which
 * the API manages) invoking the plan-run function every RPO_CHECK_MINUTES, and the function's
 * grants for it: the recovery points and the image records' liveness (newest live point per
 * server, a task's previous point), and the breach records (one item per server in breach).
 */
function scheduleRpoCheck(scope: Construct, props: PlanRunsProps): scheduler.Schedule {
  const fn = props.planRunFunction;
  fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:Query'], RECOVERY_POINT_KEYS));
  fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:BatchGetItem'], IMAGE_RECORD_KEYS));
  fn.addToRolePolicy(
    tableAccess(
      props.table,
      ['dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      [...RPO_STATE_TABLE_KEYS],
    ),
  );
  // With a dead-letter queue the schedule gets a role of its own, so the queue's KMS grant can be
  // given to it (CDK's target role grants only sqs:SendMessage).
  const queue = props.scheduleDeadLetterQueue;
  let role: iam.Role | undefined;
  if (queue !== undefined) {
    role = schedulerServiceRole(
      scope,
      'RpoCheckSchedulerRole',
      'EventBridge Scheduler invokes the RPO check',
    );
    grantScheduleDeadLetter(queue, props.key, role);
  }
  const schedule = new scheduler.Schedule(scope, 'RpoCheckSchedule', {
    scheduleName: `${props.prefix}-rpo-check`,
    description: 'RPO check of every server a protection plan with an RPO target selects',
    schedule: scheduler.ScheduleExpression.rate(Duration.minutes(RPO_CHECK_MINUTES)),
    target: new schedulerTargets.LambdaInvoke(fn, {
      input: scheduler.ScheduleTargetInput.fromObject({ action: 'checkRpo' }),
      retryAttempts: RPO_CHECK_RETRY_ATTEMPTS,
      maxEventAge: RPO_CHECK_MAX_EVENT_AGE,
      ...(queue === undefined ? {} : { deadLetterQueue: queue }),
      ...(role === undefined ? {} : { role }),
    }),
    key: props.key,
  });
  // The schedule's target role may invoke the function's versions and aliases.
  Validations.of(Stack.of(scope)).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagArnToken(fn)}:*]`,
    reason: 'Invoking the plan-run function is allowed for any version or alias of that one function.',
  });
  return schedule;
}

/**
 * A role EventBridge Scheduler assumes for schedules of this account only (confused-deputy guard:
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
 */
export function schedulerServiceRole(scope: Construct, id: string, description: string): iam.Role {
  return new iam.Role(scope, id, {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
    }),
    description,
  });
}

/** The plan-run function: each grant is what one port of the run needs (plan-run-adapters.ts). */
function grantPlanRunFunction(scope: Construct, props: PlanRunsProps): void {
  const stack = Stack.of(scope);
  const fn = props.planRunFunction;
  fn.addEnvironment('STATE_MACHINE_ARN', props.backupStateMachine.stateMachineArn);
  fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem', 'dynamodb:Query'], [...PLAN_TABLE_KEYS]));
  grantRunRecords(fn, props.table, PLAN_RUN_TABLE_KEYS);
  // A task's backup starts with its server's configured probe and waits (config-servers.ts).
  fn.addToRolePolicy(tableAccess(props.table, ['dynamodb:GetItem'], [...SERVER_SETTINGS_TABLE_KEYS]));
  // The destination probe: one fixed object written and deleted; the listing sums stored bytes.
  grantObjectPut(props.imageBucket, fn, DESTINATION_PROBE_KEY);
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:DeleteObject'],
      resources: [props.imageBucket.arnForObjects(DESTINATION_PROBE_KEY)],
    }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.imageBucket.bucketArn] }),
  );
  props.key.grantEncryptDecrypt(fn);
  // DescribeVolumes/DescribeSnapshots support no resource-level permissions.
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['ec2:DescribeVolumes', 'ec2:DescribeSnapshots'], resources: ['*'] }),
  );
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['states:StartExecution'],
      resources: [props.backupStateMachine.stateMachineArn],
    }),
  );
  const backupExecutions = stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${props.backupStateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['states:DescribeExecution'], resources: [backupExecutions] }),
  );
  props.eventBus.grantPutEventsTo(fn);
  props.topic.grantPublish(fn);
  grantInvokeHooks(scope, fn, props.hookFunctions ?? []);
  if (fn.role !== undefined) {
    const region = stack.region;
    Validations.of(fn.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:${props.backupStateMachineName}:*]`,
        reason: 'A plan task describes the backup executions it started, named by run and task at run time.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'EC2 DescribeVolumes and DescribeSnapshots support no resource-level permissions.',
      },
      {
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason: 'The probe object is encrypted with the bucket key; CDK grants the GenerateDataKey family.',
      },
      {
        id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
        reason: "CDK's encrypt/decrypt grant on the product key includes the ReEncrypt family.",
      },
      {
        id: 'AwsSolutions-IAM5[Action::s3:Abort*]',
        reason: "CDK's put grant on the probe object includes aborting its multipart uploads.",
      },
    );
  }
}

/** The API function's plan environment and grants. */
function wirePlanApi(scope: Construct, props: PlanRunsProps, plans: PlanRuns): void {
  const api = props.apiFunction;
  const environment: Record<PlanEnvironmentKey, string> = {
    PLAN_SCHEDULE_GROUP: plans.scheduleGroupName,
    PLAN_RUN_STATE_MACHINE_ARN: plans.stateMachineArn,
    PLAN_SCHEDULER_ROLE_ARN: plans.schedulerRole.roleArn,
  };
  addEnvironment(api, environment);
  // The dead-letter queue of every schedule the API writes, workflows' too.
  const queue = props.scheduleDeadLetterQueue;
  if (queue !== undefined) {
    const schedules: Record<ScheduleEnvironmentKey, string> = {
      SCHEDULE_DEAD_LETTER_QUEUE_ARN: queue.queueArn,
    };
    addEnvironment(api, schedules);
  }

  // Plan records (conditional put/delete on their revision) and the settings item; only plans are deleted.
  api.addToRolePolicy(
    tableAccess(
      props.table,
      ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem'],
      [...PLAN_TABLE_KEYS],
    ),
  );
  api.addToRolePolicy(tableAccess(props.table, ['dynamodb:DeleteItem'], [`${PLAN_PARTITION}*`]));
  // Run records: the API creates a run before it starts the execution, and removes it when that fails.
  grantRunRecords(api, props.table, PLAN_RUN_TABLE_KEYS);
  api.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [plans.stateMachineArn] }),
  );
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
