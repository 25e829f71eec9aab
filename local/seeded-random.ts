/**
 * The project's one seeded pseudo-random generator: mulberry32, a tiny, well-known 32-bit
 * generator. The same seed gives the same sequence, so injected fault patterns, generated trees
 * and failing test runs can be replayed. Used by the local stack's fault injection and the demo,
 * and by the tests and benches (which import it from here: local/ must not import test helpers).
 * Not for anything secret.
 */

/** 2^32: turns a 32-bit state into a number in [0, 1). */
const TWO_POW_32 = 4_294_967_296;

/** A generator of numbers in [0, 1) seeded with `seed` (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32;
  };
}
