/**
 * Lambda "api": the REST API behind API Gateway (Lambda proxy integration). Converts the proxy
 * event into an ApiRequest, lets the pure router serve it (lambdas/core/api), and converts the
 * answer back. Dependencies come from the environment (lambdas/aws/wiring.ts, clients traced through
 * lambdas/aws/tracing.ts) once per container.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { handleApiRequest } from '../core/api/api-router.ts';
import type { ApiDeps } from '../core/api/api-ports.ts';
import type { ApiRequest, ApiResponse } from '../core/api/api-types.ts';
import { describeError } from '../core/errors.ts';
import { asApiError } from '../aws/sdk-errors.ts';
import { logger } from '../aws/observability.ts';
import { tracedLambdaWiring } from '../aws/tracing.ts';

export type ApiProxyHandler = (
  event: APIGatewayProxyEvent,
  context?: Context,
) => Promise<APIGatewayProxyResult>;

function queryOf(event: APIGatewayProxyEvent): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    if (values !== undefined) query[name] = [...values];
  }
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined && query[name] === undefined) query[name] = [value];
  }
  return query;
}

export function toApiRequest(event: APIGatewayProxyEvent): ApiRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const body =
    event.body === null || event.body === undefined
      ? null
      : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  const principal =
    event.requestContext?.identity?.userArn ?? event.requestContext?.identity?.caller ?? undefined;
  return {
    method: event.httpMethod,
    path: event.path,
    query: queryOf(event),
    headers,
    body,
    ...(principal ? { principal } : {}),
  };
}

export function toProxyResult(response: ApiResponse): APIGatewayProxyResult {
  return {
    statusCode: response.status,
    headers: { ...response.headers, 'cache-control': 'no-store' },
    body: JSON.stringify(response.body),
  };
}

/** Where refused (4xx) and failed (5xx) requests are reported; Powertools' logger by default. */
export type ApiErrorLog = (entry: { method: string; path: string; status: number; error: unknown }) => void;

const powertoolsErrorLog: ApiErrorLog = ({ method, path, status, error }) => {
  const entry = { method, path, status, error: describeError(error) };
  if (status >= 500)
    logger.error('request failed', { ...entry, stack: error instanceof Error ? error.stack : undefined });
  else logger.info('request refused', entry);
};

/** The proxy handler over explicit dependencies (tests and the local stack use this). */
export function createApiHandler(deps: ApiDeps, log: ApiErrorLog = powertoolsErrorLog): ApiProxyHandler {
  return async (event) => {
    const request = toApiRequest(event);
    const response = await handleApiRequest(deps, request, {
      onError: (error, status) => log({ method: request.method, path: request.path, status, error }),
      reclassify: asApiError,
    });
    return toProxyResult(response);
  };
}

let built: ApiProxyHandler | undefined;

/** The Lambda entry point. */
export const handler: ApiProxyHandler = (event, context) => {
  built ??= createApiHandler(tracedLambdaWiring().api());
  return built(event, context);
};
