/**
 * The product's Lambda functions, one per entry of lib/function-manifest.ts, each with its own
 * role and log group, and the backup steps' least-privilege grants. The REST API's and the
 * restore worker's grants are in restore-api.ts; the state machine's invoke grants in
 * backup-state-machine.ts. Resources are added to the given scope (see backup-storage.ts for why).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Stack, Token, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { ReplicaBackupConfig } from '../config.ts';
import {
  COMMON_ENVIRONMENT,
  FUNCTION_MANIFEST,
  type ObjectLockEnvironmentKey,
  functionIdStem,
  manifestEntries,
  RUNTIME_ENVIRONMENT,
  type EnvironmentKey,
  type FunctionManifestEntry,
  type FunctionName,
  type ResourceEnvironmentKey,
  type SettingEnvironmentKey,
} from '../function-manifest.ts';
import { QUARANTINE_PARTITION } from '../../lambdas/aws/dynamodb-chunk-quarantine.ts';
import { REPLICA_TAG } from '../../lambdas/core/orchestration/replica-probe.ts';
import { MANAGED_TAG, ROLE_TAG } from '../../lambdas/core/orchestration/replica-snapshots.ts';
import { objectLockEnvironment, type BackupStorage } from './backup-storage.ts';
import { nagArnToken } from './nag.ts';
import { grantObjectPut } from './bucket-grants.ts';
import { grantPrimarySnapshots } from './primary-snapshots-policy.ts';
import { anyEc2Arn } from './ec2-arns.ts';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HANDLERS_DIR = join(PROJECT_ROOT, 'lambdas', 'handlers');

export interface BackupFunctionsProps {
  readonly config: ReplicaBackupConfig;
  readonly storage: BackupStorage;
  /** Receives checkpoint requests and backup outcomes. */
  readonly eventBus: events.IEventBus;
  /** Receives backup outcomes (publish-outcome.ts). */
  readonly topic: sns.ITopic;
  /** The deployment's resource names (resourceEnvironment in replica-backup.ts). */
  readonly resources: Readonly<Record<ResourceEnvironmentKey, string>>;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export class BackupFunctions {
  readonly functions: Record<FunctionName, nodejs.NodejsFunction>;

  constructor(scope: Construct, props: BackupFunctionsProps) {
    const { config, storage } = props;
    const values: Record<ResourceEnvironmentKey | SettingEnvironmentKey, string> &
      Partial<Record<ObjectLockEnvironmentKey, string>> = {
      ...props.resources,
      RETAIN_BASE_SNAPSHOTS: String(config.baseSnapshotsRetained),
      SNAPSHOT_READ_BUDGET: String(config.budgets.snapshotReadRequestsPerSecond),
      RANGE_WORKERS: String(config.budgets.rangeWorkers),
      ...objectLockEnvironment(config),
    };
    const created = {} as Record<FunctionName, nodejs.NodejsFunction>;
    for (const [name, entry] of manifestEntries()) {
      const environment = environmentOf(entry, { ...values, ...RUNTIME_ENVIRONMENT });
      created[name] = createFunction(scope, name, entry, environment, props);
    }
    this.functions = created;
    grantBackupSteps(scope, this.functions, props);
    acknowledgeRoleWildcards(scope, this.functions, storage);
  }
}

/**
 * The environment of one function: the manifest's keys with the deployment's values. The REST
 * API's own keys name resources created after the functions and are added by restore-api.ts.
 */
function environmentOf(
  entry: FunctionManifestEntry,
  values: Readonly<Partial<Record<EnvironmentKey, string>>>,
): Record<string, string> {
  // The API's keys beyond the common ones (the Object Lock keys among them are set only when the
  // configuration has Object Lock).
  const late: readonly string[] = FUNCTION_MANIFEST.api.environment.filter(
    (key) => !COMMON_ENVIRONMENT.includes(key),
  );
  const environment: Record<string, string> = {};
  for (const key of entry.environment) {
    const value = values[key];
    if (value !== undefined) environment[key] = value;
    else if (!late.includes(key))
      throw new Error(`no value for the environment key ${key} of ${entry.entry}`);
  }
  return environment;
}

function createFunction(
  scope: Construct,
  name: FunctionName,
  entry: FunctionManifestEntry,
  environment: Record<string, string>,
  props: BackupFunctionsProps,
): nodejs.NodejsFunction {
  const id = functionIdStem(name);
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    removalPolicy: props.removalPolicy,
  });
  // An own role per function instead of AWSLambdaBasicExecutionRole: logs to its own group only.
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description: `${entry.description} (Lambda ${name})`,
  });
  logGroup.grantWrite(role);
  const fn = new nodejs.NodejsFunction(scope, `${id}Function`, {
    role,
    entry: join(HANDLERS_DIR, entry.entry),
    handler: 'handler',
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: entry.memoryMb,
    timeout: Duration.seconds(entry.timeoutSeconds),
    description: entry.description,
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
  return fn;
}

/** The backup steps' grants: each step may touch only what it works on. */
function grantBackupSteps(
  scope: Construct,
  f: Record<FunctionName, nodejs.NodejsFunction>,
  props: BackupFunctionsProps,
): void {
  const stack = Stack.of(scope);
  const { key, table, imageBucket, workBucket } = props.storage;
  const snapshotArn = anyEc2Arn(scope, 'snapshot');
  const volumeArn = anyEc2Arn(scope, 'volume');
  const describe = (actions: string[]) => new iam.PolicyStatement({ actions, resources: ['*'] });

  // Lock items only: partition keys LOCK#<volumeId>.
  const lockAccess = new iam.PolicyStatement({
    actions: [
      'dynamodb:PutItem',
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:ConditionCheckItem',
      // A suspended run marks its locks released and parks on them (UpdateItem, also inside TransactWriteItems).
      'dynamodb:UpdateItem',
    ],
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['LOCK#*'] } },
  });
  for (const fn of [f.backupLock, f.cleanupBackup]) {
    fn.addToRolePolicy(lockAccess);
    key.grantEncryptDecrypt(fn);
  }
  // DescribeVolumes/DescribeSnapshots/DescribeSourceServers support no resource-level permissions.
  f.backupLock.addToRolePolicy(describe(['ec2:DescribeVolumes']));
  f.probeReplica.addToRolePolicy(describe(['ec2:DescribeVolumes', 'drs:DescribeSourceServers']));

  props.eventBus.grantPutEventsTo(f.replicaCheckpoint);
  props.eventBus.grantPutEventsTo(f.publishOutcome);
  props.topic.grantPublish(f.publishOutcome);

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

  // Backups from the primary: CreateSnapshots of marked primaries, in a policy of their own.
  if (f.replicaSnapshots.role !== undefined) grantPrimarySnapshots(scope, f.replicaSnapshots.role);

  // Engine: EBS direct reads of managed snapshots only.
  f.copyRange.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ebs:ListSnapshotBlocks', 'ebs:ListChangedBlocks', 'ebs:GetSnapshotBlock'],
      resources: [snapshotArn],
      conditions: { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: 'true' } },
    }),
  );
  if (props.config.replicaKmsKeyArns.length > 0) {
    f.copyRange.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kms:Decrypt', 'kms:DescribeKey'],
        resources: props.config.replicaKmsKeyArns,
        conditions: { StringEquals: { 'kms:ViaService': `ebs.${stack.region}.amazonaws.com` } },
      }),
    );
  }
  f.planBackup.addToRolePolicy(describe(['ec2:DescribeSnapshots']));
  // Image records and other catalog reads: partition keys VOLUME#<volumeId>.
  const imageRecords = (actions: string[]) =>
    new iam.PolicyStatement({
      actions,
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['VOLUME#*'] } },
    });
  f.planBackup.addToRolePolicy(imageRecords(['dynamodb:Query', 'dynamodb:GetItem']));
  // The scrub's chunk quarantine (GC#QUARANTINE items, lambdas/aws/dynamodb-chunk-quarantine.ts):
  // Plan Backup reads it and drops a volume whose parent is clean; Copy Range clears a repaired chunk.
  const quarantine = (actions: string[]) =>
    new iam.PolicyStatement({
      actions,
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [QUARANTINE_PARTITION] } },
    });
  f.planBackup.addToRolePolicy(quarantine(['dynamodb:Query', 'dynamodb:UpdateItem']));
  f.copyRange.addToRolePolicy(quarantine(['dynamodb:DeleteItem']));
  // UpdateItem: the commit's transaction registers the volume (pk VOLUME#~PROTECTED) by an update,
  // so the lifecycle jobs keep its images live after its replica volume is gone.
  f.commitImage.addToRolePolicy(
    imageRecords([
      'dynamodb:Query',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'dynamodb:ConditionCheckItem',
    ]),
  );
  // The commit gate reads the garbage-collection fence and checks it in the record's transaction.
  f.commitImage.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:ConditionCheckItem'],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['GC#FENCE'] } },
    }),
  );
  // The image record's transaction checks that the backup still holds its volume's lock (a
  // cancelled backup released it): ConditionCheck on the LOCK# item.
  f.commitImage.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:ConditionCheckItem'],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['LOCK#*'] } },
    }),
  );
  // The catalog reads image records and writes its own items: file versions (FV#), image catalog
  // records (CI#) and application records (CA#) — docs/catalog.md.
  f.buildCatalog.addToRolePolicy(imageRecords(['dynamodb:Query', 'dynamodb:GetItem']));
  // Commit Recovery Point reads the volumes' image records and devices, and writes its own items
  // (RP#<id> and RP#SERVER#<server>, docs/recovery-points.md) in one transaction. After writing,
  // it reads the images' RP#DETACHED marks and liveness (BatchGetItem) and takes images a deletion
  // started on out of the point (a transaction that puts or deletes the point, deletes RP#IMAGE#).
  f.commitRecoveryPoint.addToRolePolicy(imageRecords(['dynamodb:GetItem', 'dynamodb:BatchGetItem']));
  f.commitRecoveryPoint.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:ConditionCheckItem',
        'dynamodb:BatchGetItem',
        'dynamodb:DeleteItem',
      ],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['RP#*'] } },
    }),
  );
  f.commitRecoveryPoint.addToRolePolicy(describe(['ec2:DescribeVolumes']));
  key.grantEncryptDecrypt(f.commitRecoveryPoint);
  f.buildCatalog.addToRolePolicy(
    new iam.PolicyStatement({
      actions: [
        'dynamodb:Query',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:DeleteItem',
      ],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['FV#*', 'CI#*', 'CA#*'] } },
    }),
  );
  for (const fn of [f.planBackup, f.commitImage, f.buildCatalog]) key.grantEncryptDecrypt(fn);
  imageBucket.grantRead(f.buildCatalog);

  imageBucket.grantRead(f.planBackup, 'images/*');
  // The account-wide request budgets of the EBS direct APIs (docs/scale.md): items BUDGET#<family>.
  f.copyRange.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem'],
      resources: [table.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['BUDGET#*'] } },
    }),
  );
  key.grantEncryptDecrypt(f.copyRange);
  imageBucket.grantRead(f.copyRange);
  grantObjectPut(imageBucket, f.copyRange, 'chunks/*');
  grantObjectPut(imageBucket, f.copyRange, 'segments/*');
  imageBucket.grantRead(f.commitImage);
  grantObjectPut(imageBucket, f.commitImage, 'images/*');
  grantObjectPut(workBucket, f.planBackup, 'work/*');
  grantObjectPut(workBucket, f.copyRange, 'work/*');
  workBucket.grantRead(f.copyRange, 'work/*');
  workBucket.grantRead(f.commitImage, 'work/*');
}

/**
 * Why each wildcard cdk-nag reports (AwsSolutions-IAM5) is as narrow as AWS allows, keyed by the
 * finding as cdk-nag prints it.
 */
export function wildcardReasons(scope: Construct, storage: BackupStorage): Record<string, string> {
  const stack = Stack.of(scope);
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const image = nagArnToken(storage.imageBucket);
  const work = nagArnToken(storage.workBucket);
  return {
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
}

/** Each wildcard acknowledged on every function role, with its reason. */
function acknowledgeRoleWildcards(
  scope: Construct,
  functions: Record<FunctionName, nodejs.NodejsFunction>,
  storage: BackupStorage,
): void {
  const reasons = wildcardReasons(scope, storage);
  for (const fn of Object.values(functions)) {
    const role = fn.role;
    if (role === undefined) continue;
    Validations.of(role).acknowledge(
      ...Object.entries(reasons).map(([finding, reason]) => ({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason,
      })),
    );
  }
}
