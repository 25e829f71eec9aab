/**
 * Serves one API request: size limit, route and method, path parameters, query and body validated
 * against the route's zod schemas, then the route itself; every error becomes the one error shape
 * (api-errors.ts). Nothing reaches a route unless its whole input is valid, so a bad request can
 * never start a backup or create a restore job.
 */
import type { z } from 'zod';
import { ValidationError } from '../errors.ts';
import {
  mapApiError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  RequestValidationError,
  RouteNotFoundError,
  UnsupportedMediaTypeError,
} from './api-errors.ts';
import type { ApiDeps } from './api-ports.ts';
import type { ApiRequest, ApiResponse } from './api-types.ts';
import { ROUTES, type Route } from './routes.ts';

/**
 * Largest request body accepted: the largest valid body is a restore of a 4 KiB path (about 4.2 KB
 * of JSON); 16 KiB leaves room for escaping and refuses anything that is not a real request.
 */
export const MAX_REQUEST_BODY_BYTES = 16_384;
/** Longest request path accepted: ids are at most 80 characters, so real paths are far shorter. */
export const MAX_REQUEST_PATH_CHARS = 1_024;

const JSON_HEADERS = { 'content-type': 'application/json' };

interface MatchedPath {
  readonly routes: readonly Route[];
  readonly params: Record<string, string>;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (cause) {
    throw new ValidationError('the request path is not valid percent-encoding', { cause });
  }
}

function matchTemplate(template: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = template.split('/').filter((part) => part !== '');
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [index, part] of parts.entries()) {
    const segment = segments[index]!;
    const parameter = /^\{(\w+)\}$/.exec(part);
    if (parameter) params[parameter[1]!] = decodeSegment(segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

function matchPath(path: string, routes: readonly Route[]): MatchedPath | undefined {
  const segments = path.split('/').filter((segment) => segment !== '');
  let best: MatchedPath | undefined;
  for (const candidate of routes) {
    const params = matchTemplate(candidate.path, segments);
    if (params === undefined) continue;
    // Several templates can match one path (a literal and a parameter); the one with fewer
    // parameters is the more specific.
    if (best === undefined || Object.keys(params).length < Object.keys(best.params).length) {
      best = { routes: [candidate], params };
    } else if (Object.keys(params).length === Object.keys(best.params).length) {
      best = { routes: [...best.routes, candidate], params: best.params };
    }
  }
  return best;
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => {
    const field = [where, ...issue.path.map(String)].join('.');
    const message =
      issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message;
    return { field, message };
  });
  const message = `invalid request: ${issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ')}`;
  throw new RequestValidationError(message, issues);
}

function singleValuedQuery(query: ApiRequest['query']): Record<string, string> {
  const single: Record<string, string> = {};
  for (const [name, values] of Object.entries(query)) {
    if (values.length !== 1) {
      throw new RequestValidationError(`invalid request: query.${name}: given more than once`, [
        { field: `query.${name}`, message: 'given more than once' },
      ]);
    }
    single[name] = values[0]!;
  }
  return single;
}

function parseJsonBody(request: ApiRequest): unknown {
  const contentType = (request.headers['content-type'] ?? 'application/json')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  if (contentType !== 'application/json') {
    throw new UnsupportedMediaTypeError(`the body must be application/json, not ${contentType}`);
  }
  if (request.body === null || request.body.length === 0) {
    throw new RequestValidationError('invalid request: body: a JSON object is required', [
      { field: 'body', message: 'a JSON object is required' },
    ]);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(request.body);
  } catch (cause) {
    throw new ValidationError('invalid request: body: not UTF-8', { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new RequestValidationError(
      'invalid request: body: not valid JSON',
      [{ field: 'body', message: 'not valid JSON' }],
      {
        cause,
      },
    );
  }
}

async function dispatch(deps: ApiDeps, request: ApiRequest, routes: readonly Route[]): Promise<ApiResponse> {
  if (request.body !== null && request.body.length > MAX_REQUEST_BODY_BYTES) {
    throw new PayloadTooLargeError(
      `the request body has ${request.body.length} bytes; at most ${MAX_REQUEST_BODY_BYTES} are accepted`,
      { context: { limitBytes: MAX_REQUEST_BODY_BYTES, bodyBytes: request.body.length } },
    );
  }
  if (request.path.length > MAX_REQUEST_PATH_CHARS) {
    throw new ValidationError(`the request path is longer than ${MAX_REQUEST_PATH_CHARS} characters`);
  }
  const matched = matchPath(request.path, routes);
  if (matched === undefined) throw new RouteNotFoundError(request.path);
  const method = request.method.toUpperCase();
  const route = matched.routes.find((candidate) => candidate.method === method);
  if (route === undefined) {
    throw new MethodNotAllowedError(
      method,
      [...new Set(matched.routes.map((candidate) => candidate.method))].sort(),
    );
  }
  const params = parseWith(route.params, matched.params, 'path');
  const query = parseWith(route.query, singleValuedQuery(request.query), 'query');
  const body = route.body === undefined ? undefined : parseWith(route.body, parseJsonBody(request), 'body');
  const answer = await route.serve(deps, { params, query, body, principal: request.principal });
  return { status: answer.status, headers: { ...JSON_HEADERS, ...answer.headers }, body: answer.body };
}

/** Serves `request`; never throws. `onError` sees every failure (for logging). */
export async function handleApiRequest(
  deps: ApiDeps,
  request: ApiRequest,
  options: {
    readonly routes?: readonly Route[];
    readonly onError?: (error: unknown, status: number) => void;
    /**
     * Rewrites an error before it becomes an answer: the adapters' boundary decides which of their
     * failures are the deployment's fault (lambdas/aws/sdk-errors.ts, asApiError).
     */
    readonly reclassify?: (error: unknown) => unknown;
  } = {},
): Promise<ApiResponse> {
  try {
    return await dispatch(deps, request, options.routes ?? ROUTES);
  } catch (error) {
    const mapped = mapApiError(options.reclassify === undefined ? error : options.reclassify(error));
    options.onError?.(error, mapped.status);
    return { status: mapped.status, headers: mapped.headers, body: mapped.body };
  }
}
