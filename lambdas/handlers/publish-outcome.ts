/**
 * Lambda "publish-outcome": announces the end of a backup run on EventBridge (`Backup Succeeded`
 * / `Backup Failed`, source `rbp.backup`) and on the SNS topic
 * (core/orchestration/backup-outcome.ts, publishOutcome).
 */
import type { Clock } from '../core/ports.ts';
import { publishOutcome } from '../core/orchestration/backup-outcome.ts';
import type { EventPublisher, Notifier } from '../core/orchestration/orchestration-ports.ts';
import { publishInputSchema } from '../core/orchestration/step-state.ts';
import { lambdaWiring } from '../aws/wiring.ts';
import { createStepHandler, lazyHandler } from './support/step-handler.ts';

export interface PublishOutcomeDeps {
  readonly events: EventPublisher;
  readonly notifier: Notifier;
  readonly clock: Clock;
}

export function createPublishOutcomeHandler(deps: PublishOutcomeDeps) {
  return createStepHandler('publish-outcome', publishInputSchema, (input) => publishOutcome(deps, input));
}

export const handler = lazyHandler(() => {
  const wiring = lambdaWiring();
  return createPublishOutcomeHandler({
    events: wiring.events(),
    notifier: wiring.notifier(),
    clock: wiring.clock,
  });
});
