/**
 * Port wrappers for the deletion and collection tests: one that records every call by name, one
 * that injects a crash (an exception before the call runs) at a given call, counted across every
 * port it wraps, so a test can interrupt a protocol at each of its steps in turn, and one that
 * replaces a single method (a recovery point store whose detach fails for one image).
 */
import type { ImageDeletionDeps } from '../../lambdas/core/lifecycle/image-deletion.ts';

/** The message of every injected crash. */
export const INJECTED_CRASH = 'injected crash';

/** A proxy of `target` that calls `before(method)` ahead of every method call. */
function intercepted<T extends object>(target: T, before: (method: string) => void): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        before(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}

/** Wraps ports so that every method call is appended to `calls` (as `method`, or `name.method`). */
export function recordingCalls(calls: string[]): <T extends object>(target: T, name?: string) => T {
  return (target, name) =>
    intercepted(target, (method) => calls.push(name === undefined ? method : `${name}.${method}`));
}

/**
 * `deps` with its ports wrapped by recordingCalls(calls), named `objects`, `records` and (when
 * given) `points`: a deletion run with them appends each port call to `calls` as `name.method`.
 */
export function recordingDeletion(deps: ImageDeletionDeps, calls: string[]): ImageDeletionDeps {
  const spy = recordingCalls(calls);
  return {
    ...deps,
    objects: spy(deps.objects, 'objects'),
    records: spy(deps.records, 'records'),
    ...(deps.recoveryPoints === undefined ? {} : { recoveryPoints: spy(deps.recoveryPoints, 'points') }),
  };
}

/**
 * Wraps ports so that call number `crashAt` (from 1, counting the calls of every port wrapped by
 * this one function) throws INJECTED_CRASH instead of running.
 */
export function crashingAt(crashAt: number): <T extends object>(target: T) => T {
  let calls = 0;
  return (target) =>
    intercepted(target, () => {
      calls += 1;
      if (calls === crashAt) throw new Error(INJECTED_CRASH);
    });
}

/**
 * `deps` with its ports (objects, records and, when given, recovery points) wrapped by one
 * crashingAt(crashAt): a deletion run with them crashes at its `crashAt`-th port call.
 */
export function crashingDeletion(deps: ImageDeletionDeps, crashAt: number): ImageDeletionDeps {
  const crash = crashingAt(crashAt);
  return {
    ...deps,
    objects: crash(deps.objects),
    records: crash(deps.records),
    ...(deps.recoveryPoints === undefined ? {} : { recoveryPoints: crash(deps.recoveryPoints) }),
  };
}

/** A proxy of `target` whose method `name` is `replacement`; every other method is target's own, bound to it. */
export function withMethod<T extends object, K extends keyof T>(target: T, name: K, replacement: T[K]): T {
  return new Proxy(target, {
    get(obj, prop) {
      if (prop === name) return replacement;
      const value: unknown = Reflect.get(obj, prop, obj);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(obj) : value;
    },
  });
}

/** The recovery point store as image deletion uses it. */
type DeletionPoints = NonNullable<ImageDeletionDeps['recoveryPoints']>;

/** `points` whose detachImage rejects with `error` for image `imageId` and detaches every other image as before. */
export function detachFailingFor(points: DeletionPoints, imageId: string, error: Error): DeletionPoints {
  return withMethod(points, 'detachImage', (image, servers) =>
    image.imageId === imageId ? Promise.reject(error) : points.detachImage(image, servers),
  );
}
