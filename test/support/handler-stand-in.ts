/**
 * A stand-in API (useApiStandIn) that hands every request to the product's own API handler, as API
 * Gateway's proxy integration would: the method, the path below `/api`, the query (a repeated
 * parameter with all its values) and the body. The CLI tests run `rbp` against it over in-memory
 * ports; `seen` records each request before it is answered.
 */
import type { ApiProxyHandler } from '../../lambdas/handlers/api.ts';
import { proxyEvent } from '../api/api-events.ts';
import { useApiStandIn, type ApiStandIn, type StandInRequest } from './cli.ts';

export function useHandlerStandIn(
  handler: () => ApiProxyHandler,
  seen?: (request: StandInRequest, url: URL) => void,
): ApiStandIn {
  return useApiStandIn(async (request) => {
    const url = new URL(request.url, 'http://stand-in');
    seen?.(request, url);
    const query: Record<string, string | string[]> = {};
    for (const name of new Set(url.searchParams.keys())) {
      const values = url.searchParams.getAll(name);
      query[name] = values.length === 1 ? values[0]! : values;
    }
    const answer = await handler()(
      proxyEvent({
        method: request.method,
        path: url.pathname.replace(/^\/api/, ''),
        query,
        ...(request.body === '' ? {} : { body: request.body }),
      }),
    );
    return { status: answer.statusCode, text: answer.body, headers: { 'content-type': 'application/json' } };
  });
}
