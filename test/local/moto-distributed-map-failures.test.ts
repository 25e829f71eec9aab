/**
 * A Distributed Map's tolerated failure threshold on the local stack's moto (local/moto/moto_patch.py,
 * patch 14). On AWS, a Map Run whose failed child executions exceed the threshold
 * (ToleratedFailureCount, ToleratedFailurePercentage; neither given: no failure tolerated) fails, and
 * the Map state fails with States.ExceedToleratedFailureThreshold, which its Retry and Catch see
 * (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold).
 * moto 5.2.1 counted the failed children and let the Map state succeed without their outputs.
 */
import {
  CreateStateMachineCommand,
  DescribeMapRunCommand,
  GetExecutionHistoryCommand,
  ListMapRunsCommand,
  SFNClient,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executionEnded, type ExecutionWait } from '../support/execution-ended.ts';
import { LOCAL_STATE_MACHINE_ROLE, useLocalStack } from '../support/local-stack.ts';

/** How long a small Map execution may take on a loaded machine, read every 100 ms. */
const EXECUTION_WAIT: ExecutionWait = { timeoutMs: 60_000, pollMs: 100 };
const EXCEEDED = 'States.ExceedToleratedFailureThreshold';
const EXCEEDED_CAUSE = 'The specified tolerated failure threshold was exceeded';

/** A Distributed Map over `$.items`; an item `{fail: true}` fails its child execution with Boom. */
function distributedMap(extra: Record<string, unknown> = {}, next: Record<string, unknown> = { End: true }) {
  return {
    Type: 'Map',
    ItemsPath: '$.items',
    ItemProcessor: {
      ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' },
      StartAt: 'Fails?',
      States: {
        'Fails?': {
          Type: 'Choice',
          Choices: [{ Variable: '$.fail', BooleanEquals: true, Next: 'Boom' }],
          Default: 'Done',
        },
        Boom: { Type: 'Fail', Error: 'Boom', Cause: 'this item fails' },
        Done: { Type: 'Pass', Parameters: { 'n.$': '$.n' }, End: true },
      },
    },
    ...extra,
    ...next,
  };
}

const items = (failing: number, total: number): { n: number; fail: boolean }[] =>
  Array.from({ length: total }, (_, n) => ({ n, fail: n < failing }));

describe('Distributed Map tolerated failures on the local stack', () => {
  const local = useLocalStack();
  let sfn: SFNClient;
  let machines = 0;

  const run = async (
    states: Record<string, unknown>,
    input: unknown,
  ): Promise<{ described: DescribeExecutionCommandOutput; events: HistoryEvent[] }> => {
    machines += 1;
    const { stateMachineArn } = await sfn.send(
      new CreateStateMachineCommand({
        name: `tolerance-${machines}`,
        definition: JSON.stringify({ StartAt: 'Each', States: states }),
        roleArn: LOCAL_STATE_MACHINE_ROLE,
      }),
    );
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }),
    );
    const described = await executionEnded(sfn, executionArn!, EXECUTION_WAIT);
    const history = await sfn.send(new GetExecutionHistoryCommand({ executionArn, maxResults: 1000 }));
    return { described, events: history.events ?? [] };
  };

  const types = (events: HistoryEvent[]): string[] =>
    events.map((e) => e.type!).filter((t) => t.startsWith('Map') || t.startsWith('Execution'));

  beforeAll(() => {
    sfn = new SFNClient(local.clientConfig());
  });
  afterAll(() => sfn.destroy());

  it('fails the Map Run and the Map state on one failed child when nothing is tolerated', async () => {
    const { described, events } = await run({ Each: distributedMap() }, { items: items(1, 3) });
    expect(described).toMatchObject({ status: 'FAILED', error: EXCEEDED, cause: EXCEEDED_CAUSE });
    expect(types(events)).toEqual([
      'ExecutionStarted',
      'MapStateEntered',
      'MapStateStarted',
      'MapRunStarted',
      'MapRunFailed',
      'MapStateFailed',
      'ExecutionFailed',
    ]);
    expect(events.find((e) => e.type === 'MapRunFailed')!.mapRunFailedEventDetails).toEqual({
      error: EXCEEDED,
      cause: EXCEEDED_CAUSE,
    });
    const mapRuns = await sfn.send(new ListMapRunsCommand({ executionArn: described.executionArn }));
    expect(mapRuns.mapRuns).toHaveLength(1);
    const mapRun = await sfn.send(new DescribeMapRunCommand({ mapRunArn: mapRuns.mapRuns![0]!.mapRunArn }));
    expect(mapRun).toMatchObject({
      status: 'FAILED',
      toleratedFailureCount: 0,
      toleratedFailurePercentage: 0,
    });
    expect(mapRun.itemCounts).toMatchObject({ total: 3, failed: 1, succeeded: 2 });
  });

  it('succeeds when every child succeeds, with every output in order', async () => {
    const { described, events } = await run({ Each: distributedMap() }, { items: items(0, 3) });
    expect(described.status).toBe('SUCCEEDED');
    expect(JSON.parse(described.output!)).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
    expect(types(events)).toContain('MapRunSucceeded');
  });

  it('the state Retry and Catch see States.ExceedToleratedFailureThreshold', async () => {
    const { described, events } = await run(
      {
        Each: distributedMap(
          {
            Retry: [{ ErrorEquals: [EXCEEDED], IntervalSeconds: 1, MaxAttempts: 1 }],
            Catch: [{ ErrorEquals: [EXCEEDED], ResultPath: '$.error', Next: 'Caught' }],
          },
          { End: true },
        ),
        Caught: { Type: 'Pass', End: true },
      },
      { items: items(1, 2) },
    );
    expect(described.status).toBe('SUCCEEDED');
    expect((JSON.parse(described.output!) as { error: unknown }).error).toEqual({
      Error: EXCEEDED,
      Cause: EXCEEDED_CAUSE,
    });
    // The first Map Run, its one retry, then the Catch.
    expect(events.filter((e) => e.type === 'MapRunFailed')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'MapRunStarted')).toHaveLength(2);
  });

  it('ToleratedFailureCount 1 tolerates one failed child, not two', async () => {
    const tolerant = { Each: distributedMap({ ToleratedFailureCount: 1 }) };
    const one = await run(tolerant, { items: items(1, 4) });
    expect(one.described.status).toBe('SUCCEEDED');
    expect(types(one.events)).toContain('MapRunSucceeded');
    const two = await run(tolerant, { items: items(2, 4) });
    expect(two.described).toMatchObject({ status: 'FAILED', error: EXCEEDED, cause: EXCEEDED_CAUSE });
  });

  it('ToleratedFailurePercentage 50 tolerates half of the children failing, not more', async () => {
    const tolerant = { Each: distributedMap({ ToleratedFailurePercentage: 50 }) };
    const half = await run(tolerant, { items: items(2, 4) });
    expect(half.described.status).toBe('SUCCEEDED');
    const more = await run(tolerant, { items: items(3, 4) });
    expect(more.described).toMatchObject({ status: 'FAILED', error: EXCEEDED, cause: EXCEEDED_CAUSE });
  });

  it('with both thresholds the Map Run fails when either is exceeded', async () => {
    const both = { Each: distributedMap({ ToleratedFailureCount: 3, ToleratedFailurePercentage: 25 }) };
    // 2 of 4 failed: within the count, beyond 25 %.
    const overPercentage = await run(both, { items: items(2, 4) });
    expect(overPercentage.described).toMatchObject({ status: 'FAILED', error: EXCEEDED });
    const within = await run(both, { items: items(1, 4) });
    expect(within.described.status).toBe('SUCCEEDED');
  });
});
