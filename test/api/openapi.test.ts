/** docs/openapi.json is generated from the routing table; the committed file must be current. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, openApiText } from '../../lambdas/core/api/openapi.ts';
import { ROUTES } from '../../lambdas/core/api/routes.ts';

describe('OpenAPI document', () => {
  it('equals the committed docs/openapi.json (run `npm run openapi` after changing a schema)', () => {
    const committed = readFileSync(new URL('../../docs/openapi.json', import.meta.url), 'utf8');
    expect(committed).toBe(openApiText());
  });

  it('documents every route with its method, parameters, success and error answers', () => {
    const document = buildOpenApiDocument() as {
      paths: Record<
        string,
        Record<
          string,
          {
            operationId: string;
            parameters: { name: string; in: string }[];
            responses: Record<string, unknown>;
          }
        >
      >;
    };
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(
        ([method, operation]) => `${method.toUpperCase()} ${path} ${operation.operationId}`,
      ),
    );
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`).sort());
    for (const route of ROUTES) {
      const operation = document.paths[route.path]![route.method.toLowerCase()]!;
      const pathParameters = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(operation.parameters.filter((p) => p.in === 'path').map((p) => p.name)).toEqual(pathParameters);
      expect(Object.keys(operation.responses)).toContain(String(route.success.status));
      expect(Object.keys(operation.responses)).toContain('400');
    }
  });
});
