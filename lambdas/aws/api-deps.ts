/**
 * The API's dependencies in AWS (and on the local stack, where the same clients reach the local
 * gateway through AWS_ENDPOINT_URL): environment → SDK clients → adapters → ApiDeps.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { ApiDeps } from '../core/api/api-ports.ts';
import { StateMachineBackupLauncher } from '../core/api/backup-launcher.ts';
import { CatalogStoreReader, catalogStateOf } from '../core/api/catalog-reader.ts';
import { CursorCodec, MIN_CURSOR_KEY_BYTES } from '../core/api/cursor.ts';
import { timeOrderedIds } from '../core/api/ids.ts';
import { RecordDirectories } from '../core/api/record-directories.ts';
import { RestoreService } from '../core/api/restore-service.ts';
import { ValidationError } from '../core/errors.ts';
import { systemClock, type Clock } from '../core/ports.ts';
import { DynamoDbCatalogStore } from './dynamodb-catalog.ts';
import { DynamoDbRestoreJobStore } from './dynamodb-catalog-restore-jobs.ts';
import { DynamoDbImageRecordStore } from './dynamodb-image-records.ts';
import { DynamoDbLockReader } from './dynamodb-lock-reader.ts';
import { DynamoDbVolumeRestoreJobStore } from './dynamodb-volume-restore-jobs.ts';
import { Ec2ReplicaVolumes } from './ec2-replica-volumes.ts';
import { LambdaRestoreLauncher } from './lambda-restore-launcher.ts';
import { S3RestoreObjectStore } from './s3-restore.ts';
import { SfnBackupExecutions } from './sfn-backup-executions.ts';

/** Random bytes in the unguessable part of a restore object key: 128 bits. */
const RESTORE_KEY_TOKEN_BYTES = 16;

/** Environment variables of the API Lambda. */
export const apiEnvironmentSchema = z.object({
  /** The product's DynamoDB table (image records, catalog, locks, restore jobs). */
  TABLE_NAME: z.string().min(1),
  /** The backup state machine that POST /backups starts. */
  STATE_MACHINE_ARN: z.string().regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/),
  /** The restore bucket (presigned download URLs of restored files and archives). */
  RESTORE_BUCKET: z.string().min(3),
  /** The restore worker Lambda that POST /restores starts asynchronously. */
  RESTORE_FUNCTION_NAME: z.string().min(1),
  /** HMAC key of pagination cursors, base64 (at least 32 bytes). */
  API_CURSOR_KEY: z.string().refine((value) => Buffer.from(value, 'base64').length >= MIN_CURSOR_KEY_BYTES, {
    message: `must be base64 of at least ${MIN_CURSOR_KEY_BYTES} bytes`,
  }),
});
export type ApiEnvironment = z.infer<typeof apiEnvironmentSchema>;

export function readApiEnvironment(env: NodeJS.ProcessEnv): ApiEnvironment {
  const parsed = apiEnvironmentSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new ValidationError(`API Lambda environment is incomplete: ${problems}`);
  }
  return parsed.data;
}

export interface ApiClients {
  readonly ec2: EC2Client;
  readonly sfn: SFNClient;
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly lambda: LambdaClient;
}

/** Clients from the default configuration chain (AWS_ENDPOINT_URL locally), or with explicit config. */
export function defaultApiClients(config: Record<string, unknown> = {}): ApiClients {
  return {
    ec2: new EC2Client(config),
    sfn: new SFNClient(config),
    documents: DynamoDBDocumentClient.from(new DynamoDBClient(config), {
      marshallOptions: { removeUndefinedValues: true },
    }),
    s3: new S3Client({ ...config, forcePathStyle: true }),
    lambda: new LambdaClient(config),
  };
}

export function createApiDeps(
  environment: ApiEnvironment,
  clients: ApiClients,
  clock: Clock = systemClock,
): ApiDeps {
  const records = new DynamoDbImageRecordStore(clients.documents, environment.TABLE_NAME);
  const catalog = new DynamoDbCatalogStore(clients.documents, environment.TABLE_NAME);
  const directories = new RecordDirectories({
    replicas: new Ec2ReplicaVolumes(clients.ec2),
    records,
    cataloged: catalogStateOf(catalog),
  });
  return {
    volumes: directories,
    images: directories,
    catalog: new CatalogStoreReader({ store: catalog, images: directories }),
    backups: new StateMachineBackupLauncher({
      executions: new SfnBackupExecutions(clients.sfn, environment.STATE_MACHINE_ARN),
      locks: new DynamoDbLockReader(clients.documents, environment.TABLE_NAME),
      volumes: directories,
      clock,
    }),
    restores: new RestoreService({
      fileJobs: new DynamoDbRestoreJobStore(clients.documents, environment.TABLE_NAME),
      objects: new S3RestoreObjectStore(clients.s3, environment.RESTORE_BUCKET),
      volumeJobs: new DynamoDbVolumeRestoreJobStore(clients.documents, environment.TABLE_NAME),
      launcher: new LambdaRestoreLauncher(clients.lambda, environment.RESTORE_FUNCTION_NAME),
      clock,
      keyToken: () => randomBytes(RESTORE_KEY_TOKEN_BYTES).toString('hex'),
    }),
    cursors: new CursorCodec(Buffer.from(environment.API_CURSOR_KEY, 'base64')),
    ids: timeOrderedIds(clock, (count) => randomBytes(count)),
    clock,
  };
}

export function createAwsApiDeps(env: NodeJS.ProcessEnv): ApiDeps {
  return createApiDeps(readApiEnvironment(env), defaultApiClients());
}
