/**
 * The one factory of the Lambdas' SDK clients, in two profiles:
 *
 * - `engine` (range workers, commit, catalog, restore worker): no SDK retries (maxAttempts 1: the
 *   engine's own retry loop is the only one; SDK retries inside it would multiply the attempts and
 *   the time to fail, https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html).
 *   A caller's maxAttempts other than 1 is refused with a ClientProfileError (a type error where it
 *   is written literally), never dropped in silence. Explicit timeouts, and keep-alive agents sized to the
 *   engine's concurrency so every request in flight has its own connection, closing idle sockets
 *   before a server does;
 * - `control` (orchestration steps, the API): the SDK's defaults, its own retries on (3 attempts):
 *   control-plane calls that the state machine or the caller retries again only after a failure,
 *   with no request budget to respect.
 *
 * Every client is passed through `capture` once (X-Ray tracing through Powertools in the
 * control-plane Lambdas, tracing.ts; nothing elsewhere). Clients are created on first use, one per
 * container.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DrsClient } from '@aws-sdk/client-drs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ValidationError } from '../core/errors.ts';

/** Time to open a TCP/TLS connection: seconds at most on a healthy network path. */
export const AWS_CONNECTION_TIMEOUT_MS = 5_000;
/**
 * Socket idle time before a request in flight is abandoned: a 1 MiB GET/PUT or 512 KiB block takes
 * ~100 ms; 30 s means hung. It is the handler's `socketTimeout` (an inactivity timeout that fails
 * the request); its `requestTimeout` only logs a warning unless throwOnRequestTimeout is set
 * (https://github.com/smithy-lang/smithy-typescript/blob/main/packages/types/src/http/httpHandlerInitialization.ts).
 */
export const AWS_REQUEST_TIMEOUT_MS = 30_000;
/**
 * A keep-alive socket left idle this long is closed by the engine's agent. A server closes idle
 * connections on its own clock (Node's http.Server after 5 s by default,
 * https://nodejs.org/api/http.html#serverkeepalivetimeout, which the local gateway is); a client
 * that reuses a socket the server has just closed gets ECONNRESET
 * (https://nodejs.org/api/http.html#requestreusedsocket). Below the shortest of those, the client
 * closes first; a busy worker reuses its sockets long before. Node's Agent `timeout` closes a free
 * socket after this idle time (https://nodejs.org/api/http.html#new-agentoptions).
 */
export const ENGINE_IDLE_SOCKET_TIMEOUT_MS = 4_000;
/** The engine's attempts per request: one, its own retry loop and request budget are the only retries. */
export const ENGINE_MAX_ATTEMPTS = 1;
/** Connections per client: 2 block reads per chunk × 32 chunks in flight, plus headroom for S3/list calls. */
export const ENGINE_MAX_SOCKETS = 96;

export type ClientProfile = 'engine' | 'control';

/** Where the clients of either profile connect. */
export interface EndpointOptions {
  /** Endpoint override (the local gateway); production leaves it unset. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** The engine's connections and timeouts. */
export interface EngineConnectionOptions {
  /** Connections per client. */
  readonly maxSockets?: number;
  /** Inactivity of a request in flight before it fails (AWS_REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number;
  /** Idle time of a kept-alive socket before the agent closes it (ENGINE_IDLE_SOCKET_TIMEOUT_MS). */
  readonly idleSocketTimeoutMs?: number;
}

/** The engine profile's options. Its maxAttempts is 1, always: any other value is a ClientProfileError. */
export interface EngineClientOptions extends EndpointOptions, EngineConnectionOptions {
  readonly maxAttempts?: typeof ENGINE_MAX_ATTEMPTS;
}

/** The control profile's options. */
export interface ControlClientOptions extends EndpointOptions {
  /** Attempts of the SDK's own retry (its default when unset). */
  readonly maxAttempts?: number;
}

/** Options of both profiles at once (LambdaWiring): the engine's; the control profile reads the endpoint's only. */
export type ClientOptions = EngineClientOptions;

/** What the implementation reads: either profile's options. */
type AnyProfileOptions = EndpointOptions & EngineConnectionOptions & ControlClientOptions;

/** A client profile given an option it does not take (the engine profile and maxAttempts). */
export class ClientProfileError extends ValidationError {}

/** Wraps a client once it is built (Powertools' tracer.captureAWSv3Client in a Lambda). */
export type CaptureClient = <T>(client: T) => T;

export interface SdkClients {
  readonly documents: DynamoDBDocumentClient;
  readonly s3: S3Client;
  readonly ebs: EBSClient;
  readonly ec2: EC2Client;
  readonly drs: DrsClient;
  readonly eventBridge: EventBridgeClient;
  readonly sns: SNSClient;
  readonly sfn: SFNClient;
  readonly lambda: LambdaClient;
  /** EventBridge Scheduler: the schedules of protection plans. */
  readonly scheduler: SchedulerClient;
}

export function engineHttpHandler(options: EngineConnectionOptions = {}): NodeHttpHandler {
  const agent = {
    keepAlive: true,
    maxSockets: options.maxSockets ?? ENGINE_MAX_SOCKETS,
    timeout: options.idleSocketTimeoutMs ?? ENGINE_IDLE_SOCKET_TIMEOUT_MS,
  };
  return new NodeHttpHandler({
    connectionTimeout: AWS_CONNECTION_TIMEOUT_MS,
    socketTimeout: options.requestTimeoutMs ?? AWS_REQUEST_TIMEOUT_MS,
    httpAgent: new HttpAgent(agent),
    httpsAgent: new HttpsAgent(agent),
  });
}

function baseConfig(profile: ClientProfile, options: AnyProfileOptions): Record<string, unknown> {
  return {
    ...(profile === 'engine'
      ? { maxAttempts: ENGINE_MAX_ATTEMPTS, requestHandler: engineHttpHandler(options) }
      : options.maxAttempts === undefined
        ? {}
        : { maxAttempts: options.maxAttempts }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

function s3Config(profile: ClientProfile, options: AnyProfileOptions): Record<string, unknown> {
  if (profile === 'control') return { ...baseConfig(profile, options), forcePathStyle: true };
  return {
    ...baseConfig(profile, options),
    // The engine sends its own x-amz-checksum-sha256 and verifies every object by content hash.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint === undefined ? {} : { forcePathStyle: true }),
  };
}

/** The clients of one profile, each built (and captured) on first use. */
export function createSdkClients(
  profile: 'engine',
  options?: EngineClientOptions,
  capture?: CaptureClient,
): SdkClients;
export function createSdkClients(
  profile: 'control',
  options?: ControlClientOptions,
  capture?: CaptureClient,
): SdkClients;
export function createSdkClients(
  profile: ClientProfile,
  options: AnyProfileOptions = {},
  capture: CaptureClient = (client) => client,
): SdkClients {
  // Untyped callers (a spread of a wider options object) reach here too: refuse, never drop.
  if (
    profile === 'engine' &&
    options.maxAttempts !== undefined &&
    options.maxAttempts !== ENGINE_MAX_ATTEMPTS
  ) {
    throw new ClientProfileError(
      `createSdkClients: the engine profile makes exactly one attempt per request (maxAttempts 1; the engine's own retries and request budget are the only ones), so maxAttempts ${String(options.maxAttempts)} cannot be honoured: use the control profile for SDK retries`,
      { context: { profile, maxAttempts: options.maxAttempts } },
    );
  }
  const config = () => baseConfig(profile, options);
  const builders: { [K in keyof SdkClients]: () => SdkClients[K] } = {
    documents: () =>
      DynamoDBDocumentClient.from(capture(new DynamoDBClient(config())), {
        marshallOptions: { removeUndefinedValues: true },
      }),
    s3: () => capture(new S3Client(s3Config(profile, options))),
    ebs: () => capture(new EBSClient(config())),
    ec2: () => capture(new EC2Client(config())),
    drs: () => capture(new DrsClient(config())),
    eventBridge: () => capture(new EventBridgeClient(config())),
    sns: () => capture(new SNSClient(config())),
    sfn: () => capture(new SFNClient(config())),
    lambda: () => capture(new LambdaClient(config())),
    scheduler: () => capture(new SchedulerClient(config())),
  };
  const built = new Map<keyof SdkClients, unknown>();
  const clients = {};
  for (const name of Object.keys(builders) as (keyof SdkClients)[]) {
    Object.defineProperty(clients, name, {
      enumerable: true,
      get: () => {
        if (!built.has(name)) built.set(name, builders[name]());
        return built.get(name);
      },
    });
  }
  return clients as SdkClients;
}
