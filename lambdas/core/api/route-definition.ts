/**
 * What a route of the REST API is: its method, path template, the schemas of its path
 * parameters, query and body, its answer, and the function that serves it; and `route`, the one
 * compact declaration every route table uses (routes.ts and the per-area route files): the
 * operation's line (`GET /plans/{name}`), its operationId, and the schemas it parses. Parsing,
 * the answer's status and its Location header live here and in the router, never in a route.
 */
import { z } from 'zod';
import { ValidationError } from '../errors.ts';
import type { ApiDeps } from './api-ports.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly principal: string | undefined;
}

export interface RouteAnswer {
  readonly status: 200 | 202;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Route {
  readonly method: HttpMethod;
  /** Path template with `{name}` parameters, as in OpenAPI. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly params: z.ZodType;
  readonly query: z.ZodType;
  /** Undefined: the operation takes no body (any body is ignored, as API Gateway does). */
  readonly body: z.ZodType | undefined;
  readonly success: { readonly status: 200 | 202; readonly schema: z.ZodType };
  /** Error statuses the operation can answer besides 400/403/405/413/429/5xx. */
  readonly errorStatuses: readonly number[];
  serve(deps: ApiDeps, input: RouteInput<unknown, unknown, unknown>): Promise<RouteAnswer>;
}

/** The schema of an operation without path parameters or query. */
export const noParams = z.object({}).strict();

/** An operation's method and path template, e.g. `GET /plans/{name}`. */
export type RouteLine = `${HttpMethod} /${string}`;

/** What a route declares besides its line and operationId. */
export interface RouteDeclaration<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType | undefined,
  R,
> {
  readonly summary: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** The schema of the answer's body: 200 OK, or 202 Accepted when `accepted` is set. */
  readonly answer: z.ZodType;
  /** Error statuses the operation can answer besides 400/403/405/413/429/5xx. */
  readonly errors?: readonly number[];
  /** Serves the parsed request; what it returns is the answer's body. */
  serve(
    deps: ApiDeps,
    input: RouteInput<z.output<P>, z.output<Q>, B extends z.ZodType ? z.output<B> : undefined>,
  ): Promise<R>;
  /**
   * For an operation that starts a job: it answers 202 Accepted, and when this is a function, a
   * Location header at the path it makes of the answer (declared after `serve`, whose answer types it).
   */
  readonly accepted?: true | ((answer: R) => string);
}

/** Declares a route: `route('GET /plans/{name}', 'getPlan', { summary, params, answer, serve })`. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType | undefined, R>(
  line: RouteLine,
  operationId: string,
  declaration: RouteDeclaration<P, Q, B, R>,
): Route {
  const space = line.indexOf(' ');
  const { accepted } = declaration;
  const status = accepted === undefined ? 200 : 202;
  return {
    method: line.slice(0, space) as HttpMethod,
    path: line.slice(space + 1),
    operationId,
    summary: declaration.summary,
    params: declaration.params ?? noParams,
    query: declaration.query ?? noParams,
    body: declaration.body,
    success: { status, schema: declaration.answer },
    errorStatuses: declaration.errors ?? [],
    async serve(deps, input) {
      const body = await declaration.serve(deps, input as Parameters<typeof declaration.serve>[1]);
      if (typeof accepted !== 'function') return { status, body };
      return { status, body, headers: { location: accepted(body) } };
    },
  };
}

/**
 * The port an optional part of the API is served by, or a 400 saying `what` (e.g. `protection
 * plans`) is not configured in this deployment.
 */
export function configured<T>(port: T | undefined, what: string, verb: 'are' | 'is' = 'are'): T {
  if (port === undefined) throw new ValidationError(`${what} ${verb} not configured in this deployment`, {});
  return port;
}
