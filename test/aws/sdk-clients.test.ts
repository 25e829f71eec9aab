/**
 * The SDK client profiles against a real HTTP server on 127.0.0.1: the engine profile makes one
 * attempt per request and refuses any other maxAttempts; the control profile honours the caller's;
 * the engine's agent closes idle keep-alive sockets itself and fails a request whose socket stays
 * silent.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClientProfileError,
  createSdkClients,
  engineHttpHandler,
  ENGINE_IDLE_SOCKET_TIMEOUT_MS,
  type EngineClientOptions,
} from '../../lambdas/aws/sdk-clients.ts';

/** Idle and request timeouts of the tests: short, so the tests wait a fraction of a second. */
const SHORT_TIMEOUT_MS = 200;
/** How long a server keeps an idle connection in these tests: far beyond SHORT_TIMEOUT_MS. */
const SERVER_KEEP_ALIVE_MS = 60_000;

interface TestServer {
  readonly endpoint: string;
  readonly port: number;
  readonly requests: string[];
  readonly sockets: Socket[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function serve(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    answer(req, res);
  });
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  const requests: string[] = [];
  const sockets: Socket[] = [];
  server.on('connection', (socket: Socket) => sockets.push(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    sockets,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
  servers.push(handle);
  return handle;
}

const internalError = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(500, { 'content-type': 'application/xml' });
  res.end('<Error><Code>InternalError</Code><Message>boom</Message></Error>');
};

const endpointOf = (server: TestServer) => ({
  endpoint: server.endpoint,
  region: 'eu-west-1',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
});

/** One GET through the engine's handler; resolves with the body once it is read. */
async function get(handler: ReturnType<typeof engineHttpHandler>, port: number): Promise<string> {
  const request = {
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    method: 'GET',
    path: '/',
    query: {},
    headers: {},
  } as unknown as Parameters<typeof handler.handle>[0];
  const { response } = await handler.handle(request);
  let body = '';
  for await (const chunk of response.body as AsyncIterable<Buffer>) body += chunk.toString();
  return body;
}

describe('maxAttempts of the client profiles', () => {
  it('the engine profile refuses a maxAttempts other than 1 with a ClientProfileError', () => {
    // @ts-expect-error the engine profile's maxAttempts is 1 or absent
    const call = () => createSdkClients('engine', { maxAttempts: 3 });
    expect(call).toThrow(ClientProfileError);
    expect(call).toThrow(
      "createSdkClients: the engine profile makes exactly one attempt per request (maxAttempts 1; the engine's own retries and request budget are the only ones), so maxAttempts 3 cannot be honoured: use the control profile for SDK retries",
    );
    // A wider options object spread in reaches the same check.
    const wide = { maxAttempts: 2 } as unknown as EngineClientOptions;
    expect(() => createSdkClients('engine', wide)).toThrow(ClientProfileError);
  });

  it('the engine profile sends a failing request exactly once, with or without maxAttempts 1', async () => {
    const server = await serve(internalError);
    for (const options of [endpointOf(server), { ...endpointOf(server), maxAttempts: 1 as const }]) {
      const engine = createSdkClients('engine', options);
      await expect(engine.s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toMatchObject({
        name: 'InternalError',
      });
      engine.s3.destroy();
    }
    expect(server.requests).toEqual(['GET /b/k?x-id=GetObject', 'GET /b/k?x-id=GetObject']);
  });

  it("the control profile makes the caller's number of attempts", async () => {
    const server = await serve(internalError);
    const control = createSdkClients('control', { ...endpointOf(server), maxAttempts: 2 });
    await expect(control.s3.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' }))).rejects.toMatchObject({
      name: 'InternalError',
    });
    control.s3.destroy();
    expect(server.requests).toEqual(['GET /b/k?x-id=GetObject', 'GET /b/k?x-id=GetObject']);
  });
});

describe("the engine's keep-alive sockets", () => {
  it("close before Node's default server keep-alive would close them", () => {
    const server = createServer();
    expect(ENGINE_IDLE_SOCKET_TIMEOUT_MS).toBeLessThan(server.keepAliveTimeout);
  });

  it('an idle socket is closed by the client, and the next request opens a new one', async () => {
    const server = await serve((_req, res) => res.end('ok'));
    const handler = engineHttpHandler({ idleSocketTimeoutMs: SHORT_TIMEOUT_MS });
    expect(await get(handler, server.port)).toBe('ok');
    expect(server.sockets).toHaveLength(1);
    // The server would keep it for a minute: only the client's idle timeout closes it.
    await once(server.sockets[0]!, 'close');
    expect(await get(handler, server.port)).toBe('ok');
    expect(server.sockets).toHaveLength(2);
    handler.destroy();
  });

  it('a socket in use is not closed by the idle timeout while the server is slower than it', async () => {
    const server = await serve((_req, res) => setTimeout(() => res.end('late'), SHORT_TIMEOUT_MS * 3));
    const handler = engineHttpHandler({ idleSocketTimeoutMs: SHORT_TIMEOUT_MS });
    expect(await get(handler, server.port)).toBe('late');
    handler.destroy();
  });

  it('a request whose socket stays silent fails with a TimeoutError after requestTimeoutMs', async () => {
    const server = await serve(() => undefined);
    const handler = engineHttpHandler({ requestTimeoutMs: SHORT_TIMEOUT_MS });
    await expect(get(handler, server.port)).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(server.requests).toEqual(['GET /']);
    handler.destroy();
  });
});
