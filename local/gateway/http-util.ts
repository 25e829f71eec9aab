/** Small HTTP helpers of the gateway: body reading, forwarding to moto, answers. */
import {
  Agent,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { BufferedAnswer } from './ec2-snapshots.ts';

/**
 * No keep-alive to moto: werkzeug's threaded server and a pooled socket race on close (a reused
 * socket reset under a request), and a fresh loopback connection costs well under a millisecond.
 */
const UPSTREAM_AGENT = new Agent({ keepAlive: false, maxSockets: 256 });

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function forwardHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const result: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) result[name] = value;
  return result;
}

function answerHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) result[name] = value;
  }
  return result;
}

/** Sends a request with a buffered body to `upstream` and buffers the answer. */
export function forwardBuffered(
  upstream: URL,
  req: IncomingMessage,
  path: string,
  body: Buffer,
): Promise<BufferedAnswer> {
  return new Promise((resolve, reject) => {
    const headers = forwardHeaders(req.headers);
    headers['content-length'] = String(body.length);
    const outgoing = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path,
        headers,
        agent: UPSTREAM_AGENT,
      },
      (answer) => {
        readBody(answer).then(
          (answerBody) =>
            resolve({
              status: answer.statusCode ?? 502,
              headers: answerHeaders(answer.headers),
              body: answerBody,
            }),
          reject,
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Streams a request to `upstream` and its answer back, without buffering either body. */
export function forwardStreaming(upstream: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const outgoing = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: forwardHeaders(req.headers),
        agent: UPSTREAM_AGENT,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answerHeaders(answer.headers));
        answer.pipe(res);
        answer.on('end', () => resolve());
        answer.on('error', () => {
          res.destroy();
          resolve();
        });
      },
    );
    outgoing.on('error', (error) => {
      if (!res.headersSent) writeJson(res, 502, { code: 'BadGateway', message: `moto: ${error.message}` });
      else res.destroy();
      resolve();
    });
    req.pipe(outgoing);
  });
}

export function writeAnswer(res: ServerResponse, answer: BufferedAnswer): void {
  res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
  res.end(answer.body);
}

export function writeJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(body.length) });
  res.end(body);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
