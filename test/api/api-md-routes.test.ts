/**
 * docs/api.md describes the API the routing table serves (docs/openapi.json is generated from the
 * same table, openapi.test.ts): every route is a row of its Routes table, and every row is a route.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../../lambdas/core/api/routes.ts';

/** `| POST   | \`/backups/{backupId}/cancel\` …` → `POST /backups/{}/cancel` (query and body notes dropped). */
function documentedRoutes(markdown: string): string[] {
  return [...markdown.matchAll(/^\|\s*(GET|POST|PUT|DELETE)\s*\|\s*`([^`?]+)/gm)].map(
    (m) => `${m[1]} ${normalised(m[2]!)}`,
  );
}

const normalised = (path: string) => path.trim().replace(/\{[^}]+\}/g, '{}');

describe('docs/api.md', () => {
  it('lists every route of the routing table, and no other', () => {
    const markdown = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');
    const documented = documentedRoutes(markdown).sort();
    const served = ROUTES.map((r) => `${r.method} ${normalised(r.path)}`).sort();
    expect(documented).toEqual(served);
  });
});
