/**
 * local/state-machine-deploy.ts on the local stack: deploying a machine that exists (as after a
 * `local serve` restart, which keeps the Step Functions state) with a changed definition replaces
 * the definition; the same definition changes nothing.
 */
import { DescribeStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import { deployStateMachine } from '../../local/state-machine-deploy.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
let sfn: SFNClient | undefined;

afterAll(() => sfn?.destroy());

const machine = (seconds: number) =>
  JSON.stringify({ StartAt: 'Wait', States: { Wait: { Type: 'Wait', Seconds: seconds, End: true } } });

describe('deployStateMachine', () => {
  it('creates, keeps an unchanged definition, and updates a changed one in place', async () => {
    sfn = new SFNClient(local.clientConfig());
    const spec = { name: 'rbp-redeploy', roleArn: 'arn:aws:iam::123456789012:role/rbp-local' };
    const first = await deployStateMachine(sfn, { ...spec, definition: machine(1) });
    expect(first.updated).toBe(false);
    const again = await deployStateMachine(sfn, { ...spec, definition: machine(1) });
    expect(again).toEqual(first);
    const changed = await deployStateMachine(sfn, { ...spec, definition: machine(7) });
    expect(changed).toEqual({ stateMachineArn: first.stateMachineArn, updated: true });
    const described = await sfn.send(
      new DescribeStateMachineCommand({ stateMachineArn: first.stateMachineArn }),
    );
    expect(described.definition).toBe(machine(7));
  }, 120_000);
});
