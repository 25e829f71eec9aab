/** Path normalisation: agreement with path.posix.normalize inside the root, and refusal of escapes. */
import { posix } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseCatalogPath } from '../../lambdas/core/api/catalog-path.ts';

const component = fc.oneof(
  fc.constantFrom('.', '..', '', 'a', 'b', 'c d', 'é', '..a', '.b'),
  fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('/') && !s.includes('\0')),
);
const rawPath = fc.array(component, { maxLength: 12 }).map((parts) => `/${parts.join('/')}`);

/** Depth reached by a path while walking it; negative when it climbs above the root. */
function lowestDepth(path: string): number {
  let depth = 0;
  let lowest = 0;
  for (const part of path.split('/')) {
    if (part === '..') depth -= 1;
    else if (part !== '' && part !== '.') depth += 1;
    lowest = Math.min(lowest, depth);
  }
  return lowest;
}

describe('normaliseCatalogPath', () => {
  it('equals posix normalisation (without a trailing slash) when the path stays inside the root', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        fc.pre(lowestDepth(raw) >= 0);
        const result = normaliseCatalogPath(raw);
        const expected = posix.normalize(raw).replace(/(.)\/$/, '$1');
        expect(result).toMatchObject({ ok: true, path: expected });
      }),
    );
  });

  it('refuses every path that climbs above the root at any point', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        fc.pre(lowestDepth(raw) < 0);
        expect(normaliseCatalogPath(raw)).toEqual({
          ok: false,
          reason: 'must not climb above the root (..)',
        });
      }),
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(rawPath, (raw) => {
        const once = normaliseCatalogPath(raw);
        if (once.ok) expect(normaliseCatalogPath(once.path)).toEqual(once);
      }),
    );
  });

  it.each([
    ['', 'must not be empty'],
    ['etc/hosts', 'must be absolute (start with /)'],
    ['/etc/\0', 'must not contain NUL'],
    ['/\ud800', 'must be valid Unicode (no lone surrogates)'],
    [`/${'é'.repeat(128)}`, 'each name must be at most 255 bytes'],
    [`/${'a/'.repeat(2048)}`, 'must be at most 4096 bytes'],
  ])('refuses %j: %s', (raw, reason) => {
    expect(normaliseCatalogPath(raw)).toEqual({ ok: false, reason });
  });

  it('keeps names at the limits and astral characters', () => {
    expect(normaliseCatalogPath(`/${'é'.repeat(127)}x`)).toMatchObject({ ok: true });
    expect(normaliseCatalogPath('/😀/a')).toEqual({ ok: true, path: '/😀/a', components: ['😀', 'a'] });
  });
});
