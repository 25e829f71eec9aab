/**
 * What a route of the REST API is: its method, path template, the schemas of its path
 * parameters, query and body, its answer, and the function that serves it; and `route`, which
 * types a route's `serve` with the outputs of its own schemas. The tables that use it are
 * routes.ts and the per-area route files (plans, lifecycle, workflows).
 */
import { z } from 'zod';
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

export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType | undefined>(definition: {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  params?: P;
  query?: Q;
  body?: B;
  success: { status: 200 | 202; schema: z.ZodType };
  errorStatuses?: readonly number[];
  serve(
    deps: ApiDeps,
    input: RouteInput<z.output<P>, z.output<Q>, B extends z.ZodType ? z.output<B> : undefined>,
  ): Promise<RouteAnswer>;
}): Route {
  return {
    method: definition.method,
    path: definition.path,
    operationId: definition.operationId,
    summary: definition.summary,
    params: definition.params ?? noParams,
    query: definition.query ?? noParams,
    body: definition.body,
    success: definition.success,
    errorStatuses: definition.errorStatuses ?? [],
    serve: (deps, input) => definition.serve(deps, input as Parameters<typeof definition.serve>[1]),
  };
}
