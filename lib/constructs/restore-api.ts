/**
 * The REST API's part of the ReplicaBackup construct: every route of the routing table
 * (lambdas/core/api/routes.ts) on the RestApi with IAM (SigV4) authorisation and a Lambda proxy
 * integration to the API function, the API function's environment and least-privilege grants, and
 * the restore worker's grants. Routes come from the same table the handler dispatches on, so the
 * deployed API cannot drift from the code.
 */
import { ArnFormat, Stack, Validations, type CfnResource } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ROUTES } from '../../lambdas/core/api/routes.ts';

/** Characters of the generated cursor key: 64 base64 characters decode to 48 bytes (≥ 32 needed). */
const CURSOR_KEY_CHARS = 64;
/** Key prefix of restored files and archives in the restore bucket (lambdas/core/file-restore). */
const RESTORE_KEY_PREFIX = 'restores/*';
/** Partition key prefixes the API reads: image records, catalog versions, catalog records, applications, locks. */
const API_READ_KEYS = ['VOLUME#*', 'FV#*', 'CI#*', 'CA#*', 'LOCK#*'];
/** Partition key prefix of restore job records (file and volume restores). */
const RESTORE_JOB_KEYS = ['RESTORE#*'];
/** Partition key prefix of the name index (catalog-keys.ts nameIndexPartitionKey). */
const NAME_INDEX_KEYS = ['FN#*'];
/** Tag every snapshot a volume restore creates carries (volume-restore-jobs.ts): the IAM conditions use it. */
const RESTORE_TAG = 'rbp:restore-id';
/** The catalog's name index (lambdas/aws/dynamodb-catalog.ts NAME_INDEX_NAME). */
const NAME_INDEX = 'GSI1';

export interface RestoreApiWiring {
  readonly scope: Construct;
  readonly api: apigateway.RestApi;
  readonly apiFunction: lambda.Function;
  readonly restoreWorker: lambda.Function;
  readonly stateMachine: sfn.StateMachine;
  readonly stateMachineName: string;
  readonly table: dynamodb.TableV2;
  readonly key: kms.Key;
  readonly imageBucket: s3.IBucket;
  readonly restoreBucket: s3.IBucket;
}

function tableAccess(table: dynamodb.TableV2, actions: string[], leadingKeys: string[]): iam.PolicyStatement {
  return new iam.PolicyStatement({
    actions,
    resources: [table.tableArn],
    conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': leadingKeys } },
  });
}

/** Adds every API route with IAM authorisation; returns the methods added. */
export function addApiRoutes(api: apigateway.RestApi, handler: lambda.IFunction): apigateway.Method[] {
  const integration = new apigateway.LambdaIntegration(handler);
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
  api.addEnvironment('STATE_MACHINE_ARN', wiring.stateMachine.stateMachineArn);
  api.addEnvironment('RESTORE_FUNCTION_NAME', worker.functionName);
  // A dynamic reference: CloudFormation resolves it at deploy time; the template holds no key.
  api.addEnvironment('API_CURSOR_KEY', cursorKey.secretValue.unsafeUnwrap());

  // API: reads of records, catalog and locks; restore job records; the name index.
  api.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:Query'], API_READ_KEYS));
  api.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RESTORE_JOB_KEYS));
  api.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:Query'],
      resources: [`${table.tableArn}/index/${NAME_INDEX}`],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': NAME_INDEX_KEYS } },
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
  api.addToRolePolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeVolumes'], resources: ['*'] }));
  worker.grantInvoke(api);
  // Presigned GETs are signed with the API's credentials: it needs to be allowed to read them.
  wiring.restoreBucket.grantRead(api, RESTORE_KEY_PREFIX);
  key.grantEncryptDecrypt(api);

  // Restore worker: images and catalog in, restored files and new snapshots out.
  worker.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:Query'], API_READ_KEYS));
  worker.addToRolePolicy(tableAccess(table, ['dynamodb:GetItem', 'dynamodb:PutItem'], RESTORE_JOB_KEYS));
  wiring.imageBucket.grantRead(worker);
  wiring.restoreBucket.grantPut(worker, RESTORE_KEY_PREFIX);
  key.grantEncryptDecrypt(worker);
  const snapshotArn = stack.formatArn({
    service: 'ec2',
    account: '',
    resource: 'snapshot',
    resourceName: '*',
  });
  // StartSnapshot only with the restore tag; blocks only into snapshots that carry it.
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ebs:StartSnapshot'],
      resources: [snapshotArn],
      conditions: { StringLike: { [`aws:RequestTag/${RESTORE_TAG}`]: '*' } },
    }),
  );
  worker.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['ebs:PutSnapshotBlock', 'ebs:CompleteSnapshot'],
      resources: [snapshotArn],
      conditions: { StringLike: { [`aws:ResourceTag/${RESTORE_TAG}`]: '*' } },
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
  const arnToken = (construct: Construct) =>
    `<${stack.resolve((construct.node.defaultChild as CfnResource).logicalId) as string}.Arn>`;
  const reasons: [string, string][] = [
    [
      `Resource::${arnToken(wiring.restoreBucket)}/restores/*`,
      'Restored files and archives are named by restore id and a random token, known only at run time.',
    ],
    [
      `Resource::${arnToken(worker)}:*`,
      "CDK's invoke grant covers the restore worker's versions and aliases.",
    ],
    [
      `Resource::arn:<AWS::Partition>:states:${region}:<AWS::AccountId>:execution:${wiring.stateMachineName}:*`,
      'GET /backups/{id} describes executions of the backup state machine, named by backup ids known only at run time.',
    ],
    [
      `Resource::arn:<AWS::Partition>:ec2:${region}::snapshot/*`,
      'A volume restore writes a new snapshot, whose id exists only after StartSnapshot; tagging is limited to StartSnapshot.',
    ],
  ];
  for (const fn of [api, worker]) {
    if (fn.role === undefined) continue;
    Validations.of(fn.role).acknowledge(
      ...reasons.map(([finding, reason]) => ({ id: `AwsSolutions-IAM5[${finding}]`, reason })),
    );
  }
}
