/**
 * The CLI's HTTP client of the REST API: SigV4-signed requests (service `execute-api`) with
 * credentials from the default provider chain, JSON in and out, and the API's error shape turned
 * into a CliError with a meaningful exit code. The same client talks to the local gateway, which
 * ignores the signature.
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { CliError, EXIT, exitCodeForStatus } from './exit-codes.ts';

/** Time allowed for one API request: API Gateway's own integration limit is 29 s. */
export const API_REQUEST_TIMEOUT_MS = 30_000;

export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
  readonly details?: Record<string, unknown>;
}

export class ApiCallError extends CliError {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(`${body.message} (HTTP ${status} ${body.code})`, exitCodeForStatus(status));
    this.name = 'ApiCallError';
  }
}

export interface ApiClientOptions {
  /** Base URL of the API, e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod or http://127.0.0.1:4566/_api. */
  readonly baseUrl: string;
  readonly region: string;
  /** Default: the AWS SDK's default provider chain (env, profile, SSO, IMDS, ...). */
  readonly credentials?: SignerCredentials;
  readonly fetch?: typeof fetch;
}

export type SignerCredentials = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** The region in an execute-api host name, if it is one. */
export function regionOfApiUrl(url: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
}

export class ApiClient {
  private readonly base: URL;
  private readonly signer: SignatureV4;
  private readonly fetcher: typeof fetch;

  constructor(options: ApiClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    this.signer = new SignatureV4({
      service: 'execute-api',
      region: options.region,
      credentials: options.credentials ?? defaultCredentials(),
      sha256: Sha256,
    });
    this.fetcher = options.fetch ?? fetch;
  }

  get baseUrl(): string {
    return this.base.toString();
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.send<T>('GET', path, query, undefined);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('POST', path, {}, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PUT', path, {}, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.send<T>('DELETE', path, {}, undefined);
  }

  private async send<T>(method: string, path: string, query: Query, body: unknown): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const queryEntries: Record<string, string> = {};
    for (const [name, value] of Object.entries(query)) {
      if (value === undefined) continue;
      queryEntries[name] = String(value);
      url.searchParams.set(name, String(value));
    }
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { host: url.host, accept: 'application/json' };
    if (text !== undefined) headers['content-type'] = 'application/json';
    let signed;
    try {
      signed = await this.signer.sign({
        method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: decodeURIComponent(url.pathname),
        query: queryEntries,
        headers,
        ...(text === undefined ? {} : { body: text }),
      });
    } catch (cause) {
      throw new CliError(
        `no AWS credentials to sign the request (${cause instanceof Error ? cause.message : String(cause)})`,
        EXIT.ACCESS_DENIED,
        { cause },
      );
    }
    const sendHeaders = { ...(signed.headers as Record<string, string>) };
    delete sendHeaders.host;
    let response: Response;
    try {
      response = await this.fetcher(url, {
        method,
        headers: sendHeaders,
        ...(text === undefined ? {} : { body: text }),
        signal: AbortSignal.timeout(API_REQUEST_TIMEOUT_MS),
      });
    } catch (cause) {
      throw new CliError(
        `cannot reach the API at ${this.base.origin}: ${describeFetchError(cause)}`,
        EXIT.UNAVAILABLE,
        {
          cause,
        },
      );
    }
    const answerText = await response.text();
    let answer: unknown;
    try {
      answer = answerText === '' ? {} : JSON.parse(answerText);
    } catch (cause) {
      throw new CliError(
        `the API answered HTTP ${response.status} with a body that is not JSON`,
        exitCodeForStatus(response.status),
        {
          cause,
        },
      );
    }
    if (!response.ok) {
      const shape = answer as Partial<ApiErrorBody>;
      throw new ApiCallError(response.status, {
        code: typeof shape.code === 'string' ? shape.code : `HTTP${response.status}`,
        message: typeof shape.message === 'string' ? shape.message : `HTTP ${response.status}`,
        ...(typeof shape.details === 'object' && shape.details !== null ? { details: shape.details } : {}),
      });
    }
    return answer as T;
  }
}

/** The SDK's default provider chain (env, profile, SSO, container, IMDS), loaded on first use. */
function defaultCredentials(): SignerCredentials {
  let provider:
    Promise<() => Promise<Awaited<ReturnType<Extract<SignerCredentials, () => unknown>>>>> | undefined;
  return async () => {
    provider ??= import('@aws-sdk/credential-providers').then(({ fromNodeProviderChain }) =>
      fromNodeProviderChain(),
    );
    return (await provider)();
  };
}

function describeFetchError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
