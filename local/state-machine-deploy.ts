/**
 * Creates a state machine on the local stack, or brings an existing one (kept in the state
 * directory across a `local serve` restart) to the given definition. CreateStateMachine of an
 * existing name with another definition is refused with StateMachineAlreadyExists in AWS
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html), and
 * an emulator may answer the old machine instead: either way the definition is then compared and
 * replaced with UpdateStateMachine, so a changed ASL file takes effect on restart.
 */
import { readFileSync } from 'node:fs';
import {
  CreateStateMachineCommand,
  DescribeStateMachineCommand,
  SFNClient,
  UpdateStateMachineCommand,
  type SFNClientConfig,
} from '@aws-sdk/client-sfn';
import { LOCAL_ACCOUNT_ID } from './gateway/local-account.ts';

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

/** A state machine made from an ASL file whose `${placeholders}` are filled from `values`. */
export interface MachineFromFileSpec {
  readonly name: string;
  /** The ASL file, relative to the repository root (statemachines/…). */
  readonly definitionFile: string;
  /** Placeholder → value (function ARNs, bucket names). */
  readonly values: Readonly<Record<string, string>>;
}

/**
 * Reads the definition, fills every placeholder (one without a value is an error naming the
 * file), and creates or updates the machine with the local stack's role; returns its ARN.
 */
export async function deployMachineFromFile(
  clientConfig: SFNClientConfig,
  spec: MachineFromFileSpec,
): Promise<string> {
  const text = readFileSync(new URL(`../${spec.definitionFile}`, import.meta.url), 'utf8');
  const definition = text.replace(/\$\{([A-Za-z0-9]+)\}/g, (_match, key: string) => {
    const value = spec.values[key];
    if (value === undefined)
      throw new Error(`${spec.definitionFile}: no value for the placeholder \${${key}}`);
    return value;
  });
  const sfn = new SFNClient(clientConfig);
  try {
    const { stateMachineArn } = await deployStateMachine(sfn, {
      name: spec.name,
      definition,
      roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local`,
    });
    return stateMachineArn;
  } finally {
    sfn.destroy();
  }
}
