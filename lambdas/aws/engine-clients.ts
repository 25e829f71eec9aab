/**
 * SDK clients for the backup engine: no SDK retries (maxAttempts 1: the engine's own retry loop is
 * the only one; SDK retries inside it would multiply the attempts and the time to fail, see
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html), explicit timeouts, and keep-alive agents sized to
 * the engine's concurrency so every request in flight has its own connection.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Time to open a TCP/TLS connection: seconds at most on a healthy network path. */
export const AWS_CONNECTION_TIMEOUT_MS = 5_000;
/** Socket idle time before a request is abandoned: a 1 MiB GET/PUT or 512 KiB block takes ~100 ms; 30 s means hung. */
export const AWS_REQUEST_TIMEOUT_MS = 30_000;
/** Connections per client: 2 block reads per chunk × 32 chunks in flight, plus headroom for S3/list calls. */
export const ENGINE_MAX_SOCKETS = 96;

export interface EngineClientOptions {
  /** Endpoint override (the local gateway); production leaves it unset. */
  readonly endpoint?: string;
  readonly region?: string;
  readonly maxSockets?: number;
  readonly requestTimeoutMs?: number;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function engineHttpHandler(options: EngineClientOptions = {}): NodeHttpHandler {
  const maxSockets = options.maxSockets ?? ENGINE_MAX_SOCKETS;
  return new NodeHttpHandler({
    connectionTimeout: AWS_CONNECTION_TIMEOUT_MS,
    requestTimeout: options.requestTimeoutMs ?? AWS_REQUEST_TIMEOUT_MS,
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
  });
}

function common(options: EngineClientOptions): Record<string, unknown> {
  return {
    maxAttempts: 1,
    requestHandler: engineHttpHandler(options),
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.region === undefined ? {} : { region: options.region }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
  };
}

export function createEngineEbsClient(options: EngineClientOptions = {}): EBSClient {
  return new EBSClient(common(options));
}

export function createEngineS3Client(options: EngineClientOptions = {}): S3Client {
  return new S3Client({
    ...common(options),
    // The engine sends its own x-amz-checksum-sha256 and verifies every object by content hash.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint === undefined ? {} : { forcePathStyle: true }),
  });
}

export function createEngineDynamoDbClient(options: EngineClientOptions = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(common(options)), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createEngineEc2Client(options: EngineClientOptions = {}): EC2Client {
  return new EC2Client(common(options));
}
