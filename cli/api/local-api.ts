/**
 * The product inside `rbp local serve`: the table, buckets and topic in moto, the backup handlers
 * and the restore worker as in-process Lambdas of the gateway, the backup state machine from
 * statemachines/backup.asl.json, and the REST API handler built by createApiDeps exactly as in
 * AWS. The returned URL is what `rbp local serve` prints as `API <url>` and what the other rbp
 * commands reach through AWS_ENDPOINT_URL.
 *
 * The replication agent's part (answering a checkpoint request) is played by a wrapper around the
 * checkpoint Lambda that reports the checkpoint on the replica at once, as the local stack's
 * simulated agent would.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import type { LocalStack } from '../../local/stack.ts';
import { LOCAL_ACCOUNT_ID } from '../../local/gateway/local-account.ts';
import type { LambdaHandler } from '../../local/gateway/lambda-functions.ts';

/** Names of the local deployment (one per local stack). */
export const LOCAL_DEPLOYMENT = {
  table: 'rbp-local',
  imageBucket: 'rbp-local-images',
  workBucket: 'rbp-local-work',
  restoreBucket: 'rbp-local-restores',
  topic: 'rbp-local-outcomes',
  stateMachine: 'rbp-local-backup',
  restoreFunction: 'RestoreWorkerFunction',
} as const;

const ASL_PATH = new URL('../../statemachines/backup.asl.json', import.meta.url);

function ignoreExisting(...names: string[]) {
  return (error: unknown) => {
    if (!names.includes((error as { name?: string }).name ?? '')) throw error;
  };
}

export interface LocalApi {
  /** Base URL of the REST API on the gateway. */
  readonly url: string;
  readonly stateMachineArn: string;
}

export async function deployLocalApi(stack: LocalStack): Promise<LocalApi> {
  const names = LOCAL_DEPLOYMENT;
  const config = {
    endpoint: stack.endpoint,
    region: stack.env.AWS_REGION,
    credentials: {
      accessKeyId: stack.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY!,
    },
  };
  const ddb = new DynamoDBClient(config);
  await ddb
    .send(
      new CreateTableCommand({
        TableName: names.table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk'].map((name) => ({
          AttributeName: name,
          AttributeType: 'S',
        })),
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'GSI1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    )
    .catch(ignoreExisting('ResourceInUseException'));
  ddb.destroy();
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  for (const bucket of [names.imageBucket, names.workBucket, names.restoreBucket]) {
    await s3
      .send(new CreateBucketCommand({ Bucket: bucket }))
      .catch(ignoreExisting('BucketAlreadyOwnedByYou'));
  }
  s3.destroy();
  const sns = new SNSClient(config);
  const topic = await sns.send(new CreateTopicCommand({ Name: names.topic }));
  sns.destroy();

  // The handlers read their configuration from the environment, as in AWS.
  Object.assign(process.env, stack.env, {
    TABLE_NAME: names.table,
    IMAGE_BUCKET: names.imageBucket,
    WORK_BUCKET: names.workBucket,
    RESTORE_BUCKET: names.restoreBucket,
    EVENT_BUS_NAME: 'default',
    TOPIC_ARN: topic.TopicArn!,
    RETAIN_BASE_SNAPSHOTS: '1',
  });
  const handlers: Record<string, LambdaHandler> = {
    BackupLockFunction: (await import('../../lambdas/handlers/backup-lock.ts')).handler,
    ProbeReplicaFunction: (await import('../../lambdas/handlers/probe-replica.ts')).handler,
    ReplicaSnapshotFunction: (await import('../../lambdas/handlers/replica-snapshots.ts')).handler,
    PlanBackupFunction: (await import('../../lambdas/handlers/plan-backup.ts')).handler,
    CopyRangeFunction: (await import('../../lambdas/handlers/copy-range.ts')).handler,
    CommitImageFunction: (await import('../../lambdas/handlers/commit-image.ts')).handler,
    BuildCatalogFunction: (await import('../../lambdas/handlers/build-catalog.ts')).handler,
    CleanupFunction: (await import('../../lambdas/handlers/cleanup-backup.ts')).handler,
    PublishOutcomeFunction: (await import('../../lambdas/handlers/publish-outcome.ts')).handler,
    [names.restoreFunction]: (await import('../../lambdas/handlers/restore-worker.ts')).handler,
  };
  for (const [name, handler] of Object.entries(handlers))
    stack.gateway.registerFunction(name, (event, context) => handler(event, context));
  const checkpoint = (await import('../../lambdas/handlers/replica-checkpoint.ts')).handler;
  stack.gateway.registerFunction('CheckpointFunction', async (event) => {
    const result = await checkpoint(event);
    if ('checkpointId' in result) {
      for (const volumeId of (event as { backup: { volumeIds: string[] } }).backup.volumeIds) {
        await stack.agent.reportCheckpoint(volumeId, { checkpointId: result.checkpointId });
      }
    }
    return result;
  });

  const definition = readFileSync(ASL_PATH, 'utf8').replace(/\$\{([A-Za-z0-9]+)\}/g, (_match, key: string) =>
    key.endsWith('FunctionArn')
      ? `arn:aws:lambda:${config.region}:${LOCAL_ACCOUNT_ID}:function:${key.replace(/Arn$/, '')}`
      : names.workBucket,
  );
  const sfn = new SFNClient(config);
  const machine = await sfn.send(
    new CreateStateMachineCommand({
      name: names.stateMachine,
      definition,
      roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local`,
    }),
  );
  sfn.destroy();

  Object.assign(process.env, {
    STATE_MACHINE_ARN: machine.stateMachineArn!,
    RESTORE_FUNCTION_NAME: names.restoreFunction,
    API_CURSOR_KEY: randomBytes(32).toString('base64'),
  });
  const { createApiHandler } = await import('../../lambdas/handlers/api.ts');
  const { createAwsApiDeps } = await import('../../lambdas/aws/api-deps.ts');
  stack.gateway.setApiHandler(createApiHandler(createAwsApiDeps(process.env)));
  return { url: `${stack.endpoint}/_api`, stateMachineArn: machine.stateMachineArn! };
}
