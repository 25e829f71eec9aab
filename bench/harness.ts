/**
 * Shared shape of benchmark results. Every suite measures its subject against a baseline measured
 * in the same run (these machines are noisy), and reports the ratio with the goal it is held to.
 */
export interface BenchResult {
  /** Suite and case, e.g. "engine/full-backup-2GiB". */
  readonly name: string;
  /** The measured figure. */
  readonly value: number;
  readonly unit: string;
  /** The baseline measured in the same run, in the same unit, when there is one. */
  readonly baseline?: number;
  /** value / baseline (or the figure the goal is stated in). */
  readonly ratio?: number;
  /** The goal, in words, e.g. ">= 0.8 of SHA-256 + zstd". */
  readonly goal?: string;
  /** Whether the goal was met, when there is one. */
  readonly met?: boolean;
  /** Anything else a reader needs: sizes, request counts. */
  readonly details?: Readonly<Record<string, number | string>>;
}

export interface BenchSuite {
  readonly name: string;
  run(): Promise<readonly BenchResult[]>;
}

export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** A measured rate held to at least `share` of a baseline measured in the same run. */
export interface ShareOfBaseline {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
  readonly baseline: number;
  /** Digits the value and the baseline are reported with. */
  readonly digits: number;
  /** The least value / baseline that meets the goal. */
  readonly share: number;
  readonly goal: string;
  readonly details: BenchResult['details'];
}

/** The result of a `ShareOfBaseline` case: the ratio and whether it met the share (unrounded figures). */
export function shareOfBaseline(measured: ShareOfBaseline): BenchResult {
  const { value, baseline, digits } = measured;
  return {
    name: measured.name,
    value: round(value, digits),
    unit: measured.unit,
    baseline: round(baseline, digits),
    ratio: round(value / baseline),
    goal: measured.goal,
    met: value / baseline >= measured.share,
    details: measured.details,
  };
}

/** Wall time of `fn` in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}
