/**
 * Lambda "workflow-run": the one function of the workflow-run state machine
 * (statemachines/workflow-run.asl.json). `begin` makes sure the run record exists, `advance`
 * moves the run as far as it can go now and says how long to wait, `fail` records a failure past
 * the retries and removes what the run made (core/workflows/workflow-run-steps.ts).
 */
import { tracedLambdaWiring } from '../aws/tracing.ts';
import {
  advanceStoredWorkflowRun,
  beginWorkflowRun,
  failStoredWorkflowRun,
  workflowRunEventSchema,
  type WorkflowRunFunctionPorts,
  type WorkflowRunStep,
} from '../core/workflows/workflow-run-steps.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export function createWorkflowRunHandler(deps: WorkflowRunFunctionPorts) {
  return createStepHandler(
    'workflow-run',
    workflowRunEventSchema,
    async (event): Promise<WorkflowRunStep> => {
      switch (event.action) {
        case 'begin':
          return beginWorkflowRun(deps, event);
        case 'advance':
          return advanceStoredWorkflowRun(deps, event.runId);
        case 'fail':
          return failStoredWorkflowRun(
            deps,
            event.runId,
            event.error.Cause ?? event.error.Error ?? 'unknown error',
          );
      }
    },
  );
}

export const handler = lazyHandler(() => createWorkflowRunHandler(tracedLambdaWiring().workflowRun()));
