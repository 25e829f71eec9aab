/**
 * The workflow-run state machine on the local stack (the local counterpart of
 * lib/constructs/workflow-runs.ts): its one function registered in process with the gateway under
 * the name its definition's placeholder gives it, built by createWorkflowRunDeps as in AWS (with
 * a cap on the Wait between looks), and the state machine from statemachines/workflow-run.asl.json
 * in moto. Returns the API's workflow-run environment. Called by deployProduct after the volume
 * restores are deployed (the runs start their restores there).
 */
import type { SFNClientConfig } from '@aws-sdk/client-sfn';
import { LambdaWiring } from '../lambdas/aws/wiring.ts';
import { createWorkflowRunDeps } from '../lambdas/aws/workflow-run-wiring.ts';
import { systemClock } from '../lambdas/core/ports.ts';
import { createWorkflowRunHandler } from '../lambdas/handlers/workflow-run.ts';
import {
  stateMachineFunctionName,
  WORKFLOW_RUN_DEFINITION_FILE,
  WORKFLOW_RUN_FUNCTION_PLACEHOLDER,
  type WorkflowRunEnvironmentKey,
} from '../lib/function-manifest.ts';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './gateway/local-account.ts';
import type { LocalStack } from './stack.ts';
import { deployMachineFromFile } from './state-machine-deploy.ts';

/**
 * The longest Wait of a local run: local restores, snapshots and volumes finish within seconds,
 * so a run looks again every second instead of AWS's 5-15 s.
 */
export const LOCAL_WORKFLOW_RUN_MAX_WAIT_SECONDS = 1;

export interface DeployedWorkflowRuns {
  readonly stateMachineArn: string;
  readonly functionName: string;
  readonly environment: Record<WorkflowRunEnvironmentKey, string>;
}

export async function deployWorkflowRuns(
  stack: LocalStack,
  clientConfig: SFNClientConfig,
  name: string,
): Promise<DeployedWorkflowRuns> {
  const wiring = new LambdaWiring(process.env);
  const env = wiring.environment('TABLE_NAME', 'VOLUME_RESTORE_STATE_MACHINE_ARN', 'RESTORE_KMS_KEY_ARN');
  if (env.VOLUME_RESTORE_STATE_MACHINE_ARN === undefined) {
    throw new Error(
      'deploy the volume restores before the workflow runs: VOLUME_RESTORE_STATE_MACHINE_ARN is unset',
    );
  }
  const deps = createWorkflowRunDeps(
    {
      tableName: env.TABLE_NAME,
      volumeRestoreStateMachineArn: env.VOLUME_RESTORE_STATE_MACHINE_ARN,
      ...(env.RESTORE_KMS_KEY_ARN === undefined ? {} : { kmsKeyArn: env.RESTORE_KMS_KEY_ARN }),
    },
    wiring.control,
    systemClock,
  );
  const handler = createWorkflowRunHandler({ ...deps, maxWaitSeconds: LOCAL_WORKFLOW_RUN_MAX_WAIT_SECONDS });
  const functionName = stateMachineFunctionName(WORKFLOW_RUN_FUNCTION_PLACEHOLDER);
  stack.gateway.registerFunction(functionName, (event, context) => handler(event, context));

  const functionArn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;
  const stateMachineArn = await deployMachineFromFile(clientConfig, {
    name,
    definitionFile: WORKFLOW_RUN_DEFINITION_FILE,
    values: { [WORKFLOW_RUN_FUNCTION_PLACEHOLDER]: functionArn },
  });
  return {
    stateMachineArn,
    functionName,
    environment: { WORKFLOW_RUN_STATE_MACHINE_ARN: stateMachineArn },
  };
}
