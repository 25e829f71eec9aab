/**
 * Identifies an AWS API request: the service from its SigV4 credential scope, and the operation
 * from the protocol the service speaks (X-Amz-Target for JSON services, Action for query services,
 * method + path for REST services). Used for routing, request statistics and fault injection.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { drsOperation } from '../drs/drs-service.ts';

export interface CredentialScope {
  readonly accessKeyId: string;
  readonly region: string;
  /** The SigV4 signing name: ebs, ec2, s3, dynamodb, lambda, states, ... */
  readonly service: string;
}

const CREDENTIAL_PATTERN = /Credential=([^/,\s]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/;
const QUERY_CREDENTIAL_PATTERN = /^([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request$/;

/** The credential scope of a header-signed or presigned request; undefined when unsigned. */
export function credentialScope(headers: IncomingHttpHeaders, url: URL): CredentialScope | undefined {
  const authorization = headers.authorization;
  const fromHeader = authorization ? CREDENTIAL_PATTERN.exec(authorization) : null;
  if (fromHeader) return { accessKeyId: fromHeader[1]!, region: fromHeader[2]!, service: fromHeader[3]! };
  const presigned = url.searchParams.get('X-Amz-Credential');
  const fromQuery = presigned ? QUERY_CREDENTIAL_PATTERN.exec(presigned) : null;
  if (fromQuery) return { accessKeyId: fromQuery[1]!, region: fromQuery[2]!, service: fromQuery[3]! };
  return undefined;
}

/** The operation of an EBS direct API request (REST paths of the EBS service). */
export function ebsOperation(method: string, path: string): string {
  const parts = path.split('/').filter(Boolean);
  if (parts[0] !== 'snapshots') return 'Unknown';
  if (method === 'POST' && parts.length === 1) return 'StartSnapshot';
  if (method === 'POST' && parts[1] === 'completion') return 'CompleteSnapshot';
  if (parts[2] === 'changedblocks') return 'ListChangedBlocks';
  if (parts[2] === 'blocks' && parts.length === 3) return 'ListSnapshotBlocks';
  if (parts[2] === 'blocks' && parts.length === 4)
    return method === 'PUT' ? 'PutSnapshotBlock' : 'GetSnapshotBlock';
  return 'Unknown';
}

/** Sub-resources of a bucket and the noun used in their operation names. */
const S3_BUCKET_SUBRESOURCES: Readonly<Record<string, string>> = {
  versioning: 'BucketVersioning',
  'object-lock': 'ObjectLockConfiguration',
  tagging: 'BucketTagging',
  policy: 'BucketPolicy',
  lifecycle: 'BucketLifecycleConfiguration',
  cors: 'BucketCors',
  encryption: 'BucketEncryption',
  notification: 'BucketNotificationConfiguration',
  acl: 'BucketAcl',
  publicAccessBlock: 'PublicAccessBlock',
  ownershipControls: 'BucketOwnershipControls',
  logging: 'BucketLogging',
  website: 'BucketWebsite',
  replication: 'BucketReplication',
};

const S3_OBJECT_SUBRESOURCES: Readonly<Record<string, string>> = {
  tagging: 'ObjectTagging',
  retention: 'ObjectRetention',
  'legal-hold': 'ObjectLegalHold',
  acl: 'ObjectAcl',
  attributes: 'ObjectAttributes',
};

function verb(method: string): string {
  return method === 'PUT' ? 'Put' : method === 'DELETE' ? 'Delete' : 'Get';
}

/** The operation of a path-style S3 request. */
export function s3Operation(method: string, url: URL, headers: IncomingHttpHeaders): string {
  const parts = url.pathname.split('/').filter(Boolean);
  const query = url.searchParams;
  const has = (name: string): boolean => query.has(name);
  if (parts.length === 0) return method === 'GET' ? 'ListBuckets' : 'Unknown';
  if (parts.length === 1) {
    for (const [name, noun] of Object.entries(S3_BUCKET_SUBRESOURCES)) {
      if (has(name)) return verb(method) + noun;
    }
    if (method === 'PUT') return 'CreateBucket';
    if (method === 'DELETE') return 'DeleteBucket';
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'POST' && has('delete')) return 'DeleteObjects';
    if (has('uploads')) return 'ListMultipartUploads';
    if (has('versions')) return 'ListObjectVersions';
    if (has('location')) return 'GetBucketLocation';
    return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
  }
  for (const [name, noun] of Object.entries(S3_OBJECT_SUBRESOURCES)) {
    if (has(name)) return verb(method) + noun;
  }
  const copy = headers['x-amz-copy-source'] !== undefined;
  switch (method) {
    case 'PUT':
      if (has('uploadId')) return copy ? 'UploadPartCopy' : 'UploadPart';
      return copy ? 'CopyObject' : 'PutObject';
    case 'GET':
      return has('uploadId') ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return has('uploadId') ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'POST':
      if (has('uploads')) return 'CreateMultipartUpload';
      if (has('uploadId')) return 'CompleteMultipartUpload';
      if (has('restore')) return 'RestoreObject';
      return 'PostObject';
    default:
      return 'Unknown';
  }
}

/** Lambda Invoke's REST path: /2015-03-31/functions/{FunctionName}/invocations. */
export const LAMBDA_INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;

/**
 * The operation of a request to any service. `body` is needed only for query-protocol services
 * (EC2, SNS, ...) whose Action is in a form-encoded body.
 */
export function operationName(
  service: string,
  method: string,
  url: URL,
  headers: IncomingHttpHeaders,
  body?: Buffer,
): string {
  if (service === 'ebs') return ebsOperation(method, url.pathname);
  if (service === 's3') return s3Operation(method, url, headers);
  if (service === 'drs') return drsOperation(url.pathname);
  if (service === 'lambda' && method === 'POST' && LAMBDA_INVOKE_PATH.test(url.pathname)) return 'Invoke';
  const target = headers['x-amz-target'];
  if (typeof target === 'string' && target.includes('.')) return target.slice(target.lastIndexOf('.') + 1);
  const fromQuery = url.searchParams.get('Action');
  if (fromQuery) return fromQuery;
  const contentType = headers['content-type'] ?? '';
  if (body && contentType.startsWith('application/x-www-form-urlencoded')) {
    const action = new URLSearchParams(body.toString('utf8')).get('Action');
    if (action) return action;
  }
  const firstSegment = url.pathname.split('/').filter(Boolean)[0] ?? '';
  return `${method} /${firstSegment}`;
}
