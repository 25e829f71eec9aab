/**
 * ReplicaBackup: the whole replica backup proxy as one L3 construct — storage (KMS key, image,
 * work, restore and log buckets, the DynamoDB table), the orchestration and engine Lambdas, the
 * backup state machine from statemachines/backup.asl.json, schedules, the REST API shell with IAM
 * authorisation, outcome notifications, alarms and a dashboard. A DRaaS operator can put it in
 * their own CDK app; lib/stacks/replica-backup-stack.ts is the stack this project deploys.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CfnResource } from 'aws-cdk-lib';
import {
  ArnFormat,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  TimeZone,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as snsSubscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { wireRestoreApi } from './restore-api.ts';
import {
  parseConfig,
  scheduledBackupInput,
  type ProtectedServerConfig,
  type ReplicaBackupConfig,
} from '../config.ts';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HANDLERS_DIR = join(PROJECT_ROOT, 'lambdas', 'handlers');
/** The backup state machine definition, with ${…} substitutions. */
export const BACKUP_ASL_PATH = join(PROJECT_ROOT, 'statemachines', 'backup.asl.json');

/** Orchestration steps are short control-plane calls: the smallest memory that starts Node quickly. */
export const ORCHESTRATION_MEMORY_MB = 256;
/** A control-plane step (tags, snapshots, lock, events) finishes in seconds; a minute means hung. */
export const ORCHESTRATION_TIMEOUT = Duration.seconds(60);
/**
 * A range worker holds 32 chunks of 1 MiB in flight, compresses with zstd and hashes: 1,769 MB is
 * one full vCPU (aws-facts §3.2), which is what the engine's throughput is measured against.
 */
export const RANGE_WORKER_MEMORY_MB = 1_769;
/** A 4 GiB range at the default read budget (~62 blocks/s per worker) takes ~2 min; 15 min is Lambda's cap. */
export const RANGE_WORKER_TIMEOUT = Duration.minutes(15);
/** Planning reads the parent manifest (up to 65,536 segment hashes) and writes the item list. */
export const PLANNER_MEMORY_MB = 1_024;
export const PLANNER_TIMEOUT = Duration.minutes(5);
/** Cataloguing reads filesystem metadata through the chunk store; a large tree takes minutes, 15 is Lambda's cap. */
export const CATALOG_TIMEOUT = Duration.minutes(15);
/** Days the work area (Map items, range summaries) is kept: covers the 14-day redrive window. */
export const WORK_EXPIRATION_DAYS = 30;
/** Days before an incomplete multipart upload is aborted and its parts freed. */
export const INCOMPLETE_UPLOAD_DAYS = 7;
/** Days access logs are kept. */
export const ACCESS_LOG_EXPIRATION_DAYS = 365;
/** A failed backup deserves a look at once: one failed execution in five minutes raises the alarm. */
export const ALARM_PERIOD = Duration.minutes(5);

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

type FunctionName =
  | 'backupLock'
  | 'replicaCheckpoint'
  | 'probeReplica'
  | 'replicaSnapshots'
  | 'planBackup'
  | 'copyRange'
  | 'commitImage'
  | 'buildCatalog'
  | 'cleanupBackup'
  | 'publishOutcome'
  | 'health'
  | 'api'
  | 'restoreWorker';

interface FunctionSpec {
  readonly file: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
}

const FUNCTION_SPECS: Record<FunctionName, FunctionSpec> = {
  backupLock: {
    file: 'backup-lock.ts',
    description: 'Validate a backup request; take, renew and release volume locks',
    memorySize: ORCHESTRATION_MEMORY_MB,
    timeout: ORCHESTRATION_TIMEOUT,
  },
  replicaCheckpoint: {
    file: 'replica-checkpoint.ts',
    description: 'Request and release consistency checkpoints',
    memorySize: ORCHESTRATION_MEMORY_MB,
    timeout: ORCHESTRATION_TIMEOUT,
  },
  probeReplica: {
    file: 'probe-replica.ts',
    description: 'Is the replica in sync at the checkpoint (tags or DRS)?',
    memorySize: ORCHESTRATION_MEMORY_MB,
    timeout: ORCHESTRATION_TIMEOUT,
  },
  replicaSnapshots: {
    file: 'replica-snapshots.ts',
    description: 'Create, check, discard and rotate replica snapshots',
    memorySize: ORCHESTRATION_MEMORY_MB,
    timeout: ORCHESTRATION_TIMEOUT,
  },
  planBackup: {
    file: 'plan-backup.ts',
    description: 'Plan a full or incremental image and write the range items',
    memorySize: PLANNER_MEMORY_MB,
    timeout: PLANNER_TIMEOUT,
  },
  copyRange: {
    file: 'copy-range.ts',
    description: 'Copy one block range of a snapshot into the image store',
    memorySize: RANGE_WORKER_MEMORY_MB,
    timeout: RANGE_WORKER_TIMEOUT,
  },
  commitImage: {
    file: 'commit-image.ts',
    description: 'Commit an image: manifest, then image record',
    memorySize: PLANNER_MEMORY_MB,
    timeout: PLANNER_TIMEOUT,
  },
  buildCatalog: {
    file: 'build-catalog.ts',
    description: 'Catalog the files and applications of a committed image',
    memorySize: PLANNER_MEMORY_MB,
    timeout: CATALOG_TIMEOUT,
  },
  cleanupBackup: {
    file: 'cleanup-backup.ts',
    description: 'Release locks and delete unused snapshots of a failed backup',
    memorySize: ORCHESTRATION_MEMORY_MB,
    timeout: ORCHESTRATION_TIMEOUT,
  },
  publishOutcome: {
    file: 'publish-outcome.ts',
    description: 'Announce backup outcomes on EventBridge and SNS',
    memorySize: ORCHESTRATION_MEMORY_MB,
    timeout: ORCHESTRATION_TIMEOUT,
  },
  health: {
    file: 'health.ts',
    description: 'GET /health of the restore API',
    memorySize: 128,
    timeout: Duration.seconds(10),
  },
  // The REST API and its restore worker (lib/constructs/restore-api.ts wires routes and grants).
  api: {
    file: 'api.ts',
    description: 'The REST API: catalog, on-demand backups and restores',
    memorySize: 512,
    timeout: Duration.seconds(29),
  },
  restoreWorker: {
    file: 'restore-worker.ts',
    description: 'Run one restore job: files and archives to the restore bucket, volumes to EBS snapshots',
    memorySize: 1024,
    timeout: Duration.minutes(15),
  },
};

/** Tags and values the IAM conditions rely on (docs/replication-agent.md, replica-snapshots.ts). */
const REPLICA_TAG = 'rbp:replica';
const MANAGED_TAG = 'rbp:managed';
const ROLE_TAG = 'rbp:role';

export class ReplicaBackup extends Construct {
  readonly key: kms.Key;
  readonly logBucket: s3.Bucket;
  readonly imageBucket: s3.Bucket;
  readonly workBucket: s3.Bucket;
  readonly restoreBucket: s3.Bucket;
  readonly table: dynamodb.TableV2;
  readonly topic: sns.Topic;
  readonly functions: Record<FunctionName, nodejs.NodejsFunction>;
  readonly stateMachine: sfn.StateMachine;
  readonly api: apigateway.RestApi;
  readonly schedules: scheduler.Schedule[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];
  private stateMachineName = '';

  constructor(scope: Construct, id: string, props: ReplicaBackupProps = {}) {
    super(scope, id);
    const stack = Stack.of(this);
    const config = props.config ?? defaultConfig();
    const prefix = props.namePrefix ?? stack.stackName;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;
    const destroy = config.removalPolicy === 'destroy';
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const eventBus = props.eventBus ?? events.EventBus.fromEventBusName(this, 'DefaultBus', 'default');

    this.key = new kms.Key(this, 'Key', {
      description: `${prefix}: images, catalog, work area, restores and notifications`,
      enableKeyRotation: true,
      removalPolicy,
    });
    // CloudWatch alarms publish to the outcome topic, which this key encrypts.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
    // CloudWatch Logs encrypts the state machine's and the API's log groups with this key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    this.logBucket = new s3.Bucket(this, 'AccessLogBucket', {
      // Server access logs can only be delivered to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [
        {
          expiration: Duration.days(ACCESS_LOG_EXPIRATION_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS),
        },
      ],
      removalPolicy,
      autoDeleteObjects: destroy,
    });
    Validations.of(this.logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the access log bucket itself; logging it into itself would loop.',
    });

    const kmsBucket = (id: string, extra: Partial<s3.BucketProps>, logPrefix: string): s3.Bucket =>
      new s3.Bucket(this, id, {
        encryption: s3.BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        serverAccessLogsBucket: this.logBucket,
        serverAccessLogsPrefix: logPrefix,
        removalPolicy,
        autoDeleteObjects: destroy && extra.objectLockEnabled !== true,
        ...extra,
      });

    this.imageBucket = kmsBucket(
      'ImageBucket',
      {
        versioned: true,
        ...(config.objectLock === undefined
          ? {}
          : {
              objectLockEnabled: true,
              objectLockDefaultRetention:
                config.objectLock.mode === 'COMPLIANCE'
                  ? s3.ObjectLockRetention.compliance(Duration.days(config.objectLock.days))
                  : s3.ObjectLockRetention.governance(Duration.days(config.objectLock.days)),
            }),
        lifecycleRules: [
          { abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS) },
          { noncurrentVersionExpiration: Duration.days(config.noncurrentVersionExpirationDays) },
        ],
      },
      'image-bucket/',
    );
    this.workBucket = kmsBucket(
      'WorkBucket',
      {
        lifecycleRules: [
          {
            expiration: Duration.days(WORK_EXPIRATION_DAYS),
            abortIncompleteMultipartUploadAfter: Duration.days(INCOMPLETE_UPLOAD_DAYS),
          },
        ],
      },
      'work-bucket/',
    );
    this.restoreBucket = kmsBucket(
      'RestoreBucket',
      {
        lifecycleRules: [
          {
            expiration: Duration.days(config.restoreExpirationDays),
            abortIncompleteMultipartUploadAfter: Duration.days(1),
          },
        ],
      },
      'restore-bucket/',
    );

    // Key schema: docs/catalog.md.
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      encryption: dynamodb.TableEncryptionV2.customerManagedKey(this.key),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: 'ttl',
      deletionProtection: !destroy,
      removalPolicy,
      globalSecondaryIndexes: [
        {
          indexName: 'GSI1',
          partitionKey: { name: 'gsi1pk', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'gsi1sk', type: dynamodb.AttributeType.STRING },
        },
        {
          indexName: 'GSI2',
          partitionKey: { name: 'gsi2pk', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'gsi2sk', type: dynamodb.AttributeType.STRING },
        },
      ],
    });

    this.topic = new sns.Topic(this, 'OutcomeTopic', {
      displayName: `${prefix} backup outcomes`,
      masterKey: this.key,
      enforceSSL: true,
    });
    for (const email of config.notificationEmails)
      this.topic.addSubscription(new snsSubscriptions.EmailSubscription(email));

    this.functions = this.createFunctions(config, eventBus, logRetention, removalPolicy);
    this.grantFunctionPermissions(config, eventBus);

    this.stateMachine = this.createStateMachine(prefix, logRetention, removalPolicy);
    this.acknowledgeWildcards();
    for (const server of config.servers) this.createSchedules(prefix, server);
    this.api = this.createApi(prefix, config, logRetention, removalPolicy);
    wireRestoreApi({
      scope: this,
      api: this.api,
      apiFunction: this.functions.api,
      restoreWorker: this.functions.restoreWorker,
      stateMachine: this.stateMachine,
      stateMachineName: this.stateMachineName,
      table: this.table,
      key: this.key,
      imageBucket: this.imageBucket,
      restoreBucket: this.restoreBucket,
    });
    this.dashboard = this.createMonitoring(prefix);

    new CfnOutput(this, 'StateMachineArn', { value: this.stateMachine.stateMachineArn });
    new CfnOutput(this, 'ApiUrl', { value: this.api.url });
    new CfnOutput(this, 'ImageBucketName', { value: this.imageBucket.bucketName });
    new CfnOutput(this, 'RestoreBucketName', { value: this.restoreBucket.bucketName });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    new CfnOutput(this, 'OutcomeTopicArn', { value: this.topic.topicArn });
  }

  private createFunctions(
    config: ReplicaBackupConfig,
    eventBus: events.IEventBus,
    logRetention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
  ): Record<FunctionName, nodejs.NodejsFunction> {
    const environment: Record<string, string> = {
      TABLE_NAME: this.table.tableName,
      IMAGE_BUCKET: this.imageBucket.bucketName,
      WORK_BUCKET: this.workBucket.bucketName,
      RESTORE_BUCKET: this.restoreBucket.bucketName,
      EVENT_BUS_NAME: eventBus.eventBusName,
      TOPIC_ARN: this.topic.topicArn,
      RETAIN_BASE_SNAPSHOTS: String(config.baseSnapshotsRetained),
      SNAPSHOT_READ_BUDGET: String(config.budgets.snapshotReadRequestsPerSecond),
      RANGE_WORKERS: String(config.budgets.rangeWorkers),
      POWERTOOLS_SERVICE_NAME: 'rbp',
      POWERTOOLS_METRICS_NAMESPACE: 'ReplicaBackupProxy',
      NODE_OPTIONS: '--enable-source-maps',
    };
    const created = {} as Record<FunctionName, nodejs.NodejsFunction>;
    for (const [name, spec] of Object.entries(FUNCTION_SPECS) as [FunctionName, FunctionSpec][]) {
      const id = name.charAt(0).toUpperCase() + name.slice(1);
      const logGroup = new logs.LogGroup(this, `${id}Logs`, { retention: logRetention, removalPolicy });
      // An own role per function instead of AWSLambdaBasicExecutionRole: logs to its own group only.
      const role = new iam.Role(this, `${id}Role`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `${spec.description} (Lambda ${name})`,
      });
      logGroup.grantWrite(role);
      const fn = new nodejs.NodejsFunction(this, `${id}Function`, {
        role,
        entry: join(HANDLERS_DIR, spec.file),
        handler: 'handler',
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
        runtime: lambda.Runtime.NODEJS_22_X,
        architecture: lambda.Architecture.ARM_64,
        memorySize: spec.memorySize,
        timeout: spec.timeout,
        description: spec.description,
        tracing: lambda.Tracing.ACTIVE,
        logGroup,
        environment,
        bundling: {
          forceDockerBundling: false,
          format: nodejs.OutputFormat.ESM,
          target: 'node22',
          minify: true,
          // Error class names are Step Functions error names: keep them through minification.
          keepNames: true,
          sourceMap: true,
          mainFields: ['module', 'main'],
          // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
          banner:
            "import { createRequire as __rbpCreateRequire } from 'node:module'; const require = __rbpCreateRequire(import.meta.url);",
        },
      });
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is the runtime the project builds and tests on (engines >=22.12, local stack on Node 22); moving to a newer runtime is a tested change, not an automatic one.',
      });
      created[name] = fn;
    }
    return created;
  }

  private grantFunctionPermissions(config: ReplicaBackupConfig, eventBus: events.IEventBus): void {
    const stack = Stack.of(this);
    const f = this.functions;
    const snapshotArn = stack.formatArn({
      service: 'ec2',
      account: '',
      resource: 'snapshot',
      resourceName: '*',
    });
    const volumeArn = stack.formatArn({ service: 'ec2', resource: 'volume', resourceName: '*' });
    const describe = (actions: string[]) => new iam.PolicyStatement({ actions, resources: ['*'] });

    // Lock items only: partition keys LOCK#<volumeId>.
    const lockAccess = new iam.PolicyStatement({
      actions: ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:ConditionCheckItem'],
      resources: [this.table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['LOCK#*'] } },
    });
    for (const fn of [f.backupLock, f.cleanupBackup]) {
      fn.addToRolePolicy(lockAccess);
      this.key.grantEncryptDecrypt(fn);
    }
    // DescribeVolumes/DescribeSnapshots/DescribeSourceServers support no resource-level permissions.
    f.backupLock.addToRolePolicy(describe(['ec2:DescribeVolumes']));
    f.probeReplica.addToRolePolicy(describe(['ec2:DescribeVolumes', 'drs:DescribeSourceServers']));

    eventBus.grantPutEventsTo(f.replicaCheckpoint);
    eventBus.grantPutEventsTo(f.publishOutcome);
    this.topic.grantPublish(f.publishOutcome);

    const snapshotManagers = [f.replicaSnapshots, f.cleanupBackup];
    for (const fn of snapshotManagers) {
      fn.addToRolePolicy(describe(['ec2:DescribeSnapshots']));
      // Only snapshots this product created (tagged rbp:managed=true) can be deleted or re-tagged.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ec2:DeleteSnapshot'],
          resources: [snapshotArn],
          conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: 'true' } },
        }),
      );
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['ec2:CreateTags'],
          resources: [snapshotArn],
          conditions: {
            StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: 'true' },
            'ForAllValues:StringEquals': { 'aws:TagKeys': [ROLE_TAG] },
          },
        }),
      );
    }
    // CreateSnapshot: only of volumes tagged rbp:replica=true, only as snapshots tagged rbp:managed=true.
    f.replicaSnapshots.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateSnapshot'],
        resources: [volumeArn],
        conditions: { StringEquals: { [`aws:ResourceTag/${REPLICA_TAG}`]: 'true' } },
      }),
    );
    f.replicaSnapshots.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateSnapshot'],
        resources: [snapshotArn],
        conditions: { StringEquals: { [`aws:RequestTag/${MANAGED_TAG}`]: 'true' } },
      }),
    );
    f.replicaSnapshots.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ec2:CreateTags'],
        resources: [snapshotArn],
        conditions: { StringEquals: { 'ec2:CreateAction': 'CreateSnapshot' } },
      }),
    );

    // Engine: EBS direct reads of managed snapshots only.
    f.copyRange.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['ebs:ListSnapshotBlocks', 'ebs:ListChangedBlocks', 'ebs:GetSnapshotBlock'],
        resources: [snapshotArn],
        conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: 'true' } },
      }),
    );
    if (config.replicaKmsKeyArns.length > 0) {
      f.copyRange.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt', 'kms:DescribeKey'],
          resources: config.replicaKmsKeyArns,
          conditions: { StringEquals: { 'kms:ViaService': `ebs.${stack.region}.amazonaws.com` } },
        }),
      );
    }
    f.planBackup.addToRolePolicy(describe(['ec2:DescribeSnapshots']));
    // Image records and other catalog reads: partition keys VOLUME#<volumeId>.
    const imageRecords = (actions: string[]) =>
      new iam.PolicyStatement({
        actions,
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['VOLUME#*'] } },
      });
    f.planBackup.addToRolePolicy(imageRecords(['dynamodb:Query', 'dynamodb:GetItem']));
    f.commitImage.addToRolePolicy(
      imageRecords(['dynamodb:Query', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:ConditionCheckItem']),
    );
    // The catalog reads image records and writes its own items: file versions (FV#), image catalog
    // records (CI#) and application records (CA#) — docs/catalog.md.
    f.buildCatalog.addToRolePolicy(imageRecords(['dynamodb:Query', 'dynamodb:GetItem']));
    f.buildCatalog.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [
          'dynamodb:Query',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:DeleteItem',
        ],
        resources: [this.table.tableArn],
        conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['FV#*', 'CI#*', 'CA#*'] } },
      }),
    );
    for (const fn of [f.planBackup, f.commitImage, f.buildCatalog]) this.key.grantEncryptDecrypt(fn);
    this.imageBucket.grantRead(f.buildCatalog);

    this.imageBucket.grantRead(f.planBackup, 'images/*');
    this.imageBucket.grantRead(f.copyRange);
    this.imageBucket.grantPut(f.copyRange, 'chunks/*');
    this.imageBucket.grantPut(f.copyRange, 'segments/*');
    this.imageBucket.grantRead(f.commitImage);
    this.imageBucket.grantPut(f.commitImage, 'images/*');
    this.workBucket.grantPut(f.planBackup, 'work/*');
    this.workBucket.grantPut(f.copyRange, 'work/*');
    this.workBucket.grantRead(f.copyRange, 'work/*');
    this.workBucket.grantRead(f.commitImage, 'work/*');
  }

  private createStateMachine(
    prefix: string,
    logRetention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
  ): sfn.StateMachine {
    const stack = Stack.of(this);
    const f = this.functions;
    const stateMachineName = `${prefix}-backup`;
    this.stateMachineName = stateMachineName;
    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      logGroupName: `/aws/vendedlogs/states/${stateMachineName}`,
      retention: logRetention,
      encryptionKey: this.key,
      removalPolicy,
    });
    const substitutions: Record<string, string> = {
      BackupLockFunctionArn: f.backupLock.functionArn,
      CheckpointFunctionArn: f.replicaCheckpoint.functionArn,
      ProbeReplicaFunctionArn: f.probeReplica.functionArn,
      ReplicaSnapshotFunctionArn: f.replicaSnapshots.functionArn,
      PlanBackupFunctionArn: f.planBackup.functionArn,
      CopyRangeFunctionArn: f.copyRange.functionArn,
      CommitImageFunctionArn: f.commitImage.functionArn,
      BuildCatalogFunctionArn: f.buildCatalog.functionArn,
      CleanupFunctionArn: f.cleanupBackup.functionArn,
      PublishOutcomeFunctionArn: f.publishOutcome.functionArn,
      WorkBucketName: this.workBucket.bucketName,
    };
    const machine = new sfn.StateMachine(this, 'BackupStateMachine', {
      stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromFile(BACKUP_ASL_PATH),
      definitionSubstitutions: substitutions,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });
    for (const fn of Object.values(f)) {
      if (fn !== f.health && fn !== f.api && fn !== f.restoreWorker) fn.grantInvoke(machine);
    }
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
    this.workBucket.grantRead(machine, 'work/*');
    this.workBucket.grantPut(machine, 'work/*');
    return machine;
  }

  /** `<LogicalId.Arn>` as cdk-nag prints a resource's ARN in a finding. */
  private arnToken(construct: Construct): string {
    const stack = Stack.of(this);
    return `<${stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string}.Arn>`;
  }

  /**
   * The wildcards cdk-nag reports (AwsSolutions-IAM5), each acknowledged on the role that holds it
   * with the reason it is as narrow as AWS allows.
   */
  private acknowledgeWildcards(): void {
    const stack = Stack.of(this);
    const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
    const image = this.arnToken(this.imageBucket);
    const work = this.arnToken(this.workBucket);
    const reasons: Record<string, string> = {
      'Resource::*':
        'X-Ray PutTraceSegments/PutTelemetryRecords, EC2 DescribeVolumes/DescribeSnapshots and DRS DescribeSourceServers have no resource-level permissions.',
      'Action::kms:GenerateDataKey*':
        "CDK's grant to use the product's own KMS key for the buckets and table it encrypts.",
      'Action::kms:ReEncrypt*':
        "CDK's grant to use the product's own KMS key for the buckets and table it encrypts.",
      'Action::s3:GetObject*':
        "CDK's read grant (GetObject, GetObjectVersion, ...) on the product's own buckets, limited to a key prefix where possible.",
      'Action::s3:GetBucket*':
        "CDK's read grant on the product's own buckets (bucket location and versioning for reads).",
      'Action::s3:List*':
        "CDK's read grant on the product's own buckets (ListBucket for listing range summaries and probing).",
      'Action::s3:Abort*': "CDK's put grant: aborting the product's own multipart uploads.",
      [`Resource::${work}/work/*`]:
        'The work area of backups: per-backup keys (items, range summaries, Map results) that are not known in advance.',
      [`Resource::${image}/*`]:
        'Range workers and the commit read chunks, segments and manifests by content hash anywhere in the image store.',
      [`Resource::${image}/images/*`]: 'Manifests are named by volume and image id, known only at run time.',
      [`Resource::${image}/chunks/*`]:
        'Chunks are named by the hash of their content: the names cannot be known in advance.',
      [`Resource::${image}/segments/*`]:
        'Segments are named by the hash of their content: the names cannot be known in advance.',
      [`Resource::arn:<AWS::Partition>:ec2:${region}::snapshot/*`]:
        'Every statement on snapshots carries a tag condition: rbp:managed=true on existing snapshots, the same as a request tag on CreateSnapshot.',
      [`Resource::arn:<AWS::Partition>:ec2:${region}:<AWS::AccountId>:volume/*`]:
        'CreateSnapshot is allowed only on volumes tagged rbp:replica=true (aws:ResourceTag condition).',
    };
    for (const fn of Object.values(this.functions)) {
      const role = fn.role;
      if (role === undefined) continue;
      Validations.of(role).acknowledge(
        ...Object.entries(reasons).map(([finding, reason]) => ({
          id: `AwsSolutions-IAM5[${finding}]`,
          reason,
        })),
      );
    }
    const invocations = Object.values(this.functions).map((fn) => ({
      id: `AwsSolutions-IAM5[Resource::${this.arnToken(fn)}:*]`,
      reason: 'Step Functions may invoke any version or alias of the function the definition names.',
    }));
    Validations.of(this.stateMachine).acknowledge(
      ...invocations,
      { id: `AwsSolutions-IAM5[Resource::${work}/work/*]`, reason: reasons[`Resource::${work}/work/*`]! },
      {
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason: reasons['Action::kms:GenerateDataKey*']!,
      },
      { id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]', reason: reasons['Action::kms:ReEncrypt*']! },
      { id: 'AwsSolutions-IAM5[Action::s3:GetObject*]', reason: reasons['Action::s3:GetObject*']! },
      { id: 'AwsSolutions-IAM5[Action::s3:GetBucket*]', reason: reasons['Action::s3:GetBucket*']! },
      { id: 'AwsSolutions-IAM5[Action::s3:List*]', reason: reasons['Action::s3:List*']! },
      { id: 'AwsSolutions-IAM5[Action::s3:Abort*]', reason: reasons['Action::s3:Abort*']! },
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

  private createSchedules(prefix: string, server: ProtectedServerConfig): void {
    for (const schedule of server.schedules) {
      const target = new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        input: scheduler.ScheduleTargetInput.fromObject(scheduledBackupInput(server, schedule)),
        retryAttempts: 3,
        maxEventAge: Duration.hours(1),
      });
      this.schedules.push(
        new scheduler.Schedule(this, `Schedule-${server.serverId}-${schedule.name}`, {
          scheduleName: `${prefix}-${server.serverId}-${schedule.name}`.slice(0, 64),
          description: `Backup of ${server.serverId} (${schedule.expression} ${schedule.timeZone})`,
          schedule: scheduler.ScheduleExpression.expression(
            schedule.expression,
            TimeZone.of(schedule.timeZone),
          ),
          target,
          key: this.key,
        }),
      );
    }
  }

  private createApi(
    prefix: string,
    config: ReplicaBackupConfig,
    logRetention: logs.RetentionDays,
    removalPolicy: RemovalPolicy,
  ): apigateway.RestApi {
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logRetention,
      encryptionKey: this.key,
      removalPolicy,
    });
    const api = new apigateway.RestApi(this, 'Api', {
      restApiName: `${prefix}-api`,
      description: 'Replica backup proxy: catalog, backups and restores (IAM-authorised)',
      endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: removalPolicy,
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'v1',
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        tracingEnabled: true,
        throttlingRateLimit: config.api.throttlingRateLimit,
        throttlingBurstLimit: config.api.throttlingBurstLimit,
      },
    });
    const validator = api.addRequestValidator('RequestValidator', {
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    api.root.addResource('health').addMethod('GET', new apigateway.LambdaIntegration(this.functions.health), {
      requestValidator: validator,
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Every method requires SigV4 (IAM) authorisation and the stage is throttled; a WAF adds nothing an operator-only API needs.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'The API is for operators and their tools and is authorised with IAM (SigV4), not Cognito user pools.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        "The account-level role API Gateway uses to write execution logs; AWS's managed policy is the documented one.",
    });
    return api;
  }

  private createMonitoring(prefix: string): cloudwatch.Dashboard {
    const action = new cwActions.SnsAction(this.topic);
    const alarm = (id: string, metric: cloudwatch.IMetric, description: string) => {
      const created = new cloudwatch.Alarm(this, id, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      this.alarms.push(created);
      return created;
    };
    const sum = { period: ALARM_PERIOD, statistic: cloudwatch.Stats.SUM };
    alarm('BackupFailedAlarm', this.stateMachine.metricFailed(sum), 'A backup execution failed');
    alarm('BackupTimedOutAlarm', this.stateMachine.metricTimedOut(sum), 'A backup execution timed out');
    alarm('BackupAbortedAlarm', this.stateMachine.metricAborted(sum), 'A backup execution was aborted');
    for (const [name, fn] of Object.entries(this.functions)) {
      const id = name.charAt(0).toUpperCase() + name.slice(1);
      alarm(`${id}ErrorsAlarm`, fn.metricErrors(sum), `Lambda ${name} reported errors`);
      alarm(`${id}ThrottlesAlarm`, fn.metricThrottles(sum), `Lambda ${name} was throttled`);
    }
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { dashboardName: `${prefix}-backups` });
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Backup executions',
        left: [
          this.stateMachine.metricSucceeded(sum),
          this.stateMachine.metricFailed(sum),
          this.stateMachine.metricTimedOut(sum),
        ],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Range workers',
        left: [this.functions.copyRange.metricInvocations(sum), this.functions.copyRange.metricErrors(sum)],
        right: [
          this.functions.copyRange.metricDuration({
            period: ALARM_PERIOD,
            statistic: cloudwatch.Stats.p(90),
          }),
        ],
        width: 12,
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }),
    );
    return dashboard;
  }
}

function defaultConfig(): ReplicaBackupConfig {
  return parseConfig({}, 'default configuration');
}
