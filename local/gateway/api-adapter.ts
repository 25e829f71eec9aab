/**
 * An API Gateway REST (v1) Lambda-proxy adapter: an HTTP request under `/_api/` becomes an
 * APIGatewayProxyEvent for the registered API handler, and its proxy result becomes the HTTP
 * response, the way API Gateway does it in AWS. `/_api` is not a valid S3 bucket name, so it
 * cannot clash with path-style S3 requests.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { credentialScope } from './aws-request.ts';
import { LOCAL_ACCOUNT_ID } from './local-account.ts';

export const API_PATH_PREFIX = '/_api';
/** The stage name that appears in requestContext.stage and requestContext.path. */
export const LOCAL_API_STAGE = 'local';
/** The apiId in requestContext. */
const LOCAL_API_ID = 'local';

export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/** Content types whose bodies API Gateway passes as text; everything else is base64. */
const TEXT_CONTENT_TYPE = /^(text\/|application\/(json|xml|x-www-form-urlencoded|[\w.+-]+\+(json|xml)))/i;

export function isApiPath(pathname: string): boolean {
  return pathname === API_PATH_PREFIX || pathname.startsWith(`${API_PATH_PREFIX}/`);
}

/** Builds the proxy event for a request whose body has been read. */
export function toProxyEvent(
  req: IncomingMessage,
  body: Buffer,
  now: Date = new Date(),
): APIGatewayProxyEvent {
  const url = new URL(req.url ?? '/', 'http://local');
  const path = url.pathname.slice(API_PATH_PREFIX.length) || '/';
  const method = req.method ?? 'GET';

  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const raw = req.rawHeaders;
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const name = raw[index]!;
    const value = raw[index + 1]!;
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  }

  const queryStringParameters: Record<string, string> = {};
  const multiValueQueryStringParameters: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) {
    queryStringParameters[name] = value;
    (multiValueQueryStringParameters[name] ??= []).push(value);
  }
  const hasQuery = Object.keys(queryStringParameters).length > 0;

  const contentType = req.headers['content-type'] ?? '';
  const isText = body.length === 0 || TEXT_CONTENT_TYPE.test(contentType) || contentType === '';
  const scope = credentialScope(req.headers, url);
  const requestId = randomUUID();

  return {
    resource: path,
    path,
    httpMethod: method,
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
    pathParameters: null,
    stageVariables: null,
    body: body.length === 0 ? null : isText ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: body.length > 0 && !isText,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: LOCAL_API_ID,
      authorizer: undefined,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: method,
      path: `/${LOCAL_API_STAGE}${path}`,
      stage: LOCAL_API_STAGE,
      requestId,
      requestTime: now.toISOString(),
      requestTimeEpoch: now.getTime(),
      resourceId: 'local',
      resourcePath: path,
      identity: {
        accessKey: scope?.accessKeyId ?? null,
        accountId: scope ? LOCAL_ACCOUNT_ID : null,
        apiKey: null,
        apiKeyId: null,
        caller: scope ? `${LOCAL_ACCOUNT_ID}:${scope.accessKeyId}` : null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        user: scope ? `${LOCAL_ACCOUNT_ID}:${scope.accessKeyId}` : null,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: scope ? `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/local` : null,
      },
    },
  };
}

/** Writes a proxy result as API Gateway does (multiValueHeaders win over headers of the same name). */
export function writeProxyResult(res: ServerResponse, result: APIGatewayProxyResult): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  for (const [name, values] of Object.entries(result.multiValueHeaders ?? {})) {
    headers[name.toLowerCase()] = values.map(String);
  }
  const body = Buffer.from(result.body ?? '', result.isBase64Encoded ? 'base64' : 'utf8');
  headers['content-length'] = String(body.length);
  res.writeHead(result.statusCode, headers);
  res.end(body);
}

/** The answer while no API handler is registered, in the API's own error shape. */
export const NO_API_HANDLER_RESULT: APIGatewayProxyResult = {
  statusCode: 404,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ code: 'NotFound', message: 'No API is registered with the local gateway yet' }),
};

/** A failing handler gives what API Gateway gives for a Lambda error: 502. */
export const HANDLER_FAILED_RESULT: APIGatewayProxyResult = {
  statusCode: 502,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ message: 'Internal server error' }),
};

export function apiContext(): Context {
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'local-api',
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:${LOCAL_ACCOUNT_ID}:function:local-api`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: '/aws/lambda/local-api',
    logStreamName: `local/[$LATEST]${requestId.replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => 29_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
