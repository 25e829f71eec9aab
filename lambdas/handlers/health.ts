/**
 * Lambda "health": `GET /health` of the REST API (IAM-authorised like every route). Answers that
 * the API and its Lambda integration work; the restore API's routes come with their own handler.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';

/** Reported in the answer so an operator can tell which build serves the API. */
export const API_VERSION = '1';

export function healthHandler(
  event: Pick<APIGatewayProxyEvent, 'httpMethod' | 'requestContext'>,
): APIGatewayProxyResult {
  if (event.httpMethod !== 'GET') {
    return {
      statusCode: 405,
      headers: { 'content-type': 'application/json', allow: 'GET' },
      body: JSON.stringify({
        code: 'MethodNotAllowed',
        message: `${event.httpMethod} is not allowed on /health`,
        details: {},
      }),
    };
  }
  return {
    statusCode: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify({
      status: 'ok',
      service: 'rbp',
      apiVersion: API_VERSION,
      requestId: event.requestContext.requestId,
    }),
  };
}

export const handler = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> =>
  Promise.resolve(healthHandler(event));
