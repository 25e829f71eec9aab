/** The CLI's pieces without a stack: SigV4 signing, endpoint resolution, tables, progress and exit codes. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiCallError, ApiClient, regionOfApiUrl } from '../../cli/api/api-client.ts';
import { apiUrlOfOutputs, resolveEndpoint } from '../../cli/api/endpoint.ts';
import { CliError, EXIT, exitCodeForStatus } from '../../cli/api/exit-codes.ts';
import { formatBytes, progress, renderTable } from '../../cli/api/output.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}
const seen: Seen[] = [];
let base: string;
const server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    if (req.url!.startsWith('/v1/missing')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'NotFound', message: 'image img-x does not exist', details: {} }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true }));
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

describe('ApiClient', () => {
  it('signs GET and POST requests with SigV4 for execute-api in the region, query and body included', async () => {
    const client = new ApiClient({ baseUrl: base, region: 'eu-west-1', credentials });
    await client.get('/images/img-1/files', { path: '/etc dir', limit: 5, cursor: undefined });
    await client.post('/backups', { volumeId: 'vol-0123456789abcdef0' });
    const [get, post] = seen.slice(-2) as [Seen, Seen];
    expect(get.url).toBe('/v1/images/img-1/files?path=%2Fetc+dir&limit=5');
    for (const request of [get, post]) {
      expect(request.headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
      );
      expect(request.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    }
    expect(post.headers['content-type']).toBe('application/json');
    expect(post.body).toBe('{"volumeId":"vol-0123456789abcdef0"}');
    expect(post.headers['x-amz-content-sha256'] ?? '').not.toBe('UNSIGNED-PAYLOAD');
  });

  it('turns the API error shape into an ApiCallError with the exit code of its status', async () => {
    const client = new ApiClient({ baseUrl: base, region: 'eu-west-1', credentials });
    const error = await client.get('/missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiCallError);
    expect((error as ApiCallError).message).toBe('image img-x does not exist (HTTP 404 NotFound)');
    expect((error as ApiCallError).exitCode).toBe(EXIT.NOT_FOUND);
  });

  it('reads the region of an execute-api host', () => {
    expect(regionOfApiUrl('https://abc123.execute-api.ap-southeast-2.amazonaws.com/v1/')).toBe(
      'ap-southeast-2',
    );
    expect(regionOfApiUrl('http://127.0.0.1:4566/_api')).toBeUndefined();
  });
});

describe('resolveEndpoint', () => {
  const noStack = () => Promise.reject(new Error('not asked'));

  it('prefers --endpoint, then RBP_API_URL, then the local gateway, then the stack outputs', async () => {
    const env = {
      RBP_API_URL: 'https://a.execute-api.eu-west-1.amazonaws.com/v1/',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
    };
    expect(await resolveEndpoint({ endpoint: 'http://localhost:1/_api' }, env, noStack)).toEqual({
      baseUrl: 'http://localhost:1/_api',
      region: 'us-east-1',
      source: 'flag',
    });
    expect(await resolveEndpoint({}, env, noStack)).toMatchObject({
      source: 'RBP_API_URL',
      region: 'eu-west-1',
    });
    expect(await resolveEndpoint({}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:4566/' }, noStack)).toEqual({
      baseUrl: 'http://127.0.0.1:4566/_api',
      region: 'us-east-1',
      source: 'AWS_ENDPOINT_URL',
    });
    const asked: string[] = [];
    const stack = (name: string, region: string) => {
      asked.push(`${name}@${region}`);
      return Promise.resolve([
        { OutputKey: 'ApiUrl', OutputValue: 'https://x.execute-api.eu-central-1.amazonaws.com/v1/' },
      ]);
    };
    expect(
      await resolveEndpoint(
        { stack: 'Prod', region: 'eu-central-1' },
        { AWS_ENDPOINT_URL: 'http://x' },
        stack,
      ),
    ).toEqual({
      baseUrl: 'https://x.execute-api.eu-central-1.amazonaws.com/v1/',
      region: 'eu-central-1',
      source: 'stack',
    });
    expect(asked).toEqual(['Prod@eu-central-1']);
  });

  it('finds the API URL among outputs and explains a missing one', async () => {
    expect(
      apiUrlOfOutputs([{ OutputKey: 'ReplicaBackupApiEndpoint0551178A', OutputValue: 'https://e/v1/' }]),
    ).toBe('https://e/v1/');
    expect(apiUrlOfOutputs([{ OutputKey: 'TableName', OutputValue: 't' }])).toBeUndefined();
    const error = await resolveEndpoint({}, {}, () => Promise.resolve([])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).message).toBe(
      'stack ReplicaBackupProxy in us-east-1 has no ApiUrl output; pass --endpoint or set RBP_API_URL',
    );
    expect((error as CliError).exitCode).toBe(EXIT.USAGE);
  });
});

describe('output', () => {
  it('aligns columns, right-aligns numbers, marks missing values and cuts long cells', () => {
    const text = renderTable(
      [
        { name: 'a', size: 5 },
        { name: 'long name\nwith newline', size: 12345 },
        { name: 'x'.repeat(100), size: undefined },
      ],
      [
        { header: 'NAME', value: (r) => r.name },
        { header: 'SIZE', value: (r) => r.size, right: true },
      ],
    );
    expect(text.split('\n')).toEqual([
      `NAME${' '.repeat(79)}SIZE`,
      `a${' '.repeat(85)}5`,
      `long name with newline${' '.repeat(60)}12345`,
      `${'x'.repeat(79)}…${' '.repeat(6)}-`,
      '',
    ]);
    expect([formatBytes(0), formatBytes(1023), formatBytes(1536), formatBytes(5 * 1024 ** 3)]).toEqual([
      '0 B',
      '1023 B',
      '1.5 KiB',
      '5.0 GiB',
    ]);
  });

  it('draws a bar on a terminal and writes plain lines, at most every 5 s, otherwise', () => {
    const plain = new PassThrough();
    let now = 0;
    const lines = progress(plain, () => now);
    lines.update('downloading f', 10, 100);
    lines.update('downloading f', 20, 100);
    now = 5_000;
    lines.update('downloading f', 30, 100);
    lines.finish('saved f');
    expect(String(plain.read() as Buffer)).toBe(
      'downloading f 10% 10 B/100 B\ndownloading f 30% 30 B/100 B\nsaved f\n',
    );
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    progress(tty).update('downloading f', 50, 100);
    expect(String(tty.read() as Buffer)).toBe(
      `\r\x1b[2Kdownloading f [${'#'.repeat(15)}${'.'.repeat(15)}] 50% 50 B/100 B`,
    );
  });

  it('maps statuses to exit codes', () => {
    expect([400, 403, 404, 405, 409, 413, 429, 500, 503].map(exitCodeForStatus)).toEqual([
      EXIT.INVALID_REQUEST,
      EXIT.ACCESS_DENIED,
      EXIT.NOT_FOUND,
      EXIT.INVALID_REQUEST,
      EXIT.CONFLICT,
      EXIT.INVALID_REQUEST,
      EXIT.UNAVAILABLE,
      EXIT.FAILURE,
      EXIT.UNAVAILABLE,
    ]);
  });
});
