/**
 * The one factory of the Lambdas' SDK clients, in two profiles:
 *
 * - `engine` (range workers, commit, catalog, restore worker): no SDK retries (maxAttempts 1: the
 *   engine's own retry loop is the only one; SDK retries inside it would multiply the attempts and
 *   the time to fail, https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html),
 *   explicit timeouts, and keep-alive agents sized to the engine's concurrency so every request in
 *   flight has its own connection;
 * - `control` (orchestration steps, the API): the SDK's defaults, its own retries on (3 attempts):
 *   control-plane calls that the state machine or the caller retries again only after a failure,
 *   with no request budget to respect.
 *
 * Every client is passed through `capture` once (X-Ray tracing through Powertools in a Lambda,
 * nothing in tests). Clients are created on first use, one per container.
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

/** Time to open a TCP/TLS connection: seconds at most on a healthy network path. */
export const AWS_CONNECTION_TIMEOUT_MS = 5_000;
/** Socket idle time before a request is abandoned: a 1 MiB GET/PUT or 512 KiB block takes ~100 ms; 30 s means hung. */
export const AWS_REQUEST_TIMEOUT_MS = 30_000;
/** Connections per client: 2 block reads per chunk × 32 chunks in flight, plus headroom for S3/list calls. */
export const ENGINE_MAX_SOCKETS = 96;

export type ClientProfile = 'engine' | 'control';

export interface ClientOptions {
  /** Endpoint override (the local gateway); production leaves it unset. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Engine profile: connections per client and the socket timeout. */
  readonly maxSockets?: number;
  readonly requestTimeoutMs?: number;
  /** Control profile: attempts of the SDK's own retry (its default when unset). */
  readonly maxAttempts?: number;
}

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

export function engineHttpHandler(options: ClientOptions = {}): NodeHttpHandler {
  const maxSockets = options.maxSockets ?? ENGINE_MAX_SOCKETS;
  return new NodeHttpHandler({
    connectionTimeout: AWS_CONNECTION_TIMEOUT_MS,
    requestTimeout: options.requestTimeoutMs ?? AWS_REQUEST_TIMEOUT_MS,
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
  });
}

function baseConfig(profile: ClientProfile, options: ClientOptions): Record<string, unknown> {
  return {
    ...(profile === 'engine'
      ? { maxAttempts: 1, requestHandler: engineHttpHandler(options) }
      : options.maxAttempts === undefined
        ? {}
        : { maxAttempts: options.maxAttempts }),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

function s3Config(profile: ClientProfile, options: ClientOptions): Record<string, unknown> {
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
  profile: ClientProfile,
  options: ClientOptions = {},
  capture: CaptureClient = (client) => client,
): SdkClients {
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
