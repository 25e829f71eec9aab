/**
 * The contracts of the orchestration's ports against their in-memory fakes and their real adapters,
 * on one local stack (Step Functions, EventBridge Scheduler and DynamoDB in moto and the gateway):
 * - BackupExecutions: MemoryExecutions vs SfnBackupExecutions;
 * - WorkflowScheduler: MemoryWorkflowScheduler vs SchedulerWorkflowSchedules;
 * - VolumeRestoreJobStore: the codec over MemoryJobStore (also behind retried faults) vs over DynamoDbJobStore;
 * - PlanRunExecutions, WorkflowRunExecutions and the volume-restore launcher: the fakes of
 *   test/fakes/memory-run-executions.ts vs SfnPlanRunExecutions, SfnWorkflowRunExecutions and
 *   StateMachineVolumeRestoreLauncher;
 * - RestoreLauncher as the API wires it: MemoryRestoreLaunches vs RoutingRestoreLauncher over
 *   LambdaRestoreLauncher (a gateway function as the worker) and StateMachineVolumeRestoreLauncher;
 * - PlanEventPublisher, EventPublisher and Notifier: MemoryEventBus vs PlanOutcomePublisher,
 *   EventBridgePublisher and SnsNotifier (events seen by a rule's Lambda target, topic messages by
 *   an HTTP subscriber);
 * - BackupStarter (a plan task's backup): MemoryPlanBackups vs SfnPlanBackups;
 * - Destination (the plan run's checks): MemoryDestination vs S3Ec2Destination;
 * - QuiesceAgent: MemoryQuiesceAgent vs TagQuiesceAgent over Ec2ServerDirectory (the stack's
 *   simulated replication agent silenced: the harness answers as the agent).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { CreateTagsCommand, CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  SFNClient,
  StopExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, expect, it } from 'vitest';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import {
  LambdaRestoreLauncher,
  RoutingRestoreLauncher,
  StateMachineVolumeRestoreLauncher,
} from '../../lambdas/aws/lambda-restore-launcher.ts';
import { EventBridgePublisher, SnsNotifier } from '../../lambdas/aws/outcome-publishers.ts';
import {
  PlanOutcomePublisher,
  S3Ec2Destination,
  SfnPlanBackups,
  TagQuiesceAgent,
} from '../../lambdas/aws/plan-run-adapters.ts';
import { Ec2ServerDirectory } from '../../lambdas/aws/ec2-server-directory.ts';
import { SfnPlanRunExecutions } from '../../lambdas/aws/plan-wiring.ts';
import { SchedulerWorkflowSchedules } from '../../lambdas/aws/scheduler-workflow-schedules.ts';
import { executionArnOf, SfnBackupExecutions } from '../../lambdas/aws/sfn-backup-executions.ts';
import { SfnWorkflowRunExecutions } from '../../lambdas/aws/workflow-run-adapters.ts';
import { ConflictError } from '../../lambdas/core/errors.ts';
import type { RestoreLauncher } from '../../lambdas/core/api/restore-service.ts';
import type { PlanRunInput } from '../../lambdas/core/plans/run-service.ts';
import { LOCAL_ACCOUNT_ID } from '../../local/gateway/local-account.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { FaultyJobStore, retrying } from '../fakes/faulty-job-store.ts';
import { FixedClock, MemoryExecutions } from '../fakes/memory-api-ports.ts';
import { MemoryEventBus, type BusEvent, type TopicMessage } from '../fakes/memory-event-bus.ts';
import { MemoryDestination } from '../fakes/memory-destination.ts';
import { MemoryEc2Volumes } from '../fakes/memory-ec2-volumes.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryPlanBackups } from '../fakes/memory-plan-backups.ts';
import { MemoryQuiesceAgent } from '../fakes/memory-quiesce-agent.ts';
import {
  MemoryPlanRunExecutions,
  MemoryRestoreLaunches,
  MemoryVolumeRestoreExecutions,
  MemoryWorkflowRunExecutions,
  type MemoryNamedExecutions,
} from '../fakes/memory-run-executions.ts';
import { MemoryWorkflowScheduler } from '../fakes/memory-workflow-scheduler.ts';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { backupExecutionsContract } from './backup-executions.contract.ts';
import { destinationContract } from './destination.contract.ts';
import { publishersContract } from './event-publishers.contract.ts';
import { quiesceAgentContract } from './quiesce-agent.contract.ts';
import { restoreLauncherContract } from './restore-launcher.contract.ts';
import {
  FAILED_CAUSE,
  FAILED_ERROR,
  PLAN_BACKUP_SERVERS,
  planBackupsContract,
  SKIPPED_REASON,
  SUCCEEDED_IMAGES,
} from './plan-backups.contract.ts';
import {
  runExecutionsContract,
  type RunExecutionsExpectation,
  type RunExecutionsHarness,
} from './run-executions.contract.ts';
import { volumeRestoreJobStoreContract } from './volume-restore-job-store.contract.ts';
import { workflowSchedulerContract } from './workflow-scheduler.contract.ts';

const local = useLocalStack();
const clients: { destroy(): void }[] = [];
afterAll(() => clients.forEach((client) => client.destroy()));
const ROLE_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-contract`;
/** Pause between reads of a stopped execution's status (and of arrived deliveries). */
const END_READ_PAUSE_MS = 50;
/** How long a stopped execution may stay RUNNING before the test gives up on it ending. */
const END_WAIT: ExecutionWait = { timeoutMs: 10_000, pollMs: END_READ_PAUSE_MS };
/** A third of the job store's requests fail retryably before reaching it. */
const FAULT_RATE = 0.3;

function client<C extends { destroy(): void }>(made: C): C {
  clients.push(made);
  return made;
}

backupExecutionsContract('MemoryExecutions', () => {
  const executions = new MemoryExecutions(new FixedClock());
  return Promise.resolve({ executions, untilEnded: () => Promise.resolve() });
});
backupExecutionsContract('SfnBackupExecutions on the local stack', async () => {
  const sfn = client(new SFNClient(local.clientConfig()));
  const stateMachineArn = await waitingStateMachine(sfn, 'backup');
  return {
    executions: new SfnBackupExecutions(sfn, stateMachineArn),
    untilEnded: (name) => untilEnded(sfn, stateMachineArn, name),
  };
});

/** A stand-in for a state machine (`label`'s) that runs until it is stopped. */
async function waitingStateMachine(sfn: SFNClient, label: string): Promise<string> {
  const { stateMachineArn } = await sfn.send(
    new CreateStateMachineCommand({
      name: `rbp-${label}-contract-${clients.length}`,
      roleArn: ROLE_ARN,
      definition: JSON.stringify({
        StartAt: 'Wait For Snapshots',
        States: { 'Wait For Snapshots': { Type: 'Wait', Seconds: 3600, End: true } },
      }),
    }),
  );
  return stateMachineArn!;
}

async function untilEnded(sfn: SFNClient, stateMachineArn: string, name: string): Promise<void> {
  await executionEnded(sfn, executionArnOf(stateMachineArn, name), END_WAIT);
}

workflowSchedulerContract('MemoryWorkflowScheduler', () => Promise.resolve(new MemoryWorkflowScheduler()));
workflowSchedulerContract('SchedulerWorkflowSchedules on the local stack', async () => {
  const scheduler = client(new SchedulerClient(local.clientConfig()));
  const groupName = `rbp-workflows-${clients.length}`;
  await scheduler.send(new CreateScheduleGroupCommand({ Name: groupName }));
  return new SchedulerWorkflowSchedules(scheduler, {
    groupName,
    stateMachineArn: `arn:aws:states:us-east-1:${LOCAL_ACCOUNT_ID}:stateMachine:rbp-workflow-run`,
    roleArn: ROLE_ARN,
  });
});

volumeRestoreJobStoreContract('MemoryJobStore', () => Promise.resolve(new MemoryJobStore()));
const faulty: FaultyJobStore[] = [];
volumeRestoreJobStoreContract('MemoryJobStore behind injected faults, retried', () => {
  const store = new FaultyJobStore(new MemoryJobStore(), FAULT_RATE, faulty.length + 11);
  faulty.push(store);
  return Promise.resolve(retrying(store, fastRetry(7, 20)));
});
it('the faulty job store did inject faults', () => {
  expect(faulty.reduce((sum, s) => sum + s.injected.throttles + s.injected.serverErrors, 0)).toBeGreaterThan(
    0,
  );
});
let tables = 0;
volumeRestoreJobStoreContract('DynamoDbJobStore on moto', async () => {
  tables += 1;
  const table = `volume-restore-jobs-${tables}`;
  const documents: DynamoDBDocumentClient = client(await createCatalogTable(local.clientConfig(), table));
  return new DynamoDbJobStore(documents, table);
});

const PLAN_RUNS: RunExecutionsExpectation = {
  label: 'plan run',
  input: (_id, other) => ({ plan: other === true ? 'weekly' : 'nightly', trigger: 'api:contract' }),
  otherInput: true,
  stops: false,
  refusal: (id) => ({ type: ConflictError, message: new RegExp(`^plan run ${id} already exists$`) }),
};
const WORKFLOW_RUNS: RunExecutionsExpectation = {
  label: 'workflow run',
  input: (id) => ({ runId: id }),
  otherInput: false,
  stops: false,
  refusal: (id) => ({
    type: ConflictError,
    message: new RegExp(`^workflow run ${id} already has an execution$`),
  }),
};
const VOLUME_RESTORES: RunExecutionsExpectation = {
  label: 'volume restore',
  input: (id) => ({ restoreId: id }),
  otherInput: false,
  stops: true,
  refusal: (id) => ({
    type: ConflictError,
    message: new RegExp(`^volume restore ${id} already has an execution$`),
  }),
};
const planInput = (id: string, other?: boolean): PlanRunInput => PLAN_RUNS.input(id, other) as PlanRunInput;

/** The harness of a fake: its executions as it keeps them. */
function memoryRuns(
  fake: MemoryNamedExecutions,
  start: RunExecutionsHarness['start'],
  stop?: RunExecutionsHarness['stop'],
): Promise<RunExecutionsHarness> {
  return Promise.resolve({
    start,
    ...(stop === undefined ? {} : { stop }),
    execution: (id) => {
      const found = fake.executions.get(id);
      return Promise.resolve(
        found === undefined
          ? undefined
          : { input: JSON.parse(found.input) as unknown, running: found.running },
      );
    },
    end: (id) => Promise.resolve(fake.end(id)),
  });
}

/** The harness of an adapter on a fresh state machine of the local stack's Step Functions. */
async function sfnRuns(
  label: string,
  adapter: (sfn: SFNClient, stateMachineArn: string) => Pick<RunExecutionsHarness, 'start' | 'stop'>,
): Promise<RunExecutionsHarness> {
  const sfn = client(new SFNClient(local.clientConfig()));
  const stateMachineArn = await waitingStateMachine(sfn, label);
  const describe = async (id: string) => {
    try {
      return await sfn.send(
        new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn, id) }),
      );
    } catch (error) {
      if ((error as Error).name === 'ExecutionDoesNotExist') return undefined;
      throw error;
    }
  };
  return {
    ...adapter(sfn, stateMachineArn),
    execution: async (id) => {
      const found = await describe(id);
      return found === undefined
        ? undefined
        : { input: JSON.parse(found.input ?? 'null') as unknown, running: found.status === 'RUNNING' };
    },
    end: async (id) => {
      if ((await describe(id))?.status === 'RUNNING') {
        await sfn.send(
          new StopExecutionCommand({ executionArn: executionArnOf(stateMachineArn, id), error: 'Ended' }),
        );
      }
      await untilEnded(sfn, stateMachineArn, id);
    },
  };
}

runExecutionsContract('MemoryPlanRunExecutions', PLAN_RUNS, () => {
  const fake = new MemoryPlanRunExecutions();
  return memoryRuns(fake, (id, other) => fake.start(id, planInput(id, other)));
});
runExecutionsContract('SfnPlanRunExecutions on the local stack', PLAN_RUNS, () =>
  sfnRuns('plan-run', (sfn, arn) => {
    const port = new SfnPlanRunExecutions(sfn, arn);
    return { start: (id, other) => port.start(id, planInput(id, other)) };
  }),
);
runExecutionsContract('MemoryWorkflowRunExecutions', WORKFLOW_RUNS, () => {
  const fake = new MemoryWorkflowRunExecutions();
  return memoryRuns(fake, (id) => fake.start(id));
});
runExecutionsContract('SfnWorkflowRunExecutions on the local stack', WORKFLOW_RUNS, () =>
  sfnRuns('workflow-run', (sfn, arn) => {
    const port = new SfnWorkflowRunExecutions(sfn, arn);
    return { start: (id) => port.start(id) };
  }),
);
runExecutionsContract('MemoryVolumeRestoreExecutions', VOLUME_RESTORES, () => {
  const fake = new MemoryVolumeRestoreExecutions();
  return memoryRuns(
    fake,
    (restoreId) => fake.launch({ restoreId, kind: 'volume' }),
    (restoreId) => fake.stop({ restoreId, kind: 'volume' }),
  );
});
runExecutionsContract('StateMachineVolumeRestoreLauncher on the local stack', VOLUME_RESTORES, () =>
  sfnRuns('volume-restore', (sfn, arn) => {
    const port = new StateMachineVolumeRestoreLauncher(sfn, arn);
    return {
      start: (restoreId) => port.launch({ restoreId, kind: 'volume' }),
      stop: (restoreId) => port.stop({ restoreId, kind: 'volume' }),
    };
  }),
);

restoreLauncherContract('MemoryRestoreLaunches', () => {
  const fake = new MemoryRestoreLaunches();
  return memoryRuns(fake.volumes, () => Promise.resolve()).then((runs) => ({
    launcher: fake,
    workerEvents: () => Promise.resolve(fake.workerEvents),
    execution: runs.execution,
    end: runs.end,
  }));
});
restoreLauncherContract('RoutingRestoreLauncher on the local stack', async () => {
  const lambda = client(new LambdaClient(local.clientConfig()));
  const worker = `rbp-restore-worker-contract-${clients.length}`;
  const received: unknown[] = [];
  local.stack.gateway.registerFunction(worker, (event) => Promise.resolve(void received.push(event)));
  let launcher: RestoreLauncher | undefined;
  const runs = await sfnRuns('restore-routing', (sfn, arn) => {
    launcher = new RoutingRestoreLauncher(
      new LambdaRestoreLauncher(lambda, worker),
      new StateMachineVolumeRestoreLauncher(sfn, arn),
    );
    return { start: (restoreId) => launcher!.launch({ restoreId, kind: 'volume' }) };
  });
  return {
    launcher: launcher!,
    workerEvents: (count) => arrived(received, count),
    execution: runs.execution,
    end: runs.end,
  };
});

publishersContract('MemoryEventBus', () => {
  const bus = new MemoryEventBus();
  return Promise.resolve({
    plans: bus.plans,
    backups: bus.backups,
    notifier: bus.notifier,
    events: () => Promise.resolve(bus.events),
    messages: () => Promise.resolve(bus.messages),
  });
});

/** Reads of what arrived before a test gives up waiting for a delivery. */
const MAX_DELIVERY_READS = 200;
/** The HTTP endpoint moto's SNS posts each topic's messages to (`/<topic name>`). */
const topicMessages = new Map<string, TopicMessage[]>();
let subscriber: Server | undefined;
afterAll(() => subscriber?.close());

async function subscriberUrl(): Promise<string> {
  if (subscriber === undefined) {
    subscriber = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      request.on('end', () => {
        const posted = JSON.parse(body) as { Type?: string; Subject?: string; Message?: string };
        if (posted.Type === 'Notification') {
          topicMessages
            .get(request.url!.slice(1))
            ?.push({ subject: posted.Subject ?? '', message: posted.Message ?? '' });
        }
        response.end();
      });
    });
    await new Promise<void>((resolve) => subscriber!.listen(0, '127.0.0.1', resolve));
  }
  return `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}`;
}

async function arrived<T>(items: readonly T[], count: number): Promise<readonly T[]> {
  for (let reads = 0; items.length < count && reads < MAX_DELIVERY_READS; reads += 1) {
    await new Promise((resolve) => setTimeout(resolve, END_READ_PAUSE_MS));
  }
  return items;
}

/**
 * A fresh event bus whose events (sources rbp.plans and rbp.backup) a rule hands to a gateway
 * function, which keeps them in `received`.
 */
async function observedBus(events: EventBridgeClient): Promise<{ name: string; received: BusEvent[] }> {
  const name = `rbp-contract-bus-${clients.length}`;
  await events.send(new CreateEventBusCommand({ Name: name }));
  await events.send(
    new PutRuleCommand({
      Name: name,
      EventBusName: name,
      EventPattern: JSON.stringify({ source: ['rbp.plans', 'rbp.backup'] }),
    }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: name,
      EventBusName: name,
      Targets: [{ Id: 'contract', Arn: `arn:aws:lambda:us-east-1:${LOCAL_ACCOUNT_ID}:function:${name}` }],
    }),
  );
  const received: BusEvent[] = [];
  local.stack.gateway.registerFunction(name, (event) => {
    const delivered = event as { source: string; 'detail-type': string; detail: unknown };
    received.push({
      source: delivered.source,
      detailType: delivered['detail-type'],
      detail: delivered.detail,
    });
    return Promise.resolve();
  });
  return { name, received };
}

publishersContract(
  'PlanOutcomePublisher, EventBridgePublisher and SnsNotifier on the local stack',
  async () => {
    const events = client(new EventBridgeClient(local.clientConfig()));
    const sns = client(new SNSClient(local.clientConfig()));
    const { name, received } = await observedBus(events);
    const { TopicArn } = await sns.send(new CreateTopicCommand({ Name: name }));
    const messages: TopicMessage[] = [];
    topicMessages.set(name, messages);
    await sns.send(
      new SubscribeCommand({ TopicArn, Protocol: 'http', Endpoint: `${await subscriberUrl()}/${name}` }),
    );
    return {
      plans: new PlanOutcomePublisher(events, name, sns, TopicArn!),
      backups: new EventBridgePublisher(events, name),
      notifier: new SnsNotifier(sns, TopicArn!),
      events: (count) => arrived(received, count),
      messages: (count) => arrived(messages, count),
    };
  },
);

/** The servers of the plan-backup contract: two replica volumes for the one that runs, one for the others. */
function planBackupServers(): MemoryEc2Volumes {
  const directory = new MemoryEc2Volumes();
  const replica = (server: string) => ({ 'rbp:replica': 'true', 'rbp:source-server': server });
  directory.addVolume(replica(PLAN_BACKUP_SERVERS.runs));
  directory.addVolume(replica(PLAN_BACKUP_SERVERS.runs));
  directory.addVolume(replica(PLAN_BACKUP_SERVERS.succeeds));
  directory.addVolume(replica(PLAN_BACKUP_SERVERS.fails));
  directory.addVolume(replica(PLAN_BACKUP_SERVERS.skips));
  return directory;
}

const volumesIn = async (directory: MemoryEc2Volumes, server: string) =>
  ((await directory.get(server))?.volumes ?? []).map((v) => v.volumeId);

planBackupsContract('MemoryPlanBackups', () => {
  const directory = planBackupServers();
  const backups = new MemoryPlanBackups(directory);
  return Promise.resolve({
    backups,
    volumesOf: (server) => volumesIn(directory, server),
    inputOf: (backupId) => Promise.resolve(backups.executions.get(backupId)?.input),
    ended: (backupId) => {
      const server = backups.executions.get(backupId)!.input['serverId'];
      backups.end(
        backupId,
        server === PLAN_BACKUP_SERVERS.succeeds
          ? { status: 'SUCCEEDED', imageIds: SUCCEEDED_IMAGES }
          : server === PLAN_BACKUP_SERVERS.skips
            ? { status: 'SKIPPED', reason: SKIPPED_REASON }
            : { status: 'FAILED', error: FAILED_ERROR, cause: FAILED_CAUSE },
      );
      return Promise.resolve();
    },
  });
});
planBackupsContract('SfnPlanBackups on the local stack', async () => {
  const sfn = client(new SFNClient(local.clientConfig()));
  const directory = planBackupServers();
  // A stand-in for the backup state machine whose outcome goes by the server backed up.
  const { stateMachineArn } = await sfn.send(
    new CreateStateMachineCommand({
      name: `rbp-plan-backup-contract-${clients.length}`,
      roleArn: ROLE_ARN,
      definition: JSON.stringify({
        StartAt: 'By Server',
        States: {
          'By Server': {
            Type: 'Choice',
            Choices: [
              { Variable: '$.serverId', StringEquals: PLAN_BACKUP_SERVERS.succeeds, Next: 'Recovery Point' },
              { Variable: '$.serverId', StringEquals: PLAN_BACKUP_SERVERS.fails, Next: 'Image Failed' },
              { Variable: '$.serverId', StringEquals: PLAN_BACKUP_SERVERS.skips, Next: 'Backup Skipped' },
            ],
            Default: 'Wait For Snapshots',
          },
          'Recovery Point': {
            Type: 'Pass',
            Result: { result: { imageIds: SUCCEEDED_IMAGES } },
            ResultPath: '$.recoveryPoint',
            End: true,
          },
          'Image Failed': { Type: 'Fail', Error: FAILED_ERROR, Cause: FAILED_CAUSE },
          // As backup.asl.json's Acquire Lock leaves a skipped run's state.
          'Backup Skipped': {
            Type: 'Pass',
            Result: { result: { skipped: { reason: SKIPPED_REASON, heldBy: 'bk-0200' } } },
            ResultPath: '$.acquired',
            End: true,
          },
          'Wait For Snapshots': { Type: 'Wait', Seconds: 3600, End: true },
        },
      }),
    }),
  );
  return {
    backups: new SfnPlanBackups(sfn, stateMachineArn!, directory),
    volumesOf: (server) => volumesIn(directory, server),
    inputOf: async (backupId) => {
      const described = await sfn.send(
        new DescribeExecutionCommand({ executionArn: executionArnOf(stateMachineArn!, backupId) }),
      );
      return JSON.parse(described.input ?? 'null') as unknown;
    },
    ended: (backupId) => untilEnded(sfn, stateMachineArn!, backupId),
  };
});

destinationContract('MemoryDestination', () => {
  const destination = new MemoryDestination('rbp-images');
  const missing = new MemoryDestination('rbp-never');
  missing.objects = undefined;
  return Promise.resolve({
    destination,
    missing,
    put: (key, size) => Promise.resolve(void destination.objects!.set(key, size)),
  });
});
destinationContract('S3Ec2Destination on the local stack', async () => {
  const s3 = client(new S3Client(local.clientConfig()));
  const ec2 = client(new EC2Client(local.clientConfig()));
  const bucket = `rbp-destination-contract-${clients.length}`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    destination: new S3Ec2Destination(s3, ec2, bucket),
    missing: new S3Ec2Destination(s3, ec2, `${bucket}-never`),
    put: async (key, size) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(size) }));
    },
  };
});

const QUIESCE_NOW = new Date('2026-12-03T02:00:00.000Z');
const replicaOf = (server: string) => ({ 'rbp:replica': 'true', 'rbp:source-server': server });

quiesceAgentContract('MemoryQuiesceAgent', () => {
  const volumes = new MemoryEc2Volumes();
  const agent = new MemoryQuiesceAgent(volumes, new FixedClock(QUIESCE_NOW));
  return Promise.resolve({
    agent,
    now: QUIESCE_NOW.toISOString(),
    server: (name, count) =>
      Promise.resolve(Array.from({ length: count }, () => volumes.addVolume(replicaOf(name)))),
    answer: (volumeId, tags) => Promise.resolve(volumes.tag(volumeId, tags)),
    events: () => Promise.resolve(agent.events),
  });
});
quiesceAgentContract('TagQuiesceAgent on the local stack', async () => {
  local.stack.agent.setQuiesceAnswers(false);
  const events = client(new EventBridgeClient(local.clientConfig()));
  const ec2 = client(new EC2Client(local.clientConfig()));
  const { name, received } = await observedBus(events);
  const servers = new Ec2ServerDirectory(ec2);
  return {
    agent: new TagQuiesceAgent(events, name, ec2, servers, new FixedClock(QUIESCE_NOW)),
    now: QUIESCE_NOW.toISOString(),
    server: async (server, count) => {
      const ids: string[] = [];
      for (let n = 0; n < count; n += 1) {
        const created = await ec2.send(
          new CreateVolumeCommand({
            AvailabilityZone: 'us-east-1a',
            Size: 1,
            TagSpecifications: [
              {
                ResourceType: 'volume',
                Tags: Object.entries(replicaOf(server)).map(([Key, Value]) => ({ Key, Value })),
              },
            ],
          }),
        );
        ids.push(created.VolumeId!);
      }
      return ids;
    },
    answer: async (volumeId, tags) => {
      await ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId],
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      );
    },
    events: (count) => arrived(received, count),
  };
});
