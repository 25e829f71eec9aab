/**
 * The contracts of the orchestration's ports against their in-memory fakes and their real adapters,
 * on one local stack (Step Functions, EventBridge Scheduler and DynamoDB in moto and the gateway):
 * - BackupExecutions: MemoryExecutions vs SfnBackupExecutions;
 * - WorkflowScheduler: MemoryWorkflowScheduler vs SchedulerWorkflowSchedules;
 * - VolumeRestoreJobStore: the codec over MemoryJobStore (also behind retried faults) vs over DynamoDbJobStore.
 */
import { CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { CreateStateMachineCommand, DescribeExecutionCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, expect, it } from 'vitest';
import { DynamoDbJobStore } from '../../lambdas/aws/dynamodb-job-store.ts';
import { SchedulerWorkflowSchedules } from '../../lambdas/aws/scheduler-workflow-schedules.ts';
import { executionArnOf, SfnBackupExecutions } from '../../lambdas/aws/sfn-backup-executions.ts';
import { LOCAL_ACCOUNT_ID } from '../../local/gateway/local-account.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fastRetry } from '../engine/engine-fixture.ts';
import { FaultyJobStore, retrying } from '../fakes/faulty-job-store.ts';
import { FixedClock, MemoryExecutions } from '../fakes/memory-api-ports.ts';
import { MemoryJobStore } from '../fakes/memory-job-store.ts';
import { MemoryWorkflowScheduler } from '../fakes/memory-workflow-scheduler.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { backupExecutionsContract } from './backup-executions.contract.ts';
import { volumeRestoreJobStoreContract } from './volume-restore-job-store.contract.ts';
import { workflowSchedulerContract } from './workflow-scheduler.contract.ts';

const local = useLocalStack();
const clients: { destroy(): void }[] = [];
afterAll(() => clients.forEach((client) => client.destroy()));
const ROLE_ARN = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-contract`;
/** Reads of a stopped execution's status before the test gives up on it ending. */
const MAX_END_READS = 200;
/** Pause between those reads. */
const END_READ_PAUSE_MS = 50;
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
  // A stand-in for the backup state machine that runs until it is stopped.
  const { stateMachineArn } = await sfn.send(
    new CreateStateMachineCommand({
      name: `rbp-backup-contract-${clients.length}`,
      roleArn: ROLE_ARN,
      definition: JSON.stringify({
        StartAt: 'Wait For Snapshots',
        States: { 'Wait For Snapshots': { Type: 'Wait', Seconds: 3600, End: true } },
      }),
    }),
  );
  return {
    executions: new SfnBackupExecutions(sfn, stateMachineArn!),
    untilEnded: async (name) => {
      const executionArn = executionArnOf(stateMachineArn!, name);
      for (let reads = 0; reads < MAX_END_READS; reads += 1) {
        if ((await sfn.send(new DescribeExecutionCommand({ executionArn }))).status !== 'RUNNING') return;
        await new Promise((resolve) => setTimeout(resolve, END_READ_PAUSE_MS));
      }
      throw new Error(`${name} still runs`);
    },
  };
});

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
