/**
 * The contracts of the ports that invoke Lambda functions, against MemoryLambdaFunctions and the
 * Lambda adapters on one local stack (its gateway runs the registered functions in process and
 * injects Lambda's throttling):
 * - HookInvoker: LambdaHookInvoker; MaskingHookInvoker: LambdaMaskingHooks (answering invokers);
 * - RestoreLauncher (the restore worker): LambdaRestoreLauncher; LifecycleJobLauncher:
 *   LambdaLifecycleJobLauncher (event launchers).
 */
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll } from 'vitest';
import { LambdaLifecycleJobLauncher } from '../../lambdas/aws/lambda-lifecycle-launcher.ts';
import { LambdaRestoreLauncher } from '../../lambdas/aws/lambda-restore-launcher.ts';
import { LambdaHookInvoker } from '../../lambdas/aws/plan-run-adapters.ts';
import { LambdaMaskingHooks } from '../../lambdas/aws/workflow-run-adapters.ts';
import type { RestoreWorkerEvent } from '../../lambdas/core/api/restore-service.ts';
import type { LifecycleJobEvent } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { HookPayload } from '../../lambdas/core/plans/plan-ports.ts';
import type { MaskingHookEvent } from '../../lambdas/core/workflows/masking.ts';
import { MemoryLambdaFunctions } from '../fakes/memory-lambda-functions.ts';
import { useLocalStack } from '../support/local-stack.ts';
import {
  answeringInvokerContract,
  eventLauncherContract,
  type FunctionsHarness,
} from './function-invokers.contract.ts';

const local = useLocalStack();
const clients: LambdaClient[] = [];
afterAll(() => clients.forEach((client) => client.destroy()));

const HOOK_EVENT: HookPayload = {
  version: 1,
  phase: 'post-task',
  plan: 'nightly',
  run: 'pr-20261203t060000000z-0a1b2c3d',
  server: 'web01',
  task: { index: 0, server: 'web01', status: 'succeeded', backupId: 'bk-1', imageIds: ['img-1'] },
};
/** A masking hook's event (what its fields mean matters to the hook, not to the invoker). */
const MASKING_EVENT: MaskingHookEvent = {
  ...({ version: 1, phase: 'masking', workflow: 'qa', runId: 'wfr-c1', server: 'web01' } as const),
  deadline: '2026-12-03T08:00:00Z',
  tags: { 'rbp:workflow': 'qa' },
  devices: [{ sourceVolumeId: 'vol-0c1', imageId: 'img-c1', snapshotId: 'snap-0c1', sizeGiB: 1 }],
};
const RESTORE_EVENT: RestoreWorkerEvent = { restoreId: 'rs-contract-1', kind: 'files' };
const LIFECYCLE_EVENT: LifecycleJobEvent = { kind: 'gc', runId: 'gc-contract-1', dryRun: true };

/** The fake, its functions and throttling. */
function memoryFunctions(operation: string): FunctionsHarness & { readonly fake: MemoryLambdaFunctions } {
  const fake = new MemoryLambdaFunctions(operation);
  return {
    fake,
    register: (name, handler) => fake.register(name, handler),
    throttle: (on) => {
      fake.throttled = on;
    },
  };
}

/** The local stack's functions (a later harness's function replaces an earlier one of its name) and throttling. */
function stackFunctions(): FunctionsHarness & { readonly lambda: LambdaClient } {
  const lambda = new LambdaClient(local.clientConfig());
  clients.push(lambda);
  return {
    lambda,
    register: (name, handler) => local.stack.gateway.registerFunction(name, (event) => handler(event)),
    throttle: (on) => local.stack.gateway.setFaults(on ? { throttleRate: { 'lambda:Invoke': 1 } } : {}),
  };
}

answeringInvokerContract(
  'MemoryLambdaFunctions as HookInvoker',
  { operation: 'Invoke (hook)', event: HOOK_EVENT },
  () => {
    const harness = memoryFunctions('Invoke (hook)');
    return Promise.resolve({ ...harness, invoker: harness.fake });
  },
);
answeringInvokerContract(
  'LambdaHookInvoker on the local stack',
  { operation: 'Invoke (hook)', event: HOOK_EVENT },
  () => {
    const harness = stackFunctions();
    const port = new LambdaHookInvoker(harness.lambda);
    return Promise.resolve({
      ...harness,
      invoker: port,
    });
  },
);
answeringInvokerContract(
  'MemoryLambdaFunctions as MaskingHookInvoker',
  { operation: 'Invoke (masking hook)', event: MASKING_EVENT },
  () => {
    const harness = memoryFunctions('Invoke (masking hook)');
    return Promise.resolve({ ...harness, invoker: harness.fake });
  },
);
answeringInvokerContract(
  'LambdaMaskingHooks on the local stack',
  { operation: 'Invoke (masking hook)', event: MASKING_EVENT },
  () => {
    const harness = stackFunctions();
    const port = new LambdaMaskingHooks(harness.lambda);
    return Promise.resolve({
      ...harness,
      invoker: port,
    });
  },
);

eventLauncherContract(
  'MemoryLambdaFunctions as the restore worker launcher',
  { operation: 'Invoke (restore worker)', event: RESTORE_EVENT },
  () => {
    const harness = memoryFunctions('Invoke (restore worker)');
    return Promise.resolve({
      ...harness,
      launcher: (name) => harness.fake.eventLauncher<RestoreWorkerEvent>(name),
    });
  },
);
eventLauncherContract(
  'LambdaRestoreLauncher on the local stack',
  { operation: 'Invoke (restore worker)', event: RESTORE_EVENT },
  () => {
    const harness = stackFunctions();
    return Promise.resolve({
      ...harness,
      launcher: (name) => new LambdaRestoreLauncher(harness.lambda, name),
    });
  },
);
eventLauncherContract(
  'MemoryLambdaFunctions as LifecycleJobLauncher',
  { operation: 'Invoke (lifecycle job)', event: LIFECYCLE_EVENT },
  () => {
    const harness = memoryFunctions('Invoke (lifecycle job)');
    return Promise.resolve({
      ...harness,
      launcher: (name) => harness.fake.eventLauncher<LifecycleJobEvent>(name),
    });
  },
);
eventLauncherContract(
  'LambdaLifecycleJobLauncher on the local stack',
  { operation: 'Invoke (lifecycle job)', event: LIFECYCLE_EVENT },
  () => {
    const harness = stackFunctions();
    return Promise.resolve({
      ...harness,
      launcher: (name) => new LambdaLifecycleJobLauncher(harness.lambda, name),
    });
  },
);
