/**
 * Fault injection for the local gateway: latency, throttling and 5xx per service or operation,
 * answered in the exact shape each service uses so that the AWS SDK raises the exception class a
 * real service would cause (RequestThrottledException, SlowDown, ThrottlingException,
 * RequestLimitExceeded, ...). Decisions are deterministic for a seed: every (kind, service:operation)
 * pair draws from its own seeded generator, so concurrent traffic to other operations does not
 * change which requests of this one fail.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { seededRandom } from '../seeded-random.ts';

/** Keys are `service:Operation` (e.g. `ebs:GetSnapshotBlock`), `service` (e.g. `s3`) or `*`. */
const RatesSchema = z.record(z.string(), z.number().min(0).max(1));

export const FaultConfigSchema = z
  .object({
    /** Seed of the fault generators; the same seed and request sequence give the same faults. */
    seed: z.number().int().optional(),
    /** Added delay in ms before a request is handled. */
    latencyMs: z.record(z.string(), z.number().min(0)).optional(),
    /** Probability that a request is answered with the service's throttling error. */
    throttleRate: RatesSchema.optional(),
    /** Probability that a request is answered with the service's internal error (HTTP 500). */
    serverErrorRate: RatesSchema.optional(),
    /** Probability that a request is refused with the service's access-denied error (HTTP 403). */
    accessDeniedRate: RatesSchema.optional(),
    /** EBS emulator: probability that GetSnapshotBlock returns corrupted data (checksum mismatch). */
    corruptBlockDataRate: z.number().min(0).max(1).optional(),
    /** EBS emulator: request-rate cap per snapshot (RequestThrottledException beyond it). */
    perSnapshotRequestsPerSecond: z.number().positive().optional(),
    /** EBS emulator: blocks covered by one list page (forces empty pages with a NextToken). */
    listPageBlockWindow: z.number().int().positive().optional(),
  })
  .strict();

export type FaultConfig = z.infer<typeof FaultConfigSchema>;

/** The seed used when a configuration names none. */
const DEFAULT_FAULT_SEED = 1;

export type InjectedFault = 'throttle' | 'server-error' | 'access-denied';

function seedFor(seed: number, stream: string): number {
  return createHash('sha256').update(`${seed}|${stream}`).digest().readUInt32BE(0);
}

/** The most specific entry for an operation: `service:Operation`, then `service`, then `*`. */
function lookup<T>(
  table: Readonly<Record<string, T>> | undefined,
  service: string,
  operation: string,
): T | undefined {
  if (!table) return undefined;
  return table[`${service}:${operation}`] ?? table[service] ?? table['*'];
}

export class FaultInjector {
  private readonly generators = new Map<string, () => number>();

  constructor(readonly config: FaultConfig = {}) {}

  latencyMs(service: string, operation: string): number {
    return lookup(this.config.latencyMs, service, operation) ?? 0;
  }

  /** Decides whether this request fails; consumes one draw per configured fault kind. */
  decide(service: string, operation: string): InjectedFault | undefined {
    const throttle = lookup(this.config.throttleRate, service, operation);
    if (throttle !== undefined && throttle > 0 && this.draw('throttle', service, operation) < throttle) {
      return 'throttle';
    }
    const serverError = lookup(this.config.serverErrorRate, service, operation);
    if (
      serverError !== undefined &&
      serverError > 0 &&
      this.draw('error', service, operation) < serverError
    ) {
      return 'server-error';
    }
    const denied = lookup(this.config.accessDeniedRate, service, operation);
    if (denied !== undefined && denied > 0 && this.draw('denied', service, operation) < denied) {
      return 'access-denied';
    }
    return undefined;
  }

  private draw(kind: string, service: string, operation: string): number {
    const stream = `${kind}|${service}:${operation}`;
    let generator = this.generators.get(stream);
    if (!generator) {
      generator = seededRandom(seedFor(this.config.seed ?? DEFAULT_FAULT_SEED, stream));
      this.generators.set(stream, generator);
    }
    return generator();
  }
}

export interface ErrorAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const THROTTLE_MESSAGE = 'Rate exceeded (fault injected by the local gateway)';
const ACCESS_DENIED_MESSAGE =
  'User is not authorized to perform this action (fault injected by the local gateway)';
const SERVER_ERROR_MESSAGE = 'Internal failure (fault injected by the local gateway)';

function restJsonError(
  status: number,
  type: string,
  body: Record<string, string>,
  requestId: string,
): ErrorAnswer {
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'x-amzn-errortype': type,
      'x-amzn-requestid': requestId,
    },
    body: JSON.stringify(body),
  };
}

function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The answer a real service gives for a throttled or failed request, in that service's protocol:
 * EBS and Lambda restJson1 (x-amzn-errortype), S3 restXml (<Error><Code>), EC2 ec2Query
 * (<Response><Errors>), DynamoDB/Step Functions awsJson (__type).
 */
export function faultAnswer(
  service: string,
  fault: InjectedFault,
  requestId: string = randomUUID(),
): ErrorAnswer {
  if (fault === 'access-denied') return accessDeniedAnswer(service, requestId);
  const throttle = fault === 'throttle';
  switch (service) {
    case 'ebs':
      return throttle
        ? restJsonError(
            400,
            'RequestThrottledException',
            { Message: THROTTLE_MESSAGE, Reason: 'ACCOUNT_THROTTLED' },
            requestId,
          )
        : restJsonError(500, 'InternalServerException', { Message: SERVER_ERROR_MESSAGE }, requestId);
    case 'lambda':
      return throttle
        ? restJsonError(
            429,
            'TooManyRequestsException',
            { Type: 'User', message: THROTTLE_MESSAGE, Reason: 'ConcurrentInvocationLimitExceeded' },
            requestId,
          )
        : restJsonError(
            500,
            'ServiceException',
            { Type: 'Service', message: SERVER_ERROR_MESSAGE },
            requestId,
          );
    case 's3': {
      const [code, message, status] = throttle
        ? ['SlowDown', 'Please reduce your request rate.', 503]
        : ['InternalError', 'We encountered an internal error. Please try again.', 500];
      return {
        status,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message><RequestId>${requestId}</RequestId></Error>`,
      };
    }
    case 'ec2': {
      const [code, message, status] = throttle
        ? ['RequestLimitExceeded', 'Request limit exceeded.', 503]
        : ['InternalError', 'An internal error has occurred.', 500];
      return {
        status,
        headers: { 'content-type': 'text/xml;charset=UTF-8' },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      };
    }
    case 'dynamodb': {
      const type = throttle ? 'ThrottlingException' : 'InternalServerError';
      return {
        status: throttle ? 400 : 500,
        headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': requestId },
        body: JSON.stringify({
          __type: `com.amazonaws.dynamodb.v20120810#${type}`,
          message: throttle ? 'Rate of requests exceeds the allowed throughput.' : SERVER_ERROR_MESSAGE,
        }),
      };
    }
    default: {
      const type = throttle ? 'ThrottlingException' : 'InternalFailure';
      return {
        status: throttle ? 400 : 500,
        headers: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amzn-errortype': type,
          'x-amzn-requestid': requestId,
        },
        body: JSON.stringify({ __type: type, message: throttle ? THROTTLE_MESSAGE : SERVER_ERROR_MESSAGE }),
      };
    }
  }
}

/**
 * A refusal as the service words it: EBS and the JSON services AccessDeniedException (403), S3
 * AccessDenied (403, restXml), EC2 UnauthorizedOperation (403, ec2Query).
 */
function accessDeniedAnswer(service: string, requestId: string): ErrorAnswer {
  switch (service) {
    case 's3':
      return {
        status: 403,
        headers: { 'content-type': 'application/xml', 'x-amz-request-id': requestId },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>${xmlEscape(ACCESS_DENIED_MESSAGE)}</Message><RequestId>${requestId}</RequestId></Error>`,
      };
    case 'ec2':
      return {
        status: 403,
        headers: { 'content-type': 'text/xml;charset=UTF-8' },
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>${ACCESS_DENIED_MESSAGE}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
      };
    default:
      return restJsonError(
        403,
        'AccessDeniedException',
        { Message: ACCESS_DENIED_MESSAGE, message: ACCESS_DENIED_MESSAGE },
        requestId,
      );
  }
}
