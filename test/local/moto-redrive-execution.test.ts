/**
 * moto 5.2.1 has no RedriveExecution; the local stack's moto (local/moto/moto_patch.py, patch 13)
 * redrives a failed execution as Step Functions does
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html): from
 * the top-level state that failed, with the input that state had, the same ARN, start time and
 * $$.Execution.Input, without running the states that succeeded again; a SUCCEEDED execution is
 * refused with ExecutionNotRedrivable. A failure inside a Map is refused with a ValidationException
 * (AWS would redrive only the failed iterations; the patch does not).
 */
import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStateMachineCommand,
  GetExecutionHistoryCommand,
  RedriveExecutionCommand,
  SFNClient,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { LOCAL_STATE_MACHINE_ROLE, useLocalStack } from '../support/local-stack.ts';

const TABLE = 'redrive-read';
/** How long a two-state execution may take on a loaded machine, read every 100 ms. */
const EXECUTION_WAIT: ExecutionWait = { timeoutMs: 60_000, pollMs: 100 };

/** Mark (a Pass that must not run again), then Read: a DynamoDB GetItem that fails while the table is missing. */
const READ_MACHINE = {
  StartAt: 'Mark',
  States: {
    Mark: { Type: 'Pass', Result: 'marked', ResultPath: '$.mark', Next: 'Read' },
    Read: {
      Type: 'Task',
      Resource: 'arn:aws:states:::aws-sdk:dynamodb:getItem',
      Parameters: { TableName: TABLE, Key: { pk: { 'S.$': '$$.Execution.Input.key' } } },
      ResultSelector: { 'value.$': '$.Item.v.S' },
      ResultPath: '$.read',
      End: true,
    },
  },
};

/** A Map whose only iteration fails. */
const MAP_MACHINE = {
  StartAt: 'Each',
  States: {
    Each: {
      Type: 'Map',
      ItemsPath: '$.items',
      ItemProcessor: { StartAt: 'Boom', States: { Boom: { Type: 'Fail', Error: 'Boom', Cause: 'always' } } },
      End: true,
    },
  },
};

describe('RedriveExecution on the local stack', () => {
  const local = useLocalStack();
  let sfn: SFNClient;
  let dynamodb: DynamoDBClient;

  const machine = async (name: string, definition: object): Promise<string> =>
    (
      await sfn.send(
        new CreateStateMachineCommand({
          name,
          definition: JSON.stringify(definition),
          roleArn: LOCAL_STATE_MACHINE_ROLE,
        }),
      )
    ).stateMachineArn!;

  const settled = (executionArn: string): Promise<DescribeExecutionCommandOutput> =>
    executionEnded(sfn, executionArn, EXECUTION_WAIT);

  const history = async (executionArn: string): Promise<HistoryEvent[]> =>
    (await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }))).events ?? [];

  beforeAll(() => {
    sfn = new SFNClient(local.clientConfig());
    dynamodb = new DynamoDBClient(local.clientConfig());
  });
  afterAll(() => {
    sfn.destroy();
    dynamodb.destroy();
  });

  it('redrives a failed execution from the failed state only; a SUCCEEDED one is ExecutionNotRedrivable', async () => {
    const stateMachineArn = await machine('redrive-read', READ_MACHINE);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: 'first', input: JSON.stringify({ key: 'k1' }) }),
    );
    const failed = await settled(executionArn!);
    expect(failed).toMatchObject({ status: 'FAILED', redriveCount: 0, redriveStatus: 'REDRIVABLE' });
    expect(failed.redriveDate).toBeUndefined();
    const before = await history(executionArn!);
    const readEntered = before.filter((e) => e.type === 'TaskStateEntered');
    expect(readEntered.map((e) => e.stateEnteredEventDetails?.name)).toEqual(['Read']);

    await dynamodb.send(
      new CreateTableCommand({
        TableName: TABLE,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    await dynamodb.send(
      new PutItemCommand({ TableName: TABLE, Item: { pk: { S: 'k1' }, v: { S: 'value one' } } }),
    );

    const redriven = await sfn.send(new RedriveExecutionCommand({ executionArn }));
    const done = await settled(executionArn!);
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      executionArn,
      name: 'first',
      startDate: failed.startDate,
      input: JSON.stringify({ key: 'k1' }),
      redriveCount: 1,
      redriveDate: redriven.redriveDate,
      redriveStatus: 'NOT_REDRIVABLE',
      redriveStatusReason: 'Execution is SUCCEEDED and cannot be redriven.',
    });
    expect(JSON.parse(done.output!)).toEqual({ key: 'k1', mark: 'marked', read: { value: 'value one' } });

    const after = await history(executionArn!);
    expect(after.slice(0, before.length)).toEqual(before);
    const added = after.slice(before.length);
    expect(added.map((e) => e.type)).toEqual([
      'ExecutionRedriven',
      'TaskStateEntered',
      'TaskScheduled',
      'TaskStarted',
      'TaskSucceeded',
      'TaskStateExited',
      'ExecutionSucceeded',
    ]);
    expect(added[0]!.executionRedrivenEventDetails).toEqual({ redriveCount: 1 });
    expect(added.map((e) => e.id)).toEqual(added.map((_, index) => before.length + 1 + index));
    // The state is entered again with the input it had; Mark does not run again.
    expect(added[1]!.stateEnteredEventDetails).toEqual(readEntered[0]!.stateEnteredEventDetails);

    const refused = await sfn.send(new RedriveExecutionCommand({ executionArn })).then(
      () => undefined,
      (error: unknown) => error as { name: string; message: string; $metadata: { httpStatusCode: number } },
    );
    expect(refused).toMatchObject({
      name: 'ExecutionNotRedrivable',
      message: 'Execution is SUCCEEDED and cannot be redriven.',
      $metadata: { httpStatusCode: 400 },
    });
    expect((await history(executionArn!)).length).toBe(after.length);
  }, 120_000);

  it('refuses an execution that failed inside a Map with a ValidationException that says so', async () => {
    const stateMachineArn = await machine('redrive-map', MAP_MACHINE);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, name: 'map', input: JSON.stringify({ items: [1] }) }),
    );
    expect((await settled(executionArn!)).status).toBe('FAILED');
    const refused = await sfn.send(new RedriveExecutionCommand({ executionArn })).then(
      () => undefined,
      (error: unknown) => error as { name: string; message: string },
    );
    expect(refused).toMatchObject({
      name: 'ValidationException',
      message:
        'the local stack redrives an execution only from a top-level state that is not a Map or Parallel ' +
        `state; '${executionArn}' stopped in the Map state 'Each'`,
    });
    expect((await settled(executionArn!)).status).toBe('FAILED');
  }, 120_000);
});
