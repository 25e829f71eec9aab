/**
 * The cost of an `await` in a data-plane Lambda's process: CPU seconds of AWAITS_PER_ROUND
 * `await Promise.resolve()` with the data-plane handlers' modules loaded (every lib/function-manifest.ts
 * entry with `xraySdk: false`) against a bare Node process. The X-Ray SDK's cls-hooked async hooks
 * multiplied it ~15× when every handler loaded Powertools' Tracer; the data plane must not pay that
 * (goal: at most DATA_PLANE_AWAIT_GOAL of the bare process). The control plane's figure (the
 * functions that load the SDK on purpose) is reported for reference, with no goal.
 *
 * Each side runs in its own fresh process (the runner's process has loaded other suites' modules);
 * the same file is the child, with the task in RBP_TRACING_BENCH_CHILD. test/aws/tracing-handlers.test.ts
 * runs the child with no awaits to see which modules a handler loads.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { manifestEntries } from '../../lib/function-manifest.ts';
import { runBenchChild } from '../bench-child.ts';
import type { BenchResult, BenchSuite } from '../harness.ts';
import { round } from '../harness.ts';

const thisFile = fileURLToPath(import.meta.url);
const HANDLERS_DIR = fileURLToPath(new URL('../../lambdas/handlers/', import.meta.url));

/** Awaits per timed round: ~75 ms of CPU in a bare process, long enough to dwarf timer noise. */
export const AWAITS_PER_ROUND = 1_000_000;
/** Timed rounds per child after one warm-up round (the median counts): an odd count. */
const ROUNDS = 5;
/** Child processes per side, alternated bare / loaded so load drifts hit both: an odd count. */
const PAIRS = 3;
/** The data plane's awaits may cost at most this share of a bare process's (modules only, no hooks). */
const DATA_PLANE_AWAIT_GOAL = 1.2;
/** A child loads the AWS SDK clients' modules under tsx: a minute on a loaded 2-core machine. */
const CHILD_TIMEOUT_MS = 180_000;

/** What the child is asked: the modules to import, then the rounds of awaits to time. */
export interface TracingProbeTask {
  readonly modules: readonly string[];
  readonly awaits: number;
  readonly rounds: number;
}

/** What the child answers. */
export interface TracingProbeResult {
  /** Modules of the aws-xray-sdk-core package in the CommonJS loader's cache. */
  readonly xraySdkModules: number;
  /** Whether the X-Ray SDK's cls-hooked namespace (its async hooks) exists in the process. */
  readonly xrayNamespace: boolean;
  /** CPU milliseconds (user + system) of each timed round. */
  readonly roundCpuMs: readonly number[];
}

/** The handler module files of the manifest's functions that do (or do not) load the X-Ray SDK. */
export function handlerModules(xraySdk: boolean): string[] {
  return manifestEntries()
    .filter(([, entry]) => entry.xraySdk === xraySdk)
    .map(([, entry]) => path.join(HANDLERS_DIR, entry.entry));
}

/** Runs this file as a child on `task`. */
export async function runTracingProbe(task: TracingProbeTask): Promise<TracingProbeResult> {
  const outcome = await runBenchChild<TracingProbeResult>(thisFile, 'RBP_TRACING_BENCH_CHILD', task, {
    timeoutMs: CHILD_TIMEOUT_MS,
  });
  if (outcome.result === undefined) {
    throw new Error(
      `tracing probe failed (exit ${outcome.code}, signal ${outcome.signal}): ${outcome.stderr.slice(-2000)}`,
    );
  }
  return outcome.result;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median CPU ms of a child's rounds, over PAIRS children per side, alternated with the bare side. */
async function measure(modules: readonly string[]): Promise<{ loaded: number; bare: number; xray: boolean }> {
  const task = (m: readonly string[]): TracingProbeTask => ({
    modules: m,
    awaits: AWAITS_PER_ROUND,
    rounds: ROUNDS,
  });
  const loaded: number[] = [];
  const bare: number[] = [];
  let xray = false;
  for (let pair = 0; pair < PAIRS; pair += 1) {
    bare.push(median((await runTracingProbe(task([]))).roundCpuMs));
    const result = await runTracingProbe(task(modules));
    xray ||= result.xrayNamespace;
    loaded.push(median(result.roundCpuMs));
  }
  return { loaded: median(loaded), bare: median(bare), xray };
}

export const suite: BenchSuite = {
  name: 'tracing',
  async run(): Promise<readonly BenchResult[]> {
    const results: BenchResult[] = [];
    for (const [plane, xraySdk] of [
      ['data-plane', false],
      ['control-plane', true],
    ] as const) {
      const modules = handlerModules(xraySdk);
      const { loaded, bare, xray } = await measure(modules);
      const ratio = loaded / bare;
      results.push({
        name: `tracing/${plane}-await-cpu`,
        value: round(loaded, 1),
        unit: `ms per ${AWAITS_PER_ROUND} awaits`,
        baseline: round(bare, 1),
        ratio: round(ratio, 2),
        ...(xraySdk
          ? { goal: 'reference (loads the X-Ray SDK on purpose)' }
          : { goal: `<= ${DATA_PLANE_AWAIT_GOAL} of a bare process`, met: ratio <= DATA_PLANE_AWAIT_GOAL }),
        details: {
          handlers: modules.map((m) => path.basename(m)).join(' '),
          xrayNamespace: String(xray),
          rounds: ROUNDS,
          pairs: PAIRS,
        },
      });
    }
    return results;
  },
};

async function probe(task: TracingProbeTask): Promise<TracingProbeResult> {
  for (const module of task.modules) await import(pathToFileURL(module).href);
  const xraySdkModules = Object.keys(createRequire(import.meta.url).cache).filter((file) =>
    file.includes(`${path.sep}aws-xray-sdk-core${path.sep}`),
  ).length;
  const namespaces = (process as { namespaces?: Record<string, unknown> }).namespaces ?? {};
  const roundCpuMs: number[] = [];
  for (let round = 0; round <= task.rounds && task.awaits > 0; round += 1) {
    const start = process.cpuUsage();
    for (let i = 0; i < task.awaits; i += 1) await Promise.resolve();
    const used = process.cpuUsage(start);
    // Round 0 warms the JIT up and is not counted.
    if (round > 0) roundCpuMs.push((used.user + used.system) / 1_000);
  }
  return { xraySdkModules, xrayNamespace: namespaces.AWSXRay !== undefined, roundCpuMs };
}

const childTask = process.env.RBP_TRACING_BENCH_CHILD;
if (childTask !== undefined) {
  console.log(`RESULT ${JSON.stringify(await probe(JSON.parse(childTask) as TracingProbeTask))}`);
}
