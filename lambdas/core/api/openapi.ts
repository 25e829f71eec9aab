/**
 * The OpenAPI 3.1 document of the REST API, generated from the routing table and its zod schemas
 * (z.toJSONSchema), so docs/openapi.json always describes what the handler validates. `npm run
 * openapi` writes it; test/api/openapi.test.ts checks the committed file equals a fresh one.
 */
import { z } from 'zod';
import { API_ERROR_CODES } from './api-errors.ts';
import { MAX_REQUEST_BODY_BYTES } from './api-router.ts';
import { ROUTES, type Route } from './routes.ts';
import { errorSchema } from './schemas.ts';

type JsonSchema = Record<string, unknown>;

/** Version of the API contract; bump on any change a client could notice. */
export const API_VERSION = '1.0.0';

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: a parameter, the query or the body does not match the schema (details.issues lists each problem)',
  403: 'Not authorised (IAM SigV4)',
  404: 'The volume, image, backup, restore or path does not exist',
  405: 'The path exists but not with this method (the Allow header lists the methods)',
  409: 'Conflict: details.reason says why (BackupAlreadyRunning)',
  413: `Request body larger than ${MAX_REQUEST_BODY_BYTES} bytes`,
  415: 'The body is not application/json',
  429: 'Throttled; retry after the Retry-After header',
  500: 'The service failed',
  503: 'The service is briefly unavailable; retry',
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const generated = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    target: 'draft-2020-12',
  }) as JsonSchema;
  delete generated.$schema;
  return generated;
}

function parameters(route: Route): JsonSchema[] {
  const result: JsonSchema[] = [];
  for (const [location, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    const object = jsonSchema(schema, 'input');
    const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((object.required ?? []) as string[]);
    for (const [name, property] of Object.entries(properties)) {
      const { description, ...rest } = property;
      result.push({
        name,
        in: location,
        required: location === 'path' || required.has(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  }
  return result;
}

function operation(route: Route): JsonSchema {
  const errors = [
    ...new Set([400, 403, 405, 413, 429, 500, 503, ...route.errorStatuses, ...(route.body ? [415] : [])]),
  ].sort();
  const responses: Record<string, JsonSchema> = {
    [String(route.success.status)]: {
      description: route.success.status === 202 ? 'Accepted' : 'OK',
      content: { 'application/json': { schema: jsonSchema(route.success.schema, 'output') } },
    },
  };
  for (const status of errors) {
    responses[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    parameters: parameters(route),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
          },
        }
      : {}),
    responses,
    security: [{ sigv4: [] }],
  };
}

export function buildOpenApiDocument(): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of ROUTES) {
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  const error = jsonSchema(errorSchema, 'output');
  (error.properties as Record<string, JsonSchema>).code = { type: 'string', enum: [...API_ERROR_CODES] };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Replica backup proxy API',
      version: API_VERSION,
      description:
        'Catalog, on-demand backups and restores of replica EBS volumes. Every request is signed with AWS SigV4 (service execute-api) and authorised by IAM. Generated from lambdas/core/api (npm run openapi); see docs/api.md.',
    },
    paths,
    components: {
      schemas: { Error: error },
      securitySchemes: {
        sigv4: {
          type: 'apiKey',
          name: 'Authorization',
          in: 'header',
          description: 'AWS Signature Version 4 (service execute-api)',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
    },
  };
}

/** The document as committed in docs/openapi.json (2-space indent, trailing newline). */
export function openApiText(): string {
  return `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;
}
