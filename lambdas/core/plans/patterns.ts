/**
 * Name patterns of plan activities: `*` matches any run of characters (also none), `?` exactly
 * one character, everything else itself, case-sensitively (server ids and application names are
 * case-sensitive where they come from: EC2 tag values and the agent's metadata file).
 */

/** True when the pattern contains a wildcard. */
export function isWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/**
 * True when `name` matches `pattern`. Iterative with one backtrack point (the last `*`), so it
 * runs in O(|pattern| x |name|) at worst and never recurses.
 */
export function matchesPattern(pattern: string, name: string): boolean {
  const p = [...pattern];
  const n = [...name];
  let pi = 0;
  let ni = 0;
  let starAt = -1;
  let starMatchedUpTo = 0;
  while (ni < n.length) {
    const pc = p[pi];
    if (pc === '?' || (pc !== undefined && pc !== '*' && pc === n[ni])) {
      pi += 1;
      ni += 1;
    } else if (pc === '*') {
      starAt = pi;
      starMatchedUpTo = ni;
      pi += 1;
    } else if (starAt >= 0) {
      pi = starAt + 1;
      starMatchedUpTo += 1;
      ni = starMatchedUpTo;
    } else {
      return false;
    }
  }
  while (p[pi] === '*') pi += 1;
  return pi === p.length;
}

/**
 * Natural order: runs of digits compare by value, so QA2 sorts before QA10. Ties (QA01 and QA1)
 * fall back to plain code-unit order, so the order is total and the same on every machine
 * (no locale).
 */
export function naturalCompare(a: string, b: string): number {
  const runs = (s: string) => s.match(/\d+|\D+/g) ?? [];
  const ra = runs(a);
  const rb = runs(b);
  for (let i = 0; i < Math.min(ra.length, rb.length); i += 1) {
    const x = ra[i] as string;
    const y = rb[i] as string;
    if (x === y) continue;
    const xDigits = /^\d/.test(x);
    const yDigits = /^\d/.test(y);
    if (xDigits && yDigits) {
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  if (ra.length !== rb.length) return ra.length - rb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
