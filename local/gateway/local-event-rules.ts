/**
 * The local stack's EventBridge rules for Lambda targets: moto stores rules and targets (PutRule,
 * PutTargets) but cannot invoke the in-process functions, so after an accepted PutEvents the
 * gateway hands the entries to this class. For each entry it lists the bus's rules in moto, matches
 * their event patterns, and invokes every Lambda target asynchronously (`Event`, as EventBridge
 * does) through the gateway with the event EventBridge would deliver
 * (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html).
 *
 * Patterns: exact-value arrays at any depth (`{"source": ["rbp.plans"], "detail": {"status":
 * ["Failed"]}}`), as https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
 * describes them; content filters (prefix, numeric, exists, …) are not matched and make the rule
 * match nothing. Targets: Lambda functions with the whole event or a constant `Input`; other
 * targets and input transformers are ignored. No retries: a failed invocation is recorded.
 */
import { randomUUID } from 'node:crypto';
import {
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  type Rule,
} from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Clock } from '../../lambdas/core/ports.ts';
import { FUNCTION_ARN_PATTERN, LOCAL_ACCOUNT_ID, LOCAL_REGION, localClientConfig } from './local-account.ts';

/** Deliveries kept for `deliveries()`: enough for any test, bounded for a long `serve`. */
export const MAX_RECORDED_DELIVERIES = 1_000;

export interface EventRuleEntry {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly Resources?: readonly string[];
}

export interface RuleDelivery {
  readonly rule: string;
  readonly targetArn: string;
  readonly detailType: string;
  readonly outcome: 'invoked' | 'failed';
  /** The invocation's status code, or why it failed. */
  readonly detail: string;
}

/** True when `value` (a field of the event) satisfies the pattern node. */
function matches(pattern: unknown, value: unknown): boolean {
  if (Array.isArray(pattern)) {
    const values = Array.isArray(value) ? (value as unknown[]) : [value];
    return pattern.some(
      (allowed) => (typeof allowed !== 'object' || allowed === null) && values.includes(allowed),
    );
  }
  if (typeof pattern === 'object' && pattern !== null) {
    if (typeof value !== 'object' || value === null) return false;
    const object = value as Record<string, unknown>;
    return Object.entries(pattern).every(([key, node]) => matches(node, object[key]));
  }
  return false;
}

/** Does the event (EventBridge's delivered shape) match the rule's pattern? */
export function eventMatches(patternText: string, event: Record<string, unknown>): boolean {
  let pattern: unknown;
  try {
    pattern = JSON.parse(patternText);
  } catch {
    return false;
  }
  return matches(pattern, event);
}

export class LocalEventRules {
  private readonly events: EventBridgeClient;
  private readonly lambda: LambdaClient;
  private readonly recorded: RuleDelivery[] = [];

  constructor(options: { motoEndpoint: string; gatewayEndpoint: string; clock: Clock }) {
    this.events = new EventBridgeClient(localClientConfig(options.motoEndpoint));
    this.lambda = new LambdaClient(localClientConfig(options.gatewayEndpoint));
    this.clock = options.clock;
  }

  private readonly clock: Clock;

  /** Deliveries so far, oldest first. */
  deliveries(): readonly RuleDelivery[] {
    return [...this.recorded];
  }

  /** Delivers the accepted entries of one PutEvents to the matching rules' Lambda targets. */
  async deliver(entries: readonly EventRuleEntry[]): Promise<void> {
    const rulesByBus = new Map<string, Rule[]>();
    for (const entry of entries) {
      const bus = entry.EventBusName ?? 'default';
      let rules = rulesByBus.get(bus);
      if (rules === undefined) {
        rules = await this.listRules(bus);
        rulesByBus.set(bus, rules);
      }
      if (rules.length === 0) continue;
      let detail: unknown;
      try {
        detail = entry.Detail === undefined ? {} : JSON.parse(entry.Detail);
      } catch {
        continue;
      }
      const event = {
        version: '0',
        id: randomUUID(),
        'detail-type': entry.DetailType ?? '',
        source: entry.Source ?? '',
        account: LOCAL_ACCOUNT_ID,
        time: this.clock
          .now()
          .toISOString()
          .replace(/\.\d{3}Z$/, 'Z'),
        region: LOCAL_REGION,
        resources: [...(entry.Resources ?? [])],
        detail,
      };
      for (const rule of rules) {
        if (rule.State !== 'ENABLED' || rule.EventPattern === undefined) continue;
        if (!eventMatches(rule.EventPattern, event)) continue;
        await this.invokeTargets(rule, bus, event);
      }
    }
  }

  close(): void {
    this.events.destroy();
    this.lambda.destroy();
  }

  private async listRules(bus: string): Promise<Rule[]> {
    const rules: Rule[] = [];
    let token: string | undefined;
    do {
      const page = await this.events.send(
        new ListRulesCommand({ EventBusName: bus, ...(token === undefined ? {} : { NextToken: token }) }),
      );
      rules.push(...(page.Rules ?? []));
      token = page.NextToken;
    } while (token !== undefined);
    return rules;
  }

  private async invokeTargets(rule: Rule, bus: string, event: Record<string, unknown>): Promise<void> {
    const targets = await this.events.send(
      new ListTargetsByRuleCommand({ Rule: rule.Name, EventBusName: bus }),
    );
    for (const target of targets.Targets ?? []) {
      if (target.Arn === undefined || !FUNCTION_ARN_PATTERN.test(target.Arn)) continue;
      if (target.InputPath !== undefined || target.InputTransformer !== undefined) continue;
      const payload = target.Input ?? JSON.stringify(event);
      let delivery: RuleDelivery;
      try {
        const answer = await this.lambda.send(
          new InvokeCommand({
            FunctionName: target.Arn,
            InvocationType: 'Event',
            Payload: Buffer.from(payload),
          }),
        );
        delivery = {
          rule: rule.Name ?? '',
          targetArn: target.Arn,
          detailType: String(event['detail-type']),
          outcome: 'invoked',
          detail: String(answer.StatusCode ?? ''),
        };
      } catch (error) {
        delivery = {
          rule: rule.Name ?? '',
          targetArn: target.Arn,
          detailType: String(event['detail-type']),
          outcome: 'failed',
          detail: error instanceof Error ? error.message : String(error),
        };
        console.error(`[local events] rule ${rule.Name ?? ''} could not invoke ${target.Arn}`, error);
      }
      this.recorded.push(delivery);
      if (this.recorded.length > MAX_RECORDED_DELIVERIES) this.recorded.shift();
    }
  }
}
