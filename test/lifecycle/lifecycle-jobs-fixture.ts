/** The lifecycle job Lambda's dependencies over a test world (lifecycle-fixture.ts) and a job store. */
import type { LifecycleRunDeps } from '../../lambdas/core/lifecycle/lifecycle-jobs.ts';
import type { Clock } from '../../lambdas/core/ports.ts';
import type { JobStore } from '../../lambdas/core/jobs/job-store.ts';
import type { World } from './lifecycle-fixture.ts';

/**
 * Collection and scrub over the world's bucket and records, run ids `<kind>-<n>`, events and
 * findings dropped; `extra` replaces any of them and adds the rest (retention, restore tests).
 */
export function lifecycleRunDeps(
  world: World,
  jobs: JobStore,
  extra: Partial<LifecycleRunDeps> & { readonly clock?: Clock } = {},
): LifecycleRunDeps {
  const clock = extra.clock ?? world.clock;
  let n = 0;
  return {
    jobs,
    clock,
    newRunId: (kind) => `${kind}-${(n += 1)}`,
    gc: { objects: world.bucket, records: world.records, coordination: world.coordination, clock },
    scrub: { objects: world.bucket, records: world.records },
    events: { publish: () => Promise.resolve() },
    recordFindings: () => undefined,
    ...extra,
  };
}
