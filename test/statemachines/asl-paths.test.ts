/**
 * Every JSONPath statemachines/backup.asl.json reads or writes exists in the step-state schemas
 * (lambdas/core/orchestration/step-state.ts): the state between steps (`backupRunStateSchema`),
 * each Lambda task's input (the Payload keys it passes) and output (what ResultSelector picks from
 * `$.Payload`). A renamed field on either side fails here, not in a deployed execution.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { backupRunStateSchema, STEP_SCHEMAS } from '../../lambdas/core/orchestration/step-state.ts';
import { ASL_PATH, type AslDefinition } from './asl-harness.ts';

type State = Record<string, unknown>;

const definition = JSON.parse(readFileSync(ASL_PATH, 'utf8')) as AslDefinition;

/** The schemas one level down `key`, through wrappers and unions; [] when `key` cannot exist. */
function childSchemas(schema: z.ZodType, key: string): z.ZodType[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'readonly':
    case 'prefault':
    case 'catch':
      return childSchemas(def.innerType as z.ZodType, key);
    case 'pipe':
      return childSchemas(def.out as z.ZodType, key);
    case 'union':
      return (def.options as z.ZodType[]).flatMap((option) => childSchemas(option, key));
    case 'object': {
      const shape = def.shape as Record<string, z.ZodType>;
      const field = shape[key];
      if (field !== undefined) return [field];
      return [];
    }
    case 'array':
      return /^\d+$/.test(key) ? [def.element as z.ZodType] : [];
    case 'unknown':
    case 'any':
      return [schema];
    default:
      return [];
  }
}

/** True when the dotted path (no leading `$.`) can exist in a value of `schema`. */
function hasPath(schema: z.ZodType, path: string): boolean {
  if (path === '') return true;
  let current: z.ZodType[] = [schema];
  for (const key of path.split('.')) {
    current = current.flatMap((s) => childSchemas(s, key));
    if (current.length === 0) return false;
  }
  return true;
}

/** The state paths inside a value: `$.a.b`, `$`, or inside an intrinsic such as States.Array($.x). */
function statePaths(value: string): string[] {
  if (value === '$') return [''];
  return [...value.matchAll(/\$\.([A-Za-z0-9_.]+)/g)]
    .filter((m) => !value.slice(0, m.index).endsWith('$'))
    .map((m) => m[1]!);
}

interface Finding {
  readonly state: string;
  readonly where: string;
  readonly path: string;
}

/** Pairs of (key without `.$`, path value) of a Parameters-like object, one level deep. */
function pathEntries(params: unknown): [string, string][] {
  if (params === null || typeof params !== 'object') return [];
  return Object.entries(params as Record<string, unknown>).flatMap(([key, value]): [string, string][] =>
    key.endsWith('.$') && typeof value === 'string' ? [[key.slice(0, -2), value]] : [],
  );
}

function choiceVariables(rules: unknown[]): string[] {
  return rules.flatMap((rule) => {
    const r = rule as Record<string, unknown>;
    const nested = [...((r.And as unknown[]) ?? []), ...((r.Or as unknown[]) ?? [])];
    const not = r.Not === undefined ? [] : [r.Not];
    return [...(typeof r.Variable === 'string' ? [r.Variable] : []), ...choiceVariables([...nested, ...not])];
  });
}

function checkStates(states: Record<string, State>, findings: Finding[], checked: Finding[]): void {
  const expectState = (state: string, where: string, value: string) => {
    for (const path of statePaths(value)) {
      const finding = { state, where, path: `$.${path}` };
      checked.push(finding);
      if (!hasPath(backupRunStateSchema, path)) findings.push(finding);
    }
  };
  const expectIn = (schema: z.ZodType, state: string, where: string, path: string) => {
    const finding = { state, where, path };
    checked.push(finding);
    if (!hasPath(schema, path)) findings.push(finding);
  };
  for (const [name, state] of Object.entries(states)) {
    for (const field of [
      'InputPath',
      'OutputPath',
      'ResultPath',
      'SecondsPath',
      'CausePath',
      'MaxConcurrencyPath',
    ]) {
      const value = state[field];
      if (typeof value === 'string') expectState(name, field, value);
    }
    for (const handler of (state.Catch as { ResultPath?: unknown }[] | undefined) ?? []) {
      if (typeof handler.ResultPath === 'string') expectState(name, 'Catch ResultPath', handler.ResultPath);
    }
    if (Array.isArray(state.Choices)) {
      for (const variable of choiceVariables(state.Choices)) expectState(name, 'Choices', variable);
    }
    const params = state.Parameters as Record<string, unknown> | undefined;
    const functionArn = params?.FunctionName;
    const step =
      typeof functionArn === 'string'
        ? STEP_SCHEMAS[/^\$\{(\w+)\}$/.exec(functionArn)?.[1] ?? '']
        : undefined;
    if (typeof functionArn === 'string' && step === undefined)
      findings.push({ state: name, where: 'FunctionName', path: functionArn });
    if (step !== undefined) {
      const payload = params?.Payload;
      for (const [key, value] of pathEntries(payload)) {
        expectIn(step.input, name, 'Payload key', key);
        if (!value.startsWith('$$.')) expectState(name, `Payload ${key}`, value);
      }
      if (payload !== null && typeof payload === 'object') {
        for (const [key, value] of Object.entries(payload as Record<string, unknown>)) {
          if (key.endsWith('.$')) continue;
          expectIn(step.input, name, 'Payload key', key);
          for (const [, inner] of pathEntries(value))
            if (!inner.startsWith('$$.')) expectState(name, key, inner);
        }
      }
      const selector = state.ResultSelector as Record<string, unknown> | undefined;
      const resultPath = typeof state.ResultPath === 'string' ? state.ResultPath.replace(/^\$\.?/, '') : '';
      for (const [key, value] of pathEntries(selector)) {
        const fromPayload = /^\$\.Payload(?:\.(.*))?$/.exec(value);
        if (fromPayload === null) findings.push({ state: name, where: 'ResultSelector', path: value });
        else expectIn(step.output, name, 'ResultSelector', fromPayload[1] ?? '');
        const target = [resultPath, key].filter((p) => p !== '').join('.');
        expectState(name, 'ResultSelector key', `$.${target}`);
      }
    } else if (params !== undefined) {
      for (const [, value] of pathEntries(params))
        if (!value.startsWith('$$.')) expectState(name, 'Parameters', value);
    }
    const reader = state.ItemReader as { Parameters?: unknown } | undefined;
    for (const [, value] of pathEntries(reader?.Parameters)) expectState(name, 'ItemReader', value);
    const processor = state.ItemProcessor as
      { States?: Record<string, State>; ProcessorConfig?: { Mode?: string } } | undefined;
    if (processor?.States !== undefined && processor.ProcessorConfig?.Mode !== 'DISTRIBUTED') {
      // An inline Map (Back Up Volumes): each iteration's state is the run's state the selector
      // built (plus the volume), so its states are checked like the top level's.
      if (typeof state.ItemsPath === 'string') expectState(name, 'ItemsPath', state.ItemsPath);
      for (const [key, value] of pathEntries(state.ItemSelector)) {
        expectIn(backupRunStateSchema, name, 'ItemSelector key', key);
        if (!value.startsWith('$$.')) expectState(name, 'ItemSelector', value);
      }
      checkStates(processor.States, findings, checked);
    } else if (processor?.States !== undefined) {
      const copy = STEP_SCHEMAS.CopyRangeFunctionArn!;
      for (const [key, value] of pathEntries(state.ItemSelector)) {
        expectIn(copy.input, name, 'ItemSelector key', key);
        if (!value.startsWith('$$.')) expectState(name, 'ItemSelector', value);
      }
      // Inside the Map the state is the item the selector built: the copy step's own input.
      for (const [inner, innerState] of Object.entries(processor.States)) {
        const innerParams = innerState.Parameters as Record<string, unknown> | undefined;
        if (innerParams?.['Payload.$'] !== '$')
          findings.push({ state: inner, where: 'Payload.$', path: String(innerParams?.['Payload.$']) });
        checked.push({ state: inner, where: 'Payload.$', path: '$' });
        for (const [, value] of pathEntries(innerState.ResultSelector)) {
          const fromPayload = /^\$\.Payload(?:\.(.*))?$/.exec(value);
          if (fromPayload === null) findings.push({ state: inner, where: 'ResultSelector', path: value });
          else expectIn(copy.output, inner, 'ResultSelector', fromPayload[1] ?? '');
        }
      }
    }
  }
}

describe('the ASL paths and the step-state schemas', () => {
  it('every path the state machine reads or writes exists in the schemas', () => {
    const findings: Finding[] = [];
    const checked: Finding[] = [];
    checkStates(definition.States, findings, checked);
    expect(findings).toEqual([]);
    // The walk really looked: every Lambda task's payload, selectors and the choices.
    expect(checked.length).toBeGreaterThan(80);
  });

  it('a renamed field is caught', () => {
    const renamed = JSON.parse(
      JSON.stringify(definition.States).replace('"$.Payload.checkpointId"', '"$.Payload.checkpointName"'),
    ) as Record<string, State>;
    const findings: Finding[] = [];
    checkStates(renamed, findings, []);
    expect(findings).toEqual([
      { state: 'Request Checkpoint', where: 'ResultSelector', path: 'checkpointName' },
    ]);
  });
});
