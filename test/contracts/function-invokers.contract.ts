/**
 * The contracts of the ports that invoke an operator's or the product's Lambda function:
 *
 * - answering invokers, HookInvoker (core/plans/plan-ports.ts) and MaskingHookInvoker
 *   (core/workflows/masking.ts): the answer is what the function returned, through JSON (`null`
 *   when it returned nothing: Lambda's Node runtime serialises undefined as `null`); the function
 *   receives the event once; a function error is a PermanentError with the function's message, no
 *   answer within the timeout is a PermanentError, an unknown function a NotFoundError, and
 *   throttling a ThrottledError, the one error the run retries
 *   (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html);
 * - event launchers, RestoreLauncher's worker side (core/api/restore-service.ts) and
 *   LifecycleJobLauncher (core/lifecycle/lifecycle-jobs.ts): the launch resolves without waiting
 *   for the function, the function receives the event once, its failure is not the launcher's,
 *   and an unknown function is a NotFoundError
 *   (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html).
 *
 * Run against MemoryLambdaFunctions (test/fakes) and the Lambda adapters on the local stack, whose
 * gateway runs the registered functions in process.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError, PermanentError, ThrottledError } from '../../lambdas/core/errors.ts';
import { rejectionOf } from '../local/ebs-test-support.ts';
import type { MemoryFunction } from '../fakes/memory-lambda-functions.ts';

export interface FunctionsHarness {
  /** Deploys a function named `name` that runs `handler`. */
  register(name: string, handler: MemoryFunction): void;
  /** Lambda throttles every Invoke while on. */
  throttle(on: boolean): void;
}

export interface AnsweringHarness<E> extends FunctionsHarness {
  readonly invoker: { invoke(functionName: string, event: E, timeoutSeconds: number): Promise<unknown> };
}

export interface LaunchingHarness<E> extends FunctionsHarness {
  /** The launcher of the function named `functionName`. */
  launcher(functionName: string): { launch(event: E): Promise<void> };
}

/** How long the late function takes; the invoke waits one second for it. */
const LATE_ANSWER_MS = 2_500;
/** Reads of what a launched function received before the test gives up on it arriving. */
const MAX_DELIVERY_READS = 100;
/** Pause between those reads. */
const DELIVERY_READ_PAUSE_MS = 50;

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function unknownFunction(operation: string, name: string): RegExp {
  return new RegExp(
    `^${operation.replace(/[()]/g, '\\$&')} failed: ResourceNotFoundException: Function not found: arn:aws:lambda:[a-z0-9-]+:\\d{12}:function:${name}$`,
  );
}

/** A recording function: the events it received, answering `answer(event)`. */
function recorder(answer: (event: unknown) => Promise<unknown>): {
  events: unknown[];
  handler: MemoryFunction;
} {
  const events: unknown[] = [];
  return {
    events,
    handler: (event) => {
      events.push(event);
      return answer(event);
    },
  };
}

export function answeringInvokerContract<E>(
  name: string,
  expected: { readonly operation: string; readonly event: E },
  open: () => Promise<AnsweringHarness<E>>,
): void {
  const { event, operation } = expected;
  describe(`answering invoker contract: ${name}`, () => {
    it('answers what the function returned, through JSON; the function receives the event once', async () => {
      const harness = await open();
      const answer = { maskedSnapshots: { 'vol-0a': 'snap-0b' }, message: 'masked', at: new Date(0) };
      const hook = recorder(() => Promise.resolve(answer));
      harness.register('fx-answer', hook.handler);
      harness.register('fx-text', () => Promise.resolve('done'));
      harness.register('fx-nothing', () => Promise.resolve(undefined));
      expect(await harness.invoker.invoke('fx-answer', event, 30)).toEqual({
        maskedSnapshots: { 'vol-0a': 'snap-0b' },
        message: 'masked',
        at: '1970-01-01T00:00:00.000Z',
      });
      expect(hook.events).toEqual([event]);
      expect(await harness.invoker.invoke('fx-text', event, 30)).toBe('done');
      expect(await harness.invoker.invoke('fx-nothing', event, 30)).toBeNull();
    });

    it("a function error is a PermanentError with the function's message", async () => {
      const harness = await open();
      harness.register('fx-throws', () => Promise.reject(new Error('no shadow file')));
      const error = await rejectionOf(harness.invoker.invoke('fx-throws', event, 30));
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.message).toBe('no shadow file');
    });

    it('no answer within the timeout is a PermanentError', async () => {
      const harness = await open();
      harness.register('fx-late', () => pause(LATE_ANSWER_MS).then(() => 'too late'));
      const error = await rejectionOf(harness.invoker.invoke('fx-late', event, 1));
      expect(error).toBeInstanceOf(PermanentError);
      expect(error.message).toBe('no answer within 1 s');
    });

    it('an unknown function is a NotFoundError naming it; throttling is a ThrottledError', async () => {
      const harness = await open();
      const missing = await rejectionOf(harness.invoker.invoke('fx-missing', event, 30));
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.message).toMatch(unknownFunction(operation, 'fx-missing'));
      const hook = recorder(() => Promise.resolve('ran'));
      harness.register('fx-throttled', hook.handler);
      harness.throttle(true);
      try {
        const throttled = await rejectionOf(harness.invoker.invoke('fx-throttled', event, 30));
        expect(throttled).toBeInstanceOf(ThrottledError);
        expect(throttled.message).toMatch(
          new RegExp(`^${operation.replace(/[()]/g, '\\$&')} failed: TooManyRequestsException`),
        );
      } finally {
        harness.throttle(false);
      }
      expect(hook.events).toEqual([]);
    });
  });
}

export function eventLauncherContract<E>(
  name: string,
  expected: { readonly operation: string; readonly event: E },
  open: () => Promise<LaunchingHarness<E>>,
): void {
  const { event, operation } = expected;
  describe(`event launcher contract: ${name}`, () => {
    it('the launch does not wait for the function, which receives the event once; its failure is not the launch’s', async () => {
      const harness = await open();
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      const worker = recorder(() => held.then(() => Promise.reject(new Error('the worker failed'))));
      harness.register('fx-worker', worker.handler);
      await harness.launcher('fx-worker').launch(event);
      for (let reads = 0; worker.events.length === 0 && reads < MAX_DELIVERY_READS; reads += 1)
        await pause(DELIVERY_READ_PAUSE_MS);
      release();
      expect(worker.events).toEqual([event]);
    });

    it('an unknown function is a NotFoundError naming it', async () => {
      const harness = await open();
      const missing = await rejectionOf(harness.launcher('fx-missing').launch(event));
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing.message).toMatch(unknownFunction(operation, 'fx-missing'));
    });
  });
}
