/**
 * The product's storage: the KMS key, the access log bucket, the image, work and restore buckets
 * and the DynamoDB table (key schema: docs/catalog.md).
 *
 * Like every part of {@link ReplicaBackup}, it adds its resources to the scope it is given (the
 * ReplicaBackup construct), not to a child construct of its own: CloudFormation logical IDs are
 * derived from construct paths, and a retained bucket, table or key whose logical ID changes is
 * replaced on the next deployment
 * (https://docs.aws.amazon.com/cdk/v2/guide/identifiers.html#identifiers_logical_ids).
 */
import { ArnFormat, Duration, Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { ReplicaBackupConfig } from '../config.ts';
import { objectLockConfigOf } from '../config.ts';
import type { ObjectLockEnvironmentKey } from '../function-manifest.ts';
import { NAME_SEARCH_ATTRIBUTES } from '../../lambdas/core/catalog/catalog-keys.ts';

/** Days the work area (Map items, range summaries) is kept: covers the 14-day redrive window. */
export const WORK_EXPIRATION_DAYS = 30;
/** Days before an incomplete multipart upload is aborted and its parts freed. */
export const INCOMPLETE_UPLOAD_DAYS = 7;
/** Days access logs are kept. */
export const ACCESS_LOG_EXPIRATION_DAYS = 365;
/** Restored files are downloaded within hours: an interrupted upload of one is aborted after a day. */
const RESTORE_INCOMPLETE_UPLOAD_DAYS = 1;

export interface BackupStorageProps {
  /** The validated configuration: object lock, retention of versions and restores, removal policy. */
  readonly config: ReplicaBackupConfig;
  /** Prefix of the key's description. */
  readonly prefix: string;
  /** What happens to the key, buckets and table when the stack is deleted. */
  readonly removalPolicy: RemovalPolicy;
}

export class BackupStorage {
  readonly key: kms.Key;
  readonly logBucket: s3.Bucket;
  readonly imageBucket: s3.Bucket;
  readonly workBucket: s3.Bucket;
  readonly restoreBucket: s3.Bucket;
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, props: BackupStorageProps) {
    const { config, prefix, removalPolicy } = props;
    const destroy = config.removalPolicy === 'destroy';
    this.key = productKey(scope, prefix, removalPolicy);

    this.logBucket = new s3.Bucket(scope, 'AccessLogBucket', {
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
      new s3.Bucket(scope, id, {
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
            abortIncompleteMultipartUploadAfter: Duration.days(RESTORE_INCOMPLETE_UPLOAD_DAYS),
          },
        ],
      },
      'restore-bucket/',
    );

    // Key schema: docs/catalog.md; local/product-table.ts is the same table on the local stack.
    this.table = new dynamodb.TableV2(scope, 'Table', {
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
        {
          // The name-search index (docs/catalog.md): version items by volume and stored name, on
          // attributes they always had, so DynamoDB fills it for catalogs written before it existed.
          indexName: 'GSI3',
          partitionKey: { name: 'volumeId', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'name', type: dynamodb.AttributeType.STRING },
          projectionType: dynamodb.ProjectionType.INCLUDE,
          nonKeyAttributes: [...NAME_SEARCH_ATTRIBUTES],
        },
      ],
    });
  }
}

/**
 * `OBJECT_LOCK` for the functions that write, extend or delete image objects (lib/function-manifest.ts
 * gives it to them): the lambdas' ObjectLockConfig as JSON, or nothing without Object Lock.
 */
export function objectLockEnvironment(
  config: Pick<ReplicaBackupConfig, 'objectLock'>,
): Partial<Record<ObjectLockEnvironmentKey, string>> {
  const lock = objectLockConfigOf(config);
  return lock === undefined ? {} : { OBJECT_LOCK: JSON.stringify(lock) };
}

/**
 * With Object Lock: s3:PutObjectRetention on exactly the prefixes each role extends or writes with
 * a retain-until date (such a PUT needs it too); without it nobody gets it. Reading a lock
 * (HeadObject's lock headers) needs s3:GetObjectRetention, which the roles' s3:GetObject* read
 * grants already include. No role gets s3:BypassGovernanceRetention: nothing of the product may
 * shorten or remove a lock (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html).
 */
export function grantObjectLockRetention(
  config: Pick<ReplicaBackupConfig, 'objectLock'>,
  bucket: s3.IBucket,
  grants: readonly (readonly [iam.IGrantable, readonly string[]])[],
): void {
  if (config.objectLock === undefined) return;
  for (const [grantee, prefixes] of grants) {
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObjectRetention'],
      resourceArns: prefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
    });
  }
}

/** The customer-managed key of the buckets, table, topic, schedules and log groups. */
function productKey(scope: Construct, prefix: string, removalPolicy: RemovalPolicy): kms.Key {
  const stack = Stack.of(scope);
  const key = new kms.Key(scope, 'Key', {
    description: `${prefix}: images, catalog, work area, restores and notifications`,
    enableKeyRotation: true,
    removalPolicy,
  });
  // CloudWatch alarms publish to the outcome topic, which this key encrypts.
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
      actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      resources: ['*'],
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
  );
  // CloudWatch Logs encrypts the state machine's and the API's log groups with this key.
  key.addToResourcePolicy(
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
  return key;
}
