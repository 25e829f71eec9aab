/**
 * The protection plans of the configuration (`plans` in lib/config.ts), written at deploy time:
 * each plan's record in the product table, exactly as `POST /plans` stores it (the named-record
 * item of lambdas/aws/dynamodb-named-records.ts), and each of its schedules in the plans'
 * schedule group, named and targeted as the API names and targets them
 * (lambdas/aws/scheduler-plan-schedules.ts). So `rbp plans ls`, `rbp plans run` and the API see a
 * configured plan like any other.
 *
 * The deployment owns these plans: every deploy puts the record back as the configuration says
 * (an API change to a configured plan lasts until the next deploy), and removing a plan from the
 * configuration deletes its record and schedules. The record is written by a CloudFormation custom
 * resource making the DynamoDB call (PutItem on create and update, DeleteItem on delete:
 * https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.custom_resources.AwsCustomResource.html).
 *
 * Why a custom resource making one SDK call, not a function of lib/function-manifest.ts answering
 * custom-resource events through the plan service: the record is one item written with the plan
 * store's own item builder (namedRecordItem), and the schedules are CloudFormation resources, so
 * CloudFormation creates, updates, deletes and rolls them back with the stack (a failed update
 * puts the previous schedules back without code of ours answering rollback events). A function
 * would reconcile schedules outside CloudFormation and need Scheduler and iam:PassRole grants at
 * deploy time, and the local stack has no CloudFormation to send it events: there plans are made
 * through the API, by the same plan service. The cost is a provider function that is CDK's, not
 * the manifest's; conformProvider (config-writer.ts) gives it the product's runtime, architecture
 * and tracing.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { attributeValues, configWriter, conformProvider, CONFIG_WRITER_MEMORY_MB } from './config-writer.ts';
import { namedRecordItem } from '../../lambdas/aws/dynamodb-named-records.ts';
import { PLAN_PARTITION, PLAN_RECORDS } from '../../lambdas/aws/dynamodb-plan-store.ts';
import { scheduleTargetInput } from '../../lambdas/aws/scheduler-plan-schedules.ts';
import {
  SCHEDULE_MAX_EVENT_AGE_SECONDS,
  SCHEDULE_RETRY_ATTEMPTS,
} from '../../lambdas/aws/scheduler-state-machine-schedules.ts';
import type { PlanDocument } from '../../lambdas/core/plans/plan-document.ts';
import {
  desiredSchedules,
  PLAN_RECORD_FORMAT_VERSION,
  type PlanRecord,
} from '../../lambdas/core/plans/plan-service.ts';

export interface ConfigPlansProps {
  /** The configuration's plans, parsed (lib/config.ts). */
  readonly plans: readonly PlanDocument[];
  readonly table: dynamodb.TableV2;
  /** Encrypts the table. */
  readonly key: kms.IKey;
  readonly scheduleGroup: scheduler.ScheduleGroup;
  readonly scheduleGroupName: string;
  /** The plan-run state machine the schedules start. */
  readonly stateMachineArn: string;
  /** The role EventBridge Scheduler assumes to start it (and to send to the dead-letter queue). */
  readonly schedulerRole: iam.IRole;
  /** Where a firing goes once its retries are spent, as for the API's plan schedules; absent: nowhere. */
  readonly deadLetterQueue?: sqs.IQueue;
  /** `createdAt`/`updatedAt` of the records: when the deployment was synthesised. */
  readonly writtenAt: Date;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** The record a configured plan is stored as. */
export function configPlanRecord(document: PlanDocument, writtenAt: Date): PlanRecord {
  const at = writtenAt.toISOString();
  return {
    formatVersion: PLAN_RECORD_FORMAT_VERSION,
    name: document.name,
    document,
    revision: 1,
    createdAt: at,
    updatedAt: at,
  };
}

export class ConfigPlans {
  readonly schedules: scheduler.CfnSchedule[] = [];

  constructor(scope: Construct, props: ConfigPlansProps) {
    if (props.plans.length === 0) return;
    // The provider function runs as every product function does: its own role (no AWS managed
    // policy) writing to its own log group, Node.js 22 on arm64, traced (config-writer.ts).
    const { role, logGroup } = configWriter(scope, props);
    const policy = cr.AwsCustomResourcePolicy.fromStatements([
      new iam.PolicyStatement({
        actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [props.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [PLAN_PARTITION] } },
      }),
      new iam.PolicyStatement({
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [props.key.keyArn],
      }),
    ]);
    for (const document of props.plans) {
      const record = configPlanRecord(document, props.writtenAt);
      const put: cr.AwsSdkCall = {
        service: 'DynamoDB',
        action: 'PutItem',
        parameters: {
          TableName: props.table.tableName,
          Item: attributeValues(namedRecordItem(PLAN_RECORDS, record)),
        },
        physicalResourceId: cr.PhysicalResourceId.of(`plan:${document.name}`),
      };
      const resource = new cr.AwsCustomResource(scope, `ConfigPlan-${document.name}`, {
        onCreate: put,
        onUpdate: put,
        onDelete: {
          service: 'DynamoDB',
          action: 'DeleteItem',
          parameters: {
            TableName: props.table.tableName,
            Key: attributeValues({ pk: PLAN_PARTITION, sk: document.name }),
          },
        },
        policy,
        role,
        logGroup,
        memorySize: CONFIG_WRITER_MEMORY_MB,
        installLatestAwsSdk: false,
      });
      for (const schedule of desiredSchedules(document)) {
        const created = new scheduler.CfnSchedule(scope, `ConfigPlanSchedule-${schedule.name}`, {
          name: schedule.name,
          groupName: props.scheduleGroupName,
          description: `Protection plan ${document.name} (configuration)`,
          scheduleExpression: schedule.expression,
          scheduleExpressionTimezone: schedule.timeZone,
          state: schedule.enabled ? 'ENABLED' : 'DISABLED',
          flexibleTimeWindow: { mode: 'OFF' },
          target: {
            arn: props.stateMachineArn,
            roleArn: props.schedulerRole.roleArn,
            input: scheduleTargetInput(schedule),
            // The API's plan schedules carry the same policy (scheduler-state-machine-schedules.ts).
            retryPolicy: {
              maximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS,
              maximumEventAgeInSeconds: SCHEDULE_MAX_EVENT_AGE_SECONDS,
            },
            ...(props.deadLetterQueue === undefined
              ? {}
              : { deadLetterConfig: { arn: props.deadLetterQueue.queueArn } }),
          },
        });
        created.node.addDependency(props.scheduleGroup);
        // A schedule fires only once its plan's record exists.
        created.node.addDependency(resource);
        this.schedules.push(created);
      }
    }
    conformProvider(scope);
  }
}
