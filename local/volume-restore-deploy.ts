/**
 * The volume-restore state machine on the local stack (the counterpart of
 * lib/constructs/volume-restores.ts): the volumeRestoreStep function registered with the gateway
 * under the name its placeholder gives it, and statemachines/volume-restore.asl.json created in
 * moto's Step Functions. Returns the API's volume-restore environment. Called by deployProduct
 * (local/deploy.ts) after the handlers' environment is set.
 */
import {
  stateMachineFunctionName,
  VOLUME_RESTORE_DEFINITION_FILE,
  VOLUME_RESTORE_FUNCTION_PLACEHOLDER,
  type VolumeRestoreEnvironmentKey,
} from '../lib/function-manifest.ts';
import { LOCAL_ACCOUNT_ID } from './gateway/local-account.ts';
import type { LocalStack } from './stack.ts';
import { deployMachineFromFile } from './state-machine-deploy.ts';

/** The local deployment's KMS key for restored snapshots (the EBS emulator records it; moto does not check it). */
export const LOCAL_RESTORE_KMS_KEY_ARN = `arn:aws:kms:us-east-1:${LOCAL_ACCOUNT_ID}:key/00000000-0000-4000-8000-000000000001`;

export interface VolumeRestoreDeployment {
  readonly stateMachineArn: string;
  /** The gateway's name of the step function. */
  readonly functionName: string;
  readonly environment: Record<VolumeRestoreEnvironmentKey, string>;
}

export async function deployVolumeRestores(
  stack: LocalStack,
  config: {
    readonly endpoint: string;
    readonly region: string | undefined;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  },
  names: { readonly stateMachine: string; readonly workBucket: string },
): Promise<VolumeRestoreDeployment> {
  const { handler } = await import('../lambdas/handlers/volume-restore-step.ts');
  const functionName = stateMachineFunctionName(VOLUME_RESTORE_FUNCTION_PLACEHOLDER);
  stack.gateway.registerFunction(functionName, (event, context) => handler(event, context));
  const functionArn = `arn:aws:lambda:${config.region ?? 'us-east-1'}:${LOCAL_ACCOUNT_ID}:function:${functionName}`;
  const values: Readonly<Record<string, string>> = {
    [VOLUME_RESTORE_FUNCTION_PLACEHOLDER]: functionArn,
    WorkBucketName: names.workBucket,
  };
  const stateMachineArn = await deployMachineFromFile(config, {
    name: names.stateMachine,
    definitionFile: VOLUME_RESTORE_DEFINITION_FILE,
    values,
  });
  return {
    stateMachineArn,
    functionName,
    environment: {
      VOLUME_RESTORE_STATE_MACHINE_ARN: stateMachineArn,
      RESTORE_KMS_KEY_ARN: LOCAL_RESTORE_KMS_KEY_ARN,
    },
  };
}
