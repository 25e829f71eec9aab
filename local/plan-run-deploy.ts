/**
 * The plan-run state machine on the local stack (the local counterpart of lib/constructs/plan-runs.ts):
 * its one function registered in process with the gateway under the name its definition's
 * placeholder gives it, built by createPlanRunDeps as in AWS (with an injectable clock, a cap on
 * the Wait between looks, and short polls for the backups it starts), and the state machine from
 * statemachines/plan-run.asl.json in moto.
 */
import type { SFNClientConfig } from '@aws-sdk/client-sfn';
import { createPlanRunDeps } from '../lambdas/aws/plan-wiring.ts';
import { LambdaWiring } from '../lambdas/aws/wiring.ts';
import { systemClock, type Clock } from '../lambdas/core/ports.ts';
import { createPlanRunHandler } from '../lambdas/handlers/plan-run.ts';
import {
  PLAN_RUN_DEFINITION_FILE,
  PLAN_RUN_FUNCTION_PLACEHOLDER,
  stateMachineFunctionName,
} from '../lib/function-manifest.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './gateway/local-account.ts';
import type { LocalStack } from './stack.ts';
import { deployMachineFromFile } from './state-machine-deploy.ts';

/**
 * The longest Wait of a local plan run: the simulated agent and snapshots answer within a second,
 * so a run looks again every 2 s instead of AWS's 15 s.
 */
export const LOCAL_PLAN_RUN_MAX_WAIT_SECONDS = 2;
/** Poll intervals of the backups a local plan task starts: local checkpoints and snapshots take about a second. */
export const LOCAL_PLAN_BACKUP_INPUT = {
  syncWait: { intervalSeconds: 1, timeoutSeconds: 600 },
  snapshotWait: { intervalSeconds: 1, timeoutSeconds: 600 },
} as const;

export interface LocalPlanRunOptions {
  /** The run's clock (tests move it instead of sleeping); default the system clock. */
  readonly clock?: Clock;
  /** Default LOCAL_PLAN_RUN_MAX_WAIT_SECONDS. */
  readonly maxWaitSeconds?: number;
  /** Merged into every backup a task starts; default LOCAL_PLAN_BACKUP_INPUT. */
  readonly backupInput?: Readonly<Record<string, unknown>>;
}

export interface DeployedPlanRuns {
  readonly stateMachineArn: string;
  readonly functionName: string;
}

/**
 * Registers the plan-run function and creates the state machine `name`. The function reads the
 * deployment's names from process.env (deployProduct set them), as the Lambda does in AWS.
 */
export async function deployPlanRuns(
  stack: LocalStack,
  clientConfig: SFNClientConfig,
  name: string,
  options: LocalPlanRunOptions = {},
): Promise<DeployedPlanRuns> {
  const wiring = new LambdaWiring(process.env);
  const env = wiring.environment(
    'TABLE_NAME',
    'IMAGE_BUCKET',
    'EVENT_BUS_NAME',
    'TOPIC_ARN',
    'STATE_MACHINE_ARN',
  );
  const deps = createPlanRunDeps(
    {
      tableName: env.TABLE_NAME,
      imageBucket: env.IMAGE_BUCKET,
      eventBusName: env.EVENT_BUS_NAME,
      topicArn: env.TOPIC_ARN,
      backupStateMachineArn: env.STATE_MACHINE_ARN,
    },
    wiring.control,
    options.clock ?? systemClock,
    {
      maxWaitSeconds: options.maxWaitSeconds ?? LOCAL_PLAN_RUN_MAX_WAIT_SECONDS,
      inputDefaults: options.backupInput ?? LOCAL_PLAN_BACKUP_INPUT,
    },
  );
  const handler = createPlanRunHandler(deps);
  const functionName = stateMachineFunctionName(PLAN_RUN_FUNCTION_PLACEHOLDER);
  stack.gateway.registerFunction(functionName, (event, context) => handler(event, context));

  const functionArn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;
  const stateMachineArn = await deployMachineFromFile(clientConfig, {
    name,
    definitionFile: PLAN_RUN_DEFINITION_FILE,
    values: { [PLAN_RUN_FUNCTION_PLACEHOLDER]: functionArn },
  });
  return { stateMachineArn, functionName };
}
