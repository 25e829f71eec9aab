/**
 * Stand-in state machines in moto's Step Functions, for tests where what matters is what starts a
 * state machine (a schedule, a plan run) and with which input, not what the machine does.
 */
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  ListExecutionsCommand,
  type ExecutionListItem,
  type SFNClient,
} from '@aws-sdk/client-sfn';

/** How often `executionsWithin` lists the executions while it waits for the first. */
const EXECUTION_POLL_MS = 200;

/** Creates a state machine of one Pass state named `name`; returns its ARN. */
export async function createPassStateMachine(sfn: SFNClient, name: string, roleArn: string): Promise<string> {
  const created = await sfn.send(
    new CreateStateMachineCommand({
      name,
      definition: JSON.stringify({ StartAt: 'Done', States: { Done: { Type: 'Pass', End: true } } }),
      roleArn,
    }),
  );
  return created.stateMachineArn!;
}

/** The state machine's executions once it has any, or none after `waitMs`. */
export async function executionsWithin(
  sfn: SFNClient,
  stateMachineArn: string,
  waitMs: number,
): Promise<ExecutionListItem[]> {
  const started = Date.now();
  let executions: ExecutionListItem[] = [];
  while (executions.length === 0 && Date.now() - started < waitMs) {
    await new Promise((resolve) => setTimeout(resolve, EXECUTION_POLL_MS));
    executions = (await sfn.send(new ListExecutionsCommand({ stateMachineArn }))).executions ?? [];
  }
  return executions;
}

/** The execution's input, parsed. */
export async function executionInput(sfn: SFNClient, executionArn: string): Promise<unknown> {
  const execution = await sfn.send(new DescribeExecutionCommand({ executionArn }));
  return JSON.parse(execution.input!) as unknown;
}
