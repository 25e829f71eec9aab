/**
 * ReplicaBackup: the whole replica backup proxy as one L3 construct. A DRaaS operator can put it
 * in their own CDK app; lib/stacks/replica-backup-stack.ts is the stack this project deploys.
 *
 * It wires one part per concern, each in its own module:
 * - backup-storage.ts: KMS key, access log, image, work and restore buckets, the DynamoDB table;
 * - backup-monitoring.ts: the outcome topic, alarms and the dashboard;
 * - backup-functions.ts: the Lambdas of lib/function-manifest.ts, their roles and the backup grants;
 * - backup-state-machine.ts: the backup state machine from statemachines/backup.asl.json;
 * - config-plans.ts: the configuration's protection plans, their records and schedules;
 * - restore-api.ts: the REST API, its routes and the API's and restore worker's grants.
 * The parts add their resources to this construct, so logical IDs are those of the construct path
 * `ReplicaBackup/<id>` (see backup-storage.ts).
 */
import { CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { configuredServerSettings, parseConfig, type ReplicaBackupConfig } from '../config.ts';
import type { FunctionName, ResourceEnvironmentKey } from '../function-manifest.ts';
import { BackupFunctions } from './backup-functions.ts';
import {
  BackupMonitoring,
  createOutcomeTopic,
  createScheduleDeadLetterQueue,
  DEFAULT_SCHEDULE_GROUP,
} from './backup-monitoring.ts';
import { BackupStateMachine } from './backup-state-machine.ts';
import { BackupStorage, grantObjectLockRetention } from './backup-storage.ts';
import {
  CHUNK_KEY_PREFIX,
  MANIFEST_KEY_PREFIX,
  SEGMENT_KEY_PREFIX,
} from '../../lambdas/core/image/image-types.ts';
import { LifecycleJobs } from './lifecycle-jobs.ts';
import { PlanRuns } from './plan-runs.ts';
import { WorkflowRuns } from './workflow-runs.ts';
import { WorkflowSchedules } from './workflow-schedules.ts';
import { ConfigPlans } from './config-plans.ts';
import { ConfigServers } from './config-servers.ts';
import { RestoreApi } from './restore-api.ts';
import { VolumeRestores } from './volume-restores.ts';

export { BACKUP_ASL_PATH } from './backup-state-machine.ts';

/** Props of {@link ReplicaBackup}. Every one has a default, so `new ReplicaBackup(this, 'Rbp')` works. */
export interface ReplicaBackupProps {
  /**
   * The validated configuration (lib/config.ts): servers and schedules, retention, budgets.
   * @default - the defaults of replicaBackupConfigSchema: no schedules (on-demand backups only)
   */
  readonly config?: ReplicaBackupConfig;
  /**
   * Prefix of the names of named resources (state machine, schedules, API).
   * @default - the stack name
   */
  readonly namePrefix?: string;
  /**
   * Event bus that receives checkpoint requests and backup outcomes.
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;
}

export class ReplicaBackup extends Construct {
  /** The key, the log, image, work and restore buckets and the table. */
  readonly storage: BackupStorage;
  readonly topic: sns.Topic;
  readonly functions: Record<FunctionName, nodejs.NodejsFunction>;
  readonly stateMachine: sfn.StateMachine;
  readonly api: apigateway.RestApi;
  /** The schedules of the configuration's protection plans (config-plans.ts). */
  readonly schedules: scheduler.CfnSchedule[];
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: ReplicaBackupProps = {}) {
    super(scope, id);
    const config = props.config ?? parseConfig({}, 'default configuration');
    const prefix = props.namePrefix ?? Stack.of(this).stackName;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    const storage = new BackupStorage(this, { config, prefix, removalPolicy });
    const topic = createOutcomeTopic(this, {
      prefix,
      key: storage.key,
      notificationEmails: config.notificationEmails,
    });
    const resources: Record<ResourceEnvironmentKey, string> = {
      TABLE_NAME: storage.table.tableName,
      IMAGE_BUCKET: storage.imageBucket.bucketName,
      WORK_BUCKET: storage.workBucket.bucketName,
      RESTORE_BUCKET: storage.restoreBucket.bucketName,
      EVENT_BUS_NAME: eventBus.eventBusName,
      TOPIC_ARN: topic.topicArn,
    };
    const { functions } = new BackupFunctions(this, {
      config,
      storage,
      eventBus,
      topic,
      resources,
      logRetention,
      removalPolicy,
    });
    const backup = new BackupStateMachine(this, {
      prefix,
      storage,
      functions,
      resources,
      logRetention,
      removalPolicy,
    });
    const restoreApi = new RestoreApi(this, {
      prefix,
      config,
      healthFunction: functions.health,
      apiFunction: functions.api,
      restoreWorker: functions.restoreWorker,
      stateMachine: backup.stateMachine,
      stateMachineName: backup.stateMachineName,
      table: storage.table,
      key: storage.key,
      imageBucket: storage.imageBucket,
      restoreBucket: storage.restoreBucket,
      logRetention,
      removalPolicy,
    });
    // GET /backups/{id}: a running backup's progress is its range summaries in the work area
    // (GetObject of items.json and summaries, ListBucket of the ranges' prefix).
    storage.workBucket.grantRead(functions.api, 'work/*');
    // Every schedule's failed firings (plans, workflows, lifecycle jobs, the RPO check) go here.
    const scheduleDeadLetterQueue = createScheduleDeadLetterQueue(this, { key: storage.key });
    // Protection plans: the schedule group, the scheduler's role, the API's plan environment.
    const planRuns = new PlanRuns(this, {
      scheduleDeadLetterQueue,
      prefix,
      apiFunction: functions.api,
      planRunFunction: functions.planRun,
      hookFunctions: config.planHookFunctions,
      backupStateMachine: backup.stateMachine,
      backupStateMachineName: backup.stateMachineName,
      table: storage.table,
      imageBucket: storage.imageBucket,
      eventBus,
      topic,
      key: storage.key,
      logRetention,
      removalPolicy,
    });
    // The configuration's plans: their records and schedules, written at deploy time.
    const configPlans = new ConfigPlans(this, {
      plans: config.plans,
      table: storage.table,
      key: storage.key,
      scheduleGroup: planRuns.scheduleGroup,
      scheduleGroupName: planRuns.scheduleGroupName,
      stateMachineArn: planRuns.stateMachineArn,
      schedulerRole: planRuns.schedulerRole,
      deadLetterQueue: scheduleDeadLetterQueue,
      writtenAt: new Date(),
      logRetention,
      removalPolicy,
    });
    // The servers' probe, waits and volume lists, read by every backup of the server a plan or the API starts.
    const configServers = new ConfigServers(this, {
      settings: configuredServerSettings(config),
      table: storage.table,
      key: storage.key,
      logRetention,
      removalPolicy,
    });
    // The item is written after the functions that read it are updated: their schema is strict, so
    // a function of the previous release would refuse an item with a field it does not know.
    configServers.resource?.node.addDependency(functions.api, functions.planRun);
    // Volume restores: the state machine with a Distributed Map over block ranges (no 15-minute cap).
    const volumeRestores = new VolumeRestores(this, {
      prefix,
      stepFunction: functions.volumeRestoreStep,
      apiFunction: functions.api,
      restoreWorker: functions.restoreWorker,
      table: storage.table,
      key: storage.key,
      imageBucket: storage.imageBucket,
      workBucket: storage.workBucket,
      logRetention,
      removalPolicy,
    });
    // Workflow runs: LiveClones and DirectMounts made from images through the volume restores.
    const workflowRuns = new WorkflowRuns(this, {
      prefix,
      apiFunction: functions.api,
      workflowRunFunction: functions.workflowRun,
      volumeRestoreStateMachine: volumeRestores.stateMachine,
      maskingFunctions: config.workflowMaskingFunctions,
      table: storage.table,
      key: storage.key,
      logRetention,
      removalPolicy,
    });
    // Workflow schedules (wf-<name>, starting the run state machine) and delete's grants: the API's part.
    const workflowSchedules = new WorkflowSchedules(this, {
      prefix,
      apiFunction: functions.api,
      workflowRunStateMachineArn: workflowRuns.stateMachine.stateMachineArn,
      removalPolicy,
      deadLetter: { queue: scheduleDeadLetterQueue, key: storage.key },
    });
    // Garbage collection, scrub and restore tests: grants, daily schedules, their alarms, the API's part.
    new LifecycleJobs(this, {
      prefix,
      lifecycleFunction: functions.lifecycleJob,
      apiFunction: functions.api,
      table: storage.table,
      imageBucket: storage.imageBucket,
      eventBus,
      topic,
      key: storage.key,
      scrubCoverRuns: config.scrub.coverRuns,
      restoreTests: config.restoreTests,
      scheduleDeadLetterQueue,
    });
    // Object Lock: the writers' PUTs carry a retain-until date and a PUT answered 412 extends the
    // object's lock (s3:PutObjectRetention on what each writes); the collector extends live chunks
    // and segments. Their s3:PutObject grants (bucket-grants.ts) carry no lock action.
    grantObjectLockRetention(config, storage.imageBucket, [
      [functions.copyRange, [CHUNK_KEY_PREFIX, SEGMENT_KEY_PREFIX]],
      [functions.commitImage, [MANIFEST_KEY_PREFIX]],
      [functions.lifecycleJob, [CHUNK_KEY_PREFIX, SEGMENT_KEY_PREFIX]],
    ]);
    const monitoring = new BackupMonitoring(this, {
      prefix,
      topic,
      stateMachine: backup.stateMachine,
      functions,
      servers: config.servers,
      otherStateMachines: {
        PlanRun: planRuns.stateMachine,
        WorkflowRun: workflowRuns.stateMachine,
        VolumeRestore: volumeRestores.stateMachine,
      },
      schedules: {
        deadLetterQueue: scheduleDeadLetterQueue,
        groupNames: [planRuns.scheduleGroupName, workflowSchedules.scheduleGroupName, DEFAULT_SCHEDULE_GROUP],
      },
    });

    this.storage = storage;
    this.topic = topic;
    this.functions = functions;
    this.stateMachine = backup.stateMachine;
    this.schedules = configPlans.schedules;
    this.api = restoreApi.api;
    this.dashboard = monitoring.dashboard;
    this.alarms = monitoring.alarms;

    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'ImageBucketName', { value: storage.imageBucket.bucketName });
    new CfnOutput(this, 'RestoreBucketName', { value: storage.restoreBucket.bucketName });
    new CfnOutput(this, 'TableName', { value: storage.table.tableName });
    new CfnOutput(this, 'OutcomeTopicArn', { value: this.topic.topicArn });
  }
}
