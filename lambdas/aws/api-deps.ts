/**
 * The API's dependencies in AWS (and on the local stack, where the same clients reach the local
 * gateway through AWS_ENDPOINT_URL): environment → SDK clients → adapters → ApiDeps.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { ApiDeps, CatalogReader, RestoreJobs } from '../core/api/api-ports.ts';
import { StateMachineBackupLauncher } from '../core/api/backup-launcher.ts';
import { CursorCodec, MIN_CURSOR_KEY_BYTES } from '../core/api/cursor.ts';
import { timeOrderedIds } from '../core/api/ids.ts';
import { RecordDirectories } from '../core/api/record-directories.ts';
import { PermanentError, ValidationError } from '../core/errors.ts';
import { systemClock, type Clock } from '../core/ports.ts';
import { DynamoDbImageRecordStore } from './dynamodb-image-records.ts';
import { DynamoDbLockReader } from './dynamodb-lock-reader.ts';
import { Ec2ReplicaVolumes } from './ec2-replica-volumes.ts';
import { SfnBackupExecutions } from './sfn-backup-executions.ts';

/** Environment variables of the API Lambda. */
export const apiEnvironmentSchema = z.object({
  /** The product's DynamoDB table (image records, catalog, locks, restore jobs). */
  TABLE_NAME: z.string().min(1),
  /** The backup state machine that POST /backups starts. */
  STATE_MACHINE_ARN: z.string().regex(/^arn:aws[\w-]*:states:[\w-]+:\d{12}:stateMachine:[\w-]+$/),
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
}

export function defaultApiClients(): ApiClients {
  return {
    ec2: new EC2Client({}),
    sfn: new SFNClient({}),
    documents: DynamoDBDocumentClient.from(new DynamoDBClient({}), {
      marshallOptions: { removeUndefinedValues: true },
    }),
  };
}

/** Until the catalog is wired in, catalog routes fail loudly (500) instead of answering wrongly. */
const catalogNotWired: CatalogReader = {
  listDirectory: () => Promise.reject(new PermanentError('the catalog is not wired into this API yet')),
  listVersions: () => Promise.reject(new PermanentError('the catalog is not wired into this API yet')),
  findByName: () => Promise.reject(new PermanentError('the catalog is not wired into this API yet')),
  listApplications: () => Promise.reject(new PermanentError('the catalog is not wired into this API yet')),
};
const restoresNotWired: RestoreJobs = {
  start: () => Promise.reject(new PermanentError('restore jobs are not wired into this API yet')),
  get: () => Promise.reject(new PermanentError('restore jobs are not wired into this API yet')),
};

export function createApiDeps(
  environment: ApiEnvironment,
  clients: ApiClients,
  clock: Clock = systemClock,
): ApiDeps {
  const records = new DynamoDbImageRecordStore(clients.documents, environment.TABLE_NAME);
  const directories = new RecordDirectories({
    replicas: new Ec2ReplicaVolumes(clients.ec2),
    records,
    cataloged: () => Promise.resolve(false),
  });
  return {
    volumes: directories,
    images: directories,
    catalog: catalogNotWired,
    backups: new StateMachineBackupLauncher({
      executions: new SfnBackupExecutions(clients.sfn, environment.STATE_MACHINE_ARN),
      locks: new DynamoDbLockReader(clients.documents, environment.TABLE_NAME),
      volumes: directories,
      clock,
    }),
    restores: restoresNotWired,
    cursors: new CursorCodec(Buffer.from(environment.API_CURSOR_KEY, 'base64')),
    ids: timeOrderedIds(clock, (count) => randomBytes(count)),
    clock,
  };
}

export function createAwsApiDeps(env: NodeJS.ProcessEnv): ApiDeps {
  return createApiDeps(readApiEnvironment(env), defaultApiClients());
}
