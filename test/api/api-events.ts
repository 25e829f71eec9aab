/** Synthetic API Gateway REST proxy events (the shape lambdas/handlers/api.ts receives in AWS). */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

export interface EventSpec {
  readonly method: string;
  readonly path: string;
  /** Values given twice appear twice in multiValueQueryStringParameters. */
  readonly query?: Readonly<Record<string, string | readonly string[]>>;
  /** An object is sent as JSON; a string as is (as latin1 bytes when base64, to carry any byte). */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly base64?: boolean;
}

export function proxyEvent(spec: EventSpec): APIGatewayProxyEvent {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(spec.query ?? {})) {
    const values = typeof value === 'string' ? [value] : [...value];
    multi[name] = values;
    single[name] = values.at(-1)!;
  }
  const hasQuery = Object.keys(single).length > 0;
  const text =
    spec.body === undefined ? null : typeof spec.body === 'string' ? spec.body : JSON.stringify(spec.body);
  const body = text === null ? null : spec.base64 ? Buffer.from(text, 'latin1').toString('base64') : text;
  return {
    resource: '/{proxy+}',
    path: spec.path,
    httpMethod: spec.method,
    headers: { 'content-type': 'application/json', ...spec.headers },
    multiValueHeaders: {},
    queryStringParameters: hasQuery ? single : null,
    multiValueQueryStringParameters: hasQuery ? multi : null,
    pathParameters: null,
    stageVariables: null,
    body,
    isBase64Encoded: spec.base64 === true,
    requestContext: {
      identity: { userArn: 'arn:aws:iam::123456789012:user/operator', caller: 'AIDA' },
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: Record<string, unknown>;
}

export function answerOf(result: APIGatewayProxyResult): Answer {
  return {
    status: result.statusCode,
    headers: Object.fromEntries(
      Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
    ),
    body: JSON.parse(result.body) as Record<string, unknown>,
  };
}

/** The error body of a volume route for a volume that is not a protected replica volume (404). */
export function notProtectedVolume(volumeId: string): Record<string, unknown> {
  return {
    code: 'NotFound',
    message: `volume ${volumeId} is not a protected replica volume`,
    details: { volumeId },
  };
}
