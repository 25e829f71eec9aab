/**
 * The local stack's AWS Elastic Disaster Recovery: the gateway routes requests signed for service
 * `drs` here (moto has no DRS). DRS speaks REST-JSON, every operation a `POST /OperationName`;
 * this answers DescribeSourceServers
 * (https://docs.aws.amazon.com/drs/latest/APIReference/API_DescribeSourceServers.html) from the
 * replica volumes EC2 (moto) holds, read on every request (drs-source-servers.ts), and any other
 * operation with UnknownOperationException.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { DescribeVolumesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import type { BufferedAnswer } from '../gateway/ec2-snapshots.ts';
import { LOCAL_ACCOUNT_ID } from '../gateway/local-account.ts';
import { REPLICA_TAG } from '../replica/replica-tags.ts';
import { sourceServersOf, SOURCE_SERVER_ID_PATTERN, type ReplicaVolumeRecord } from './drs-source-servers.ts';

/**
 * DescribeSourceServers' limits, from its API reference (above). maxResults is 1-1000; unset, a page
 * holds up to the most.
 */
export const DESCRIBE_SOURCE_SERVERS_MAX_RESULTS = 1000;
/** filters.sourceServerIDs holds at most 200 ids. */
export const SOURCE_SERVER_IDS_MAX = 200;
/** filters.hardwareId is at most 256 characters. */
export const HARDWARE_ID_MAX_LENGTH = 256;
/** filters.stagingAccountIDs holds at most 50 account ids. */
export const STAGING_ACCOUNT_IDS_MAX = 50;
/** An AWS account id (filters.stagingAccountIDs). */
const ACCOUNT_ID_PATTERN = /^[0-9]{12}$/;

const describeSourceServersRequest = z
  .object({
    filters: z
      .object({
        sourceServerIDs: z
          .array(z.string().regex(SOURCE_SERVER_ID_PATTERN, 'must be a source server id (s-…)'))
          .max(SOURCE_SERVER_IDS_MAX)
          .optional(),
        hardwareId: z.string().max(HARDWARE_ID_MAX_LENGTH).optional(),
        stagingAccountIDs: z
          .array(z.string().regex(ACCOUNT_ID_PATTERN))
          .max(STAGING_ACCOUNT_IDS_MAX)
          .optional(),
      })
      .optional(),
    maxResults: z.number().int().min(1).max(DESCRIBE_SOURCE_SERVERS_MAX_RESULTS).optional(),
    nextToken: z.string().optional(),
  })
  .strict();

function jsonAnswer(status: number, body: object, errorType?: string): BufferedAnswer {
  return {
    status,
    headers: {
      'content-type': 'application/json',
      'x-amzn-requestid': randomUUID(),
      ...(errorType === undefined ? {} : { 'x-amzn-errortype': errorType }),
    },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** DRS's ValidationException (HTTP 400): message, code, reason and the fields at fault. */
function validationException(
  message: string,
  fieldList: { name: string; message: string }[],
): BufferedAnswer {
  return jsonAnswer(
    400,
    {
      message,
      code: 'ValidationException',
      reason: fieldList.length === 0 ? 'other' : 'fieldValidationFailed',
      fieldList,
    },
    'ValidationException',
  );
}

/** The page token: the last source server id of the previous page. */
const encodeToken = (sourceServerId: string): string => Buffer.from(sourceServerId).toString('base64url');
const decodeToken = (token: string): string | undefined => {
  const id = Buffer.from(token, 'base64url').toString('utf8');
  return SOURCE_SERVER_ID_PATTERN.test(id) ? id : undefined;
};

/** The answer to DescribeSourceServers with this request body over these volumes. */
export function describeSourceServers(body: Buffer, volumes: readonly ReplicaVolumeRecord[]): BufferedAnswer {
  let json: unknown;
  try {
    json = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    return validationException('the request body is not JSON', []);
  }
  const parsed = describeSourceServersRequest.safeParse(json);
  if (!parsed.success) {
    const fieldList = parsed.error.issues.map((issue) => ({
      name: issue.path.join('.'),
      message: issue.message,
    }));
    return validationException(
      `Invalid request: ${fieldList.map((f) => `${f.name}: ${f.message}`).join('; ')}`,
      fieldList,
    );
  }
  const { filters = {}, maxResults = DESCRIBE_SOURCE_SERVERS_MAX_RESULTS, nextToken } = parsed.data;
  const after = nextToken === undefined ? undefined : decodeToken(nextToken);
  if (nextToken !== undefined && after === undefined) {
    return validationException('Invalid nextToken', [
      { name: 'nextToken', message: 'not a token this service gave' },
    ]);
  }
  const wanted =
    filters.sourceServerIDs !== undefined && filters.sourceServerIDs.length > 0
      ? new Set(filters.sourceServerIDs)
      : undefined;
  // No local source server has a hardware id, and the staging area is the local account.
  const none =
    filters.hardwareId !== undefined ||
    (filters.stagingAccountIDs !== undefined &&
      filters.stagingAccountIDs.length > 0 &&
      !filters.stagingAccountIDs.includes(LOCAL_ACCOUNT_ID));
  const matching = none
    ? []
    : sourceServersOf(volumes).filter(
        (s) =>
          (wanted === undefined || wanted.has(s.sourceServerID)) &&
          (after === undefined || s.sourceServerID > after),
      );
  const items = matching.slice(0, maxResults);
  const last = items.at(-1);
  return jsonAnswer(200, {
    items,
    ...(matching.length > items.length && last !== undefined
      ? { nextToken: encodeToken(last.sourceServerID) }
      : {}),
  });
}

/** The DRS operation of a request path (`/DescribeSourceServers`). */
export function drsOperation(path: string): string {
  return path.split('/').filter(Boolean)[0] ?? 'Unknown';
}

/** The answer to a DRS request: DescribeSourceServers, or UnknownOperationException. */
export async function answerDrs(
  operation: string,
  body: Buffer,
  volumes: () => Promise<readonly ReplicaVolumeRecord[]>,
): Promise<BufferedAnswer> {
  if (operation === 'DescribeSourceServers') return describeSourceServers(body, await volumes());
  return jsonAnswer(
    400,
    {
      message: `the local stack's Elastic Disaster Recovery answers DescribeSourceServers only, not ${operation}`,
    },
    'UnknownOperationException',
  );
}

/** The replica volumes EC2 holds (tagged `rbp:replica=true`), every page of DescribeVolumes. */
export async function replicaVolumesOf(ec2: EC2Client): Promise<ReplicaVolumeRecord[]> {
  const volumes: ReplicaVolumeRecord[] = [];
  let token: string | undefined;
  do {
    const page = await ec2.send(
      new DescribeVolumesCommand({
        Filters: [{ Name: `tag:${REPLICA_TAG.replica}`, Values: ['true'] }],
        ...(token === undefined ? {} : { NextToken: token }),
      }),
    );
    for (const v of page.Volumes ?? []) {
      volumes.push({
        volumeId: v.VolumeId ?? '',
        sizeGib: v.Size ?? 0,
        tags: Object.fromEntries((v.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])),
      });
    }
    token = page.NextToken;
  } while (token !== undefined && token !== '');
  return volumes;
}
