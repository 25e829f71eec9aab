/**
 * The plan-run state machine on the local stack (the local counterpart of lib/constructs/plan-runs.ts):
 * its one function registered in process with the gateway under the name its definition's
 * placeholder gives it, built by createPlanRunDeps as in AWS (with an injectable clock, a cap on
 * the Wait between looks, and short polls for the backups it starts), and the state machine from
 * statemachines/plan-run.asl.json in moto; for `rbp local serve`, the RPO check's schedule too.
 */
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SFNClientConfig } from '@aws-sdk/client-sfn';
import { createPlanRunDeps } from '../lambdas/aws/plan-wiring.ts';
import { LambdaWiring } from '../lambdas/aws/wiring.ts';
import { putStateMachineSchedule } from '../lambdas/aws/scheduler-state-machine-schedules.ts';
import { systemClock, type Clock } from '../lambdas/core/ports.ts';
import { RPO_CHECK_MINUTES } from '../lambdas/core/plans/rpo.ts';
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
  /**
   * Create the RPO check's schedule (`<name>-rpo-check`, as lib/constructs/plan-runs.ts does), which
   * the local scheduler fires every RPO_CHECK_MINUTES; default off, so tests that move the clock or
   * count requests see only what they start. `rbp local serve` turns it on.
   */
  readonly rpoCheckSchedule?: boolean;
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
  if (options.rpoCheckSchedule === true) {
    await putRpoCheckSchedule(clientConfig, `${name}-rpo-check`, functionArn);
  }
  return { stateMachineArn, functionName };
}

/**
 * The schedule that invokes the plan-run function with `{action: "checkRpo"}` every
 * RPO_CHECK_MINUTES, in the default group; a restart of a kept stack replaces it (the put the plan
 * and workflow schedules use: Scheduler's target may be a function as well as a state machine).
 */
async function putRpoCheckSchedule(
  clientConfig: SFNClientConfig,
  scheduleName: string,
  functionArn: string,
): Promise<void> {
  const scheduler = new SchedulerClient(clientConfig);
  try {
    await putStateMachineSchedule(
      scheduler,
      {
        groupName: 'default',
        stateMachineArn: functionArn,
        roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local`,
      },
      {
        name: scheduleName,
        expression: `rate(${RPO_CHECK_MINUTES} minutes)`,
        timeZone: 'UTC',
        enabled: true,
        input: JSON.stringify({ action: 'checkRpo' }),
      },
    );
  } finally {
    scheduler.destroy();
  }
}
