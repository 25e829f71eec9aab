/**
 * Creates a state machine on the local stack, or brings an existing one (kept in the state
 * directory across a `local serve` restart) to the given definition. CreateStateMachine of an
 * existing name with another definition is refused with StateMachineAlreadyExists in AWS
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html), and
 * an emulator may answer the old machine instead: either way the definition is then compared and
 * replaced with UpdateStateMachine, so a changed ASL file takes effect on restart.
 */
import {
  CreateStateMachineCommand,
  DescribeStateMachineCommand,
  UpdateStateMachineCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';

export interface StateMachineSpec {
  readonly name: string;
  readonly definition: string;
  readonly roleArn: string;
}

/** `arn:aws:iam::<account>:role/x` + name → the state machine's ARN in the region. */
function stateMachineArnOf(roleArn: string, name: string, region: string): string {
  const account = roleArn.split(':')[4];
  return `arn:aws:states:${region}:${account}:stateMachine:${name}`;
}

/** The machine's ARN, and whether an existing machine's definition was replaced. */
export async function deployStateMachine(
  sfn: SFNClient,
  spec: StateMachineSpec,
): Promise<{ readonly stateMachineArn: string; readonly updated: boolean }> {
  let arn: string;
  try {
    const created = await sfn.send(new CreateStateMachineCommand({ ...spec }));
    arn = created.stateMachineArn!;
  } catch (error) {
    if (!(error instanceof Error) || error.name !== 'StateMachineAlreadyExists') throw error;
    arn = stateMachineArnOf(spec.roleArn, spec.name, await sfn.config.region());
  }
  const existing = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
  if (existing.definition === spec.definition) return { stateMachineArn: arn, updated: false };
  await sfn.send(
    new UpdateStateMachineCommand({
      stateMachineArn: arn,
      definition: spec.definition,
      roleArn: spec.roleArn,
    }),
  );
  return { stateMachineArn: arn, updated: true };
}
