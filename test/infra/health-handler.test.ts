import { describe, expect, it } from 'vitest';
import { healthHandler } from '../../lambdas/handlers/health.ts';

const requestContext = { requestId: 'req-1' } as Parameters<typeof healthHandler>[0]['requestContext'];

describe('GET /health', () => {
  it('answers 200 with the service and API version, never cached', () => {
    expect(healthHandler({ httpMethod: 'GET', requestContext })).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: '{"status":"ok","service":"rbp","apiVersion":"1","requestId":"req-1"}',
    });
  });

  it('answers other methods with 405 in the API error shape', () => {
    expect(healthHandler({ httpMethod: 'DELETE', requestContext })).toEqual({
      statusCode: 405,
      headers: { 'content-type': 'application/json', allow: 'GET' },
      body: '{"code":"MethodNotAllowed","message":"DELETE is not allowed on /health","details":{}}',
    });
  });
});
