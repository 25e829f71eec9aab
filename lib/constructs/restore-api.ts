/**
 * The REST API's part of the ReplicaBackup construct: the RestApi with IAM (SigV4) authorisation,
 * access logs and stage throttling, GET /health, every route of the routing table
 * (lambdas/core/api/routes.ts) with a Lambda proxy integration to the API function, the API
 * function's environment and least-privilege grants, and the restore worker's grants. Routes come
 * from the same table the handler dispatches on, so the deployed API cannot drift from the code.
 * Resources are added to the given scope (see backup-storage.ts for why).
 */
import { ArnFormat, Stack, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ROUTES } from '../../lambdas/core/api/routes.ts';
import { MANIFEST_KEY_PREFIX } from '../../lambdas/core/image/image-types.ts';
import { WORKFLOW_TABLE_KEYS } from '../../lambdas/aws/workflow-wiring.ts';
import { SERVER_SETTINGS_TABLE_KEYS } from '../../lambdas/aws/dynamodb-server-settings.ts';
import type { ReplicaBackupConfig } from '../config.ts';
import type { ApiEnvironmentKey } from '../function-manifest.ts';
import { nagArnToken } from './nag.ts';
import { IMAGE_RECORD_KEYS, RECOVERY_POINT_KEYS, RESTORE_JOB_KEYS } from './table-keys.ts';
import { grantObjectPut } from './bucket-grants.ts';
import { anyEc2Arn } from './ec2-arns.ts';
import { RESTORE_ID_TAG } from '../../lambdas/core/restore/volume-restore.ts';

/** Characters of the generated cursor key: 64 base64 characters decode to 48 bytes (≥ 32 needed). */
const CURSOR_KEY_CHARS = 64;
/** Key prefix of restored files and archives in the restore bucket (lambdas/core/file-restore). */
const RESTORE_KEY_PREFIX = 'restores/*';
/** Partition key prefixes the API reads: image records, catalog versions, catalog records, applications, locks. */
const API_READ_KEYS = ['VOLUME#*', 'FV#*', 'CI#*', 'CA#*', 'LOCK#*'];
/** Partition key prefix of the name index (catalog-keys.ts nameIndexPartitionKey). */
const NAME_INDEX_KEYS = ['FN#*'];
/** The catalog's name index (lambdas/aws/dynamodb-catalog.ts NAME_INDEX_NAME). */
const NAME_INDEX = 'GSI1';

export interface RestoreApiProps {
  /** The API is named `<prefix>-api`. */
  readonly prefix: string;
  /** Stage throttling (config.api). */
  readonly config: ReplicaBackupConfig;
  readonly healthFunction: lambda.IFunction;
  readonly apiFunction: lambda.Function;
  readonly restoreWorker: lambda.Function;
  readonly stateMachine: sfn.StateMachine;
  readonly stateMachineName: string;
  readonly table: dynamodb.TableV2;
  /** Encrypts the access logs and the cursor key; the API and the worker use it for the data. */
  readonly key: kms.Key;
  readonly imageBucket: s3.IBucket;
  readonly restoreBucket: s3.IBucket;
  readonly logRetention: logs.RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/** The REST API: shell, routes and the grants of the API function and the restore worker. */
export class RestoreApi {
  readonly api: apigateway.RestApi;

  constructor(scope: Construct, props: RestoreApiProps) {
    this.api = createRestApi(scope, props);
    wireRestoreApi({ ...props, scope, api: this.api });
  }
}

/** The RestApi with IAM authorisation on every method, access logs, throttling and GET /health. */
function createRestApi(scope: Construct, props: RestoreApiProps): apigateway.RestApi {
  const accessLogs = new logs.LogGroup(scope, 'ApiAccessLogs', {
    retention: props.logRetention,
    encryptionKey: props.key,
    removalPolicy: props.removalPolicy,
  });
  const api = new apigateway.RestApi(scope, 'Api', {
    restApiName: `${props.prefix}-api`,
    description: 'Replica backup proxy: catalog, backups and restores (IAM-authorised)',
    endpointConfiguration: { types: [apigateway.EndpointType.REGIONAL] },
    cloudWatchRole: true,
    cloudWatchRoleRemovalPolicy: props.removalPolicy,
    defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
    deployOptions: {
      stageName: 'v1',
      accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
      accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      loggingLevel: apigateway.MethodLoggingLevel.ERROR,
      tracingEnabled: true,
      throttlingRateLimit: props.config.api.throttlingRateLimit,
      throttlingBurstLimit: props.config.api.throttlingBurstLimit,
    },
  });
  const validator = api.addRequestValidator('RequestValidator', {
    validateRequestBody: true,
    validateRequestParameters: true,
  });
  api.root.addResource('health').addMethod('GET', new apigateway.LambdaIntegration(props.healthFunction), {
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

/** What wireRestoreApi needs: the API shell and the resources its functions are granted. */
export type RestoreApiWiring = Pick<
  RestoreApiProps,
  | 'apiFunction'
  | 'restoreWorker'
  | 'stateMachine'
  | 'stateMachineName'
  | 'table'
  | 'key'
  | 'imageBucket'
  | 'restoreBucket'
> & {
  readonly scope: Construct;
  readonly api: apigateway.RestApi;
};

function tableAccess(table: dynamodb.TableV2, actions: string[], leadingKeys: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions,
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys } },
  });
}

/** Adds every API route with IAM authorisation; returns the methods added. */
export function addApiRoutes(api: apigateway.RestApi, handler: lambda.IFunction): apigateway.Method[] {
  // One invoke permission for the whole API, not one per method and stage: every route runs this
  // one function, so a per-method grant allows nothing less, and a function's resource-based policy
  // holds at most 20 KB (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html):
  // two statements per route (the stage and test-invoke-stage) for 53 routes came to about 40 KB,
  // and CloudFormation's AddPermission calls fail past the limit (PolicyLengthExceededException).
  // The permission's source is the API's own execute-api ARN (`<api id>/*/*/*`).
  const integration = new apigateway.LambdaIntegration(handler, { scopePermissionToMethod: false });
  // API Gateway checks that path parameters are there; the handler validates everything else
  // (with the zod schemas, so that every refusal has the API's error shape).
  const validator = api.addRequestValidator('RouteValidator', {
    validateRequestBody: false,
    validateRequestParameters: true,
  });
  return ROUTES.map((route) =>
    api.root.resourceForPath(route.path).addMethod(route.method, integration, {
      authorizationType: apigateway.AuthorizationType.IAM,
      operationName: route.operationId,
      requestValidator: validator,
      requestParameters: Object.fromEntries(
        [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => [`method.request.path.${match[1]!}`, true]),
      ),
    }),
  );
}

/** Routes, the API function's environment and the grants of the API function and the restore worker. */
export function wireRestoreApi(wiring: RestoreApiWiring): void {
  const { scope, apiFunction: api, restoreWorker: worker, table, key } = wiring;
  const stack = Stack.of(scope);

  const cursorKey = new secretsmanager.Secret(scope, 'ApiCursorKey', {
    description: 'HMAC key of the REST API pagination cursors',
    encryptionKey: key,
    generateSecretString: { passwordLength: CURSOR_KEY_CHARS, excludePunctuation: true, includeSpace: false },
  });
  Validations.of(cursorKey).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      'The key only signs pagination cursors; rotating it just invalidates open cursors, so it is replaced by redeploying, not rotated.',
  });
  const environment: Record<ApiEnvironmentKey, string> = {
    STATE_MACHINE_ARN: wiring.stateMachine.stateMachineArn,
    RESTORE_FUNCTION_NAME: worker.functionName,
    // A dynamic reference: CloudFormation resolves it at deploy time; the template holds no key.
    API_CURSOR_KEY: cursorKey.secretValue.unsafeUnwrap(),
  };
  for (const [key, value] of Object.entries(environment)) api.addEnvironment(key, value);

  // API: reads of records, catalog and locks; restore job records; the name index.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:Query'], API_READ_KEYS));
  api.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RESTORE_JOB_KEYS));
  // POST /backups takes a volume's lock for the execution it starts (one conditional write) and
  // gives it back when the start fails.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:PutItem', 'dynamodb:DeleteItem'], ['LOCK#*']));
  // POST /backups {serverId} starts with the server's configured probe and waits (config-servers.ts).
  api.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem'], [...SERVER_SETTINGS_TABLE_KEYS]));
  api.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:Query'], RECOVERY_POINT_KEYS));
  // Recovery points are shown narrowed to their live images: BatchGetItem of the images' guard items and records.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:BatchGetItem'], ['VOLUME#*']));
  // POST /restores of a subdirectory reads its size from the catalog's tree pages along the path
  // (catalogued-subtree.ts); the catalog store reads tree pages with BatchGetItem.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:BatchGetItem'], ['FV#*#T#*']));
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/${NAME_INDEX}`],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': NAME_INDEX_KEYS } },
    }),
  );
  // GET /files/search: Queries on the name-search index (GSI3), keyed by volume id.
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/GSI3`],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['vol-*'] } },
    }),
  );
  // GET /restores: restore jobs from before the listing key get it once per table (a Scan that
  // reads only their keys and record, an UpdateItem each; dynamodb-job-store.ts backfillListing).
  api.addToRolePolicy(tableAccess(table, ['dynamodb:UpdateItem'], RESTORE_JOB_KEYS));
  api.addToRolePolicy(attributeScan(table, ['pk', 'sk', 'job']));
  // GET /images/{id}: image pointers (dynamodb-image-records.ts) are written for records from before
  // them when they are first looked up, and once per table by a Scan that reads only keys and ids.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:PutItem'], ['VOLUME#BY-ID#*']));
  api.addToRolePolicy(attributeScan(table, ['pk', 'sk', 'entity', 'volumeId', 'imageId']));
  // Every route taking an image id: records from before pointers, one Query on GSI2 by image id.
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/GSI2`],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['IMAGEID#*'] } },
    }),
  );
  // GET /restores: one Query on GSI2 over the restore jobs' listing key (dynamodb-job-store.ts).
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/GSI2`],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['JOBLIST#RESTORE#'] } },
    }),
  );
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['states:StartExecution', 'states:ListExecutions'],
      resources: [wiring.stateMachine.stateMachineArn],
    }),
  );
  const executions = stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${wiring.stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['states:DescribeExecution', 'states:GetExecutionHistory'],
      resources: [executions],
    }),
  );
  // POST /backups/{id}/cancel: StopExecution of the backup, then its snapshots (rbp:managed only)
  // are found by tag and deleted; a cancelled volume restore's snapshot likewise.
  api.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }),
  );
  // POST /backups/{id}/resume: RedriveExecution of a suspended backup's execution (backup-resume.ts),
  // on the backup state machine's executions only.
  api.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['states:RedriveExecution'], resources: [executions] }),
  );
  api.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots'], resources: ['*'] }));
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2:DeleteSnapshot'],
      resources: [anyEc2Arn(scope, 'snapshot')],
      conditions: { StringEquals: { 'aws:ResourceTag/rbp:managed': 'true' } },
    }),
  );
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2:DeleteSnapshot'],
      resources: [anyEc2Arn(scope, 'snapshot')],
      // Snapshots written by a volume restore carry rbp:restore-id.
      conditions: { Null: { 'aws:ResourceTag/rbp:restore-id': 'false' } },
    }),
  );
  api.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeVolumes'], resources: ['*'] }));
  // Workflows (POST/PUT/DELETE /workflows): their records (conditional writes on the revision), and
  // the target instance of a DirectMount (DescribeInstances supports no resource-level permissions).
  api.addToRolePolicy(
    tableAccess(
      table,
      ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
      [...WORKFLOW_TABLE_KEYS],
    ),
  );
  api.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
  // Lifecycle (POST /retention/apply, DELETE /images/{id}, PUT /images/{id}/legal-hold): image
  // records (VOLUME# items only) are put under or out of legal hold and marked deleting with
  // UpdateItem, and removed with their id guard; manifests are deleted.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:UpdateItem', 'dynamodb:DeleteItem'], IMAGE_RECORD_KEYS));
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:DeleteObject'],
      resources: [wiring.imageBucket.arnForObjects(`${MANIFEST_KEY_PREFIX}*`)],
    }),
  );
  worker.grantInvoke(api);
  // Presigned GETs are signed with the API's credentials: it needs to be allowed to read them.
  wiring.restoreBucket.grantRead(api, RESTORE_KEY_PREFIX);
  key.grantEncryptDecrypt(api);

  // Restore worker: images and catalog in, restored files and new snapshots out.
  worker.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:Query'], API_READ_KEYS));
  worker.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RESTORE_JOB_KEYS));
  wiring.imageBucket.grantRead(worker);
  // Restored files are uploaded in parts (s3-restore.ts).
  grantObjectPut(wiring.restoreBucket, worker, RESTORE_KEY_PREFIX, { multipart: true });
  // A file restore that ran out of time resumes in a new invocation of the worker: it lists its
  // open upload's parts to complete it, and invokes itself (a separate policy, so the function does
  // not depend on a statement that names it). When the upload is gone it reads the object's size:
  // HeadObject needs s3:GetObject (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html).
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListMultipartUploadParts', 's3:GetObject'],
      resources: [wiring.restoreBucket.arnForObjects(RESTORE_KEY_PREFIX)],
    }),
  );
  // Without s3:ListBucket, S3 answers HeadObject of a missing key with 403 instead of 404
  // (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html): the completed-upload
  // check after a crash between CompleteMultipartUpload and the job update would read "Forbidden".
  // Listing is allowed only under the restores' prefix.
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['s3:ListBucket'],
      resources: [wiring.restoreBucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [RESTORE_KEY_PREFIX] } },
    }),
  );
  new iam.Policy(scope, 'RestoreWorkerSelfInvoke', {
    roles: [worker.role!],
    statements: [
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [worker.functionArn] }),
    ],
  });
  key.grantEncryptDecrypt(worker);
  const snapshotArn = anyEc2Arn(scope, 'snapshot');
  // StartSnapshot only with the restore tag; blocks only into snapshots that carry it.
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ebs:StartSnapshot'],
      resources: [snapshotArn],
      conditions: { StringLike: { [`aws:RequestTag/${RESTORE_ID_TAG}`]: '*' } },
    }),
  );
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot'],
      resources: [snapshotArn],
      conditions: { StringLike: { [`aws:ResourceTag/${RESTORE_ID_TAG}`]: '*' } },
    }),
  );
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [snapshotArn],
      conditions: { StringEquals: { 'ec2:CreateAction': 'StartSnapshot' } },
    }),
  );
  worker.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeSnapshots'], resources: ['*'] }));

  addApiRoutes(wiring.api, api);

  const region = stack.region;
  const reasons: [string, string][] = [
    [
      `Resource::${nagArnToken(wiring.restoreBucket)}/restores/*`,
      'Restored files and archives are named by restore id and a random token, known only at run time.',
    ],
    [
      `Resource::${nagArnToken(wiring.imageBucket)}/${MANIFEST_KEY_PREFIX}*`,
      'Image deletion removes the manifest of an image chosen at run time; chunks and segments are not deletable by the API.',
    ],
    [
      `Resource::${nagArnToken(worker)}:*`,
      "CDK's invoke grant covers the restore worker's versions and aliases.",
    ],
    [
      `Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:${wiring.stateMachineName}:*`,
      'GET /backups/{id} describes, cancel stops and resume redrives executions of the backup state machine, named by backup ids known only at run time.',
    ],
    [
      `Resource::arn:<AWS::Partition>:ec2:${region}::snapshot/*`,
      'A volume restore writes a new snapshot, whose id exists only after StartSnapshot; tagging is limited to StartSnapshot. A cancel deletes only snapshots tagged rbp:managed=true or rbp:restore-id (aws:ResourceTag conditions).',
    ],
  ];
  for (const fn of [api, worker]) {
    if (fn.role === undefined) continue;
    Validations.of(fn.role).acknowledge(
      ...reasons.map(([finding, reason]) => ({ id: `AwsSolutions-IAM5[${finding}]`, reason })),
    );
  }
}

/** A Scan of the table that may read only `attributes` (a backfill's keys-only pass). */
function attributeScan(table: dynamodb.ITableV2, attributes: readonly string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions: ['dynamodb:Scan'],
    resources: [table.tableArn],
    conditions: {
      StringEquals: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
      'ForAllValues:StringLike': { 'dynamodb:Attributes': [...attributes] },
    },
  });
}
