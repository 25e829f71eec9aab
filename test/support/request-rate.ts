/**
 * How far a series of request times went over a token budget: the largest excess of requests over
 * the allowance (burst + rate × (window + lease)) in any window [t_i, t_j] of the times (ms).
 * Zero or less means the series stayed within the budget.
 */
export function worstExcess(times: readonly number[], rate: number, burst: number, leaseMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let worst = -Infinity;
  for (let i = 0; i < sorted.length; i += 1) {
    for (let j = i; j < sorted.length; j += 1) {
      const allowed = burst + (rate * (sorted[j]! - sorted[i]! + leaseMs)) / 1000;
      worst = Math.max(worst, j - i + 1 - allowed);
    }
  }
  return worst;
}
