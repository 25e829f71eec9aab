/**
 * The product deployed on the local stack — the local-code counterpart of lib/ (the CDK app): the
 * table, buckets and topic in moto, every Lambda handler (the backup steps and the restore worker)
 * registered in process with the gateway, the backup state machine from
 * statemachines/backup.asl.json, and the REST API handler built by createAwsApiDeps exactly as in
 * AWS. Used by `rbp local serve`, `npm run demo` and the moto end-to-end tests.
 *
 * The replication agent is not part of the product: the local stack's ReplicaSimulator answers the
 * `Checkpoint Requested` events the checkpoint Lambda puts (local/replica/replica-simulator.ts).
 *
 *   const stack = await startLocalStack({ stateDir });
 *   const product = await deployProduct(stack);
 *   await fetch(`${product.apiUrl}/backups`, { method: 'POST', body: JSON.stringify({ volumeId }) });
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ASL_RESOURCE_PLACEHOLDERS,
  BACKUP_DEFINITION_FILE,
  FUNCTION_MANIFEST,
  manifestEntries,
  stateMachineFunctionName,
  type ApiEnvironmentKey,
  type FunctionManifestEntry,
  type PlanEnvironmentKey,
  type ResourceEnvironmentKey,
} from '../lib/function-manifest.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createProductTable } from './product-table.ts';
import { CreateBucketCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import type { ObjectLockConfig } from '../lambdas/core/lifecycle/object-lock.ts';
import { SFNClient } from '@aws-sdk/client-sfn';
import { deployStateMachine } from './state-machine-deploy.ts';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import type { LocalStack } from './stack.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './gateway/local-account.ts';
import type { LambdaHandler } from './gateway/lambda-functions.ts';
import type { LocalPlanRunOptions } from './plan-run-deploy.ts';
import { sdkErrorName } from '../lambdas/aws/sdk-errors.ts';

/** Names of the resources of one local deployment. */
export interface ProductNames {
  readonly table: string;
  readonly imageBucket: string;
  readonly workBucket: string;
  readonly restoreBucket: string;
  readonly topic: string;
  readonly stateMachine: string;
  readonly restoreFunction: string;
  /** The EventBridge Scheduler group of the plans' schedules. */
  readonly scheduleGroup: string;
  /** The plan-run state machine. */
  readonly planRunStateMachine: string;
}

/** The names `rbp local serve` and the demo use (one deployment per local stack). */
export const LOCAL_DEPLOYMENT: ProductNames = {
  table: 'rbp-local',
  imageBucket: 'rbp-local-images',
  workBucket: 'rbp-local-work',
  restoreBucket: 'rbp-local-restores',
  topic: 'rbp-local-outcomes',
  stateMachine: 'rbp-local-backup',
  restoreFunction: 'RestoreWorkerFunction',
  scheduleGroup: 'rbp-local-plans',
  planRunStateMachine: 'rbp-local-plan-run',
};

export interface DeployOptions {
  /** Overrides of LOCAL_DEPLOYMENT's names. */
  readonly names?: Partial<ProductNames>;
  /** Extra handler configuration (e.g. RANGE_WORKERS), as the CDK app would set on the functions. */
  readonly handlerEnv?: Readonly<Record<string, string>>;
  /** The plan-run function's clock, Wait cap and backup polls (local/plan-run-deploy.ts). */
  readonly planRuns?: LocalPlanRunOptions;
  /**
   * Object Lock on the image bucket (lib/config.ts objectLock): the bucket is created with it and
   * the configuration's days as default retention, and the handlers get OBJECT_LOCK as in AWS.
   */
  readonly objectLock?: ObjectLockConfig;
}

export interface DeployedProduct {
  /** Base URL of the REST API on the gateway (`<endpoint>/_api`). */
  readonly apiUrl: string;
  readonly stateMachineArn: string;
  readonly topicArn: string;
  readonly names: ProductNames;
  /** The Lambda function names registered with the gateway. */
  readonly functions: readonly string[];
}

const ASL_PATH = new URL(`../${BACKUP_DEFINITION_FILE}`, import.meta.url);
const HANDLERS_DIR = new URL('../lambdas/handlers/', import.meta.url);

/** The handler of a manifest entry, loaded from its module as Lambda would. */
async function loadHandler(entry: FunctionManifestEntry): Promise<LambdaHandler> {
  const module = (await import(fileURLToPath(new URL(entry.entry, HANDLERS_DIR)))) as {
    handler: LambdaHandler;
  };
  return module.handler;
}

/** One base snapshot per volume is kept between backups, as the configuration's default. */
const LOCAL_BASE_SNAPSHOTS_RETAINED = 1;
/** The lifecycle job function's name on the local stack (garbage collection, scrub). */
export const LOCAL_LIFECYCLE_FUNCTION = 'LifecycleJobFunction';
/** The API's cursor HMAC key: 32 random bytes, the size of its SHA-256 output. */
const CURSOR_KEY_BYTES = 32;

/** The state directory's file that keeps the cursor key, so a listing's cursor outlives a restart. */
const CURSOR_KEY_FILE = 'api-cursor.key';

/** The stack's cursor key (base64), made once per state directory and read back after a restart. */
function cursorKeyOf(stateDir: string): string {
  const file = join(stateDir, CURSOR_KEY_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const key = randomBytes(CURSOR_KEY_BYTES).toString('base64');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

function ignoreExisting(...names: string[]) {
  return (error: unknown) => {
    if (!names.includes(sdkErrorName(error) ?? '')) throw error;
  };
}

/**
 * Deploys the product on a running local stack. The handlers read their configuration from
 * process.env (as in AWS), so this sets the stack's client environment and the deployment's
 * names there; one deployment per process.
 */
export async function deployProduct(
  stack: LocalStack,
  options: DeployOptions = {},
): Promise<DeployedProduct> {
  const names: ProductNames = { ...LOCAL_DEPLOYMENT, ...options.names };
  const config = {
    endpoint: stack.endpoint,
    region: stack.env.AWS_REGION,
    credentials: {
      accessKeyId: stack.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: stack.env.AWS_SECRET_ACCESS_KEY!,
    },
  };
  const ddb = new DynamoDBClient(config);
  await createProductTable(ddb, names.table);
  ddb.destroy();
  const s3 = new S3Client({ ...config, forcePathStyle: true });
  for (const bucket of [names.imageBucket, names.workBucket, names.restoreBucket]) {
    const locked = bucket === names.imageBucket && options.objectLock !== undefined;
    await s3
      .send(
        new CreateBucketCommand({ Bucket: bucket, ...(locked ? { ObjectLockEnabledForBucket: true } : {}) }),
      )
      .catch(ignoreExisting('BucketAlreadyOwnedByYou'));
  }
  if (options.objectLock !== undefined) {
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: names.imageBucket,
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: {
            DefaultRetention: { Mode: options.objectLock.mode, Days: options.objectLock.retentionDays },
          },
        },
      }),
    );
  }
  s3.destroy();
  const sns = new SNSClient(config);
  const topic = await sns.send(new CreateTopicCommand({ Name: names.topic }));
  sns.destroy();

  const resources: Record<ResourceEnvironmentKey, string> = {
    TABLE_NAME: names.table,
    IMAGE_BUCKET: names.imageBucket,
    WORK_BUCKET: names.workBucket,
    RESTORE_BUCKET: names.restoreBucket,
    EVENT_BUS_NAME: 'default',
    TOPIC_ARN: topic.TopicArn!,
  };
  Object.assign(process.env, stack.env, options.handlerEnv ?? {}, resources, {
    RETAIN_BASE_SNAPSHOTS: String(LOCAL_BASE_SNAPSHOTS_RETAINED),
  });
  if (options.objectLock !== undefined) process.env.OBJECT_LOCK = JSON.stringify(options.objectLock);
  // The functions the state machine invokes, under the names its placeholders give them.
  const functions: string[] = [];
  const functionArns = new Map<string, string>();
  for (const [, entry] of manifestEntries()) {
    if (entry.aslPlaceholder === undefined) continue;
    const name = stateMachineFunctionName(entry.aslPlaceholder);
    const handler = await loadHandler(entry);
    stack.gateway.registerFunction(name, (event, context) => handler(event, context));
    functions.push(name);
    functionArns.set(
      entry.aslPlaceholder,
      `arn:aws:lambda:${config.region}:${LOCAL_ACCOUNT_ID}:function:${name}`,
    );
  }
  const worker = await loadHandler(FUNCTION_MANIFEST.restoreWorker);
  stack.gateway.registerFunction(names.restoreFunction, (event, context) => worker(event, context));
  functions.push(names.restoreFunction);
  // Garbage collection, scrub and restore-test runs: the function the API starts (lib/constructs/lifecycle-jobs.ts).
  const lifecycleJob = await loadHandler(FUNCTION_MANIFEST.lifecycleJob);
  stack.gateway.registerFunction(LOCAL_LIFECYCLE_FUNCTION, (event, context) => lifecycleJob(event, context));
  functions.push(LOCAL_LIFECYCLE_FUNCTION);
  process.env.LIFECYCLE_FUNCTION_NAME = LOCAL_LIFECYCLE_FUNCTION;
  await deployPlanRunExpiryRule(config, names);
  // Volume restores: their step function and state machine; the API starts it (lib/constructs/volume-restores.ts).
  const { deployVolumeRestores } = await import('./volume-restore-deploy.ts');
  const volumeRestores = await deployVolumeRestores(stack, config, {
    stateMachine: `${names.table}-volume-restore`,
    workBucket: names.workBucket,
  });
  functions.push(volumeRestores.functionName);
  Object.assign(process.env, volumeRestores.environment);

  const resourcePlaceholders: Readonly<Record<string, ResourceEnvironmentKey>> = ASL_RESOURCE_PLACEHOLDERS;
  const definition = readFileSync(ASL_PATH, 'utf8').replace(
    /\$\{([A-Za-z0-9]+)\}/g,
    (_match, key: string) => {
      const resource = resourcePlaceholders[key];
      const value = resource === undefined ? functionArns.get(key) : resources[resource];
      if (value === undefined)
        throw new Error(`${BACKUP_DEFINITION_FILE}: no value for the placeholder \${${key}}`);
      return value;
    },
  );
  const sfn = new SFNClient(config);
  // A restart with a changed ASL file updates the kept machine (state-machine-deploy.ts).
  const machine = await deployStateMachine(sfn, {
    name: names.stateMachine,
    definition,
    roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local`,
  });
  sfn.destroy();

  const planEnvironment = await deployPlanResources(config, names);
  const apiEnvironment: Record<ApiEnvironmentKey, string> = {
    STATE_MACHINE_ARN: machine.stateMachineArn,
    RESTORE_FUNCTION_NAME: names.restoreFunction,
    API_CURSOR_KEY: cursorKeyOf(stack.stateDir),
  };
  Object.assign(process.env, apiEnvironment, planEnvironment);
  // Plan runs: their function and state machine (lib/constructs/plan-runs.ts).
  const { deployPlanRuns } = await import('./plan-run-deploy.ts');
  await deployPlanRuns(stack, config, names.planRunStateMachine, options.planRuns);
  // Workflow runs: their function and state machine (lib/constructs/workflow-runs.ts).
  const { deployWorkflowRuns } = await import('./workflow-run-deploy.ts');
  const workflowRuns = await deployWorkflowRuns(stack, config, `${names.table}-workflow-run`);
  functions.push(workflowRuns.functionName);
  Object.assign(process.env, workflowRuns.environment);
  // Workflow schedules (lib/constructs/workflow-schedules.ts): their group, the role Scheduler would assume.
  Object.assign(process.env, await deployWorkflowScheduleGroup(config, names));
  const { createApiHandler } = await import('../lambdas/handlers/api.ts');
  const { createAwsApiDeps } = await import('../lambdas/aws/wiring.ts');
  stack.gateway.setApiHandler(createApiHandler(createAwsApiDeps(process.env)));
  return {
    apiUrl: `${stack.endpoint}/_api`,
    stateMachineArn: machine.stateMachineArn,
    topicArn: topic.TopicArn!,
    names,
    functions,
  };
}

/**
 * The rule that hands every `Plan Run Finished` event to the lifecycle function (the expiry of the
 * run's servers; lib/constructs/lifecycle-jobs.ts), in moto; the gateway delivers it
 * (local/gateway/local-event-rules.ts).
 */
export async function deployPlanRunExpiryRule(
  config: {
    endpoint: string;
    region: string | undefined;
    credentials: { accessKeyId: string; secretAccessKey: string };
  },
  names: ProductNames,
): Promise<void> {
  const { EventBridgeClient, PutRuleCommand, PutTargetsCommand } =
    await import('@aws-sdk/client-eventbridge');
  const { PLAN_EVENT_SOURCE, PLAN_RUN_FINISHED } =
    await import('../lambdas/core/lifecycle/lifecycle-jobs.ts');
  const events = new EventBridgeClient(config);
  const rule = `${names.table}-plan-run-expiry`;
  try {
    await events.send(
      new PutRuleCommand({
        Name: rule,
        EventBusName: 'default',
        State: 'ENABLED',
        EventPattern: JSON.stringify({ source: [PLAN_EVENT_SOURCE], 'detail-type': [PLAN_RUN_FINISHED] }),
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: rule,
        EventBusName: 'default',
        Targets: [
          {
            Id: 'lifecycle-job',
            Arn: `arn:aws:lambda:${config.region ?? LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${LOCAL_LIFECYCLE_FUNCTION}`,
          },
        ],
      }),
    );
  } finally {
    events.destroy();
  }
}

/**
 * The workflows' schedule group in moto (lib/constructs/workflow-schedules.ts) and the API's
 * environment for it; the local scheduler fires its schedules like any other.
 */
async function deployWorkflowScheduleGroup(
  config: {
    endpoint: string;
    region: string | undefined;
    credentials: { accessKeyId: string; secretAccessKey: string };
  },
  names: ProductNames,
): Promise<{ WORKFLOW_SCHEDULE_GROUP: string; WORKFLOW_SCHEDULER_ROLE_ARN: string }> {
  const group = `${names.table}-workflows`;
  const schedulerClient = new SchedulerClient(config);
  await schedulerClient
    .send(new CreateScheduleGroupCommand({ Name: group }))
    .catch(ignoreExisting('ConflictException'));
  schedulerClient.destroy();
  return {
    WORKFLOW_SCHEDULE_GROUP: group,
    WORKFLOW_SCHEDULER_ROLE_ARN: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local-workflow-scheduler`,
  };
}

/**
 * Protection plans' resources (lib/constructs/plan-runs.ts): the schedule group in moto, and the
 * plan environment of the API (the plan-run state machine's ARN, the role Scheduler would assume).
 */
async function deployPlanResources(
  config: {
    endpoint: string;
    region: string | undefined;
    credentials: { accessKeyId: string; secretAccessKey: string };
  },
  names: ProductNames,
): Promise<Record<PlanEnvironmentKey, string>> {
  const schedulerClient = new SchedulerClient(config);
  await schedulerClient
    .send(new CreateScheduleGroupCommand({ Name: names.scheduleGroup }))
    .catch(ignoreExisting('ConflictException'));
  schedulerClient.destroy();
  return {
    PLAN_SCHEDULE_GROUP: names.scheduleGroup,
    PLAN_RUN_STATE_MACHINE_ARN: `arn:aws:states:${config.region ?? LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:${names.planRunStateMachine}`,
    PLAN_SCHEDULER_ROLE_ARN: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local-scheduler`,
  };
}
