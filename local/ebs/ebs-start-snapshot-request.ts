/**
 * StartSnapshot's JSON body, validated as the service does, with the limits of the API reference
 * and the service model (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html).
 */
import { MAX_VOLUME_SIZE_GIB } from '../../lambdas/core/geometry.ts';
import type { EbsApiError } from './ebs-api-error.ts';
import { VALIDATION_REASON, validationError } from './ebs-api-error.ts';
import type { StoredTag } from './ebs-state-store.ts';

/**
 * StartSnapshot Timeout bounds and default, in minutes: 10..4,320, 60 when absent
 * (https://docs.aws.amazon.com/ebs/latest/APIReference/API_StartSnapshot.html).
 */
export const MIN_START_SNAPSHOT_TIMEOUT_MINUTES = 10;
export const MAX_START_SNAPSHOT_TIMEOUT_MINUTES = 4_320;
export const DEFAULT_START_SNAPSHOT_TIMEOUT_MINUTES = 60;
/** StartSnapshot limits from the model: tags per snapshot, description length, tag key/value lengths. */
export const MAX_SNAPSHOT_TAGS = 50;
export const MAX_DESCRIPTION_CHARS = 255;
export const MAX_TAG_KEY_CHARS = 128;
export const MAX_TAG_VALUE_CHARS = 256;

export interface StartSnapshotRequest {
  readonly volumeSizeGib: number;
  readonly parentSnapshotId?: string;
  readonly timeoutMinutes: number;
  readonly description?: string;
  readonly tags?: StoredTag[];
  readonly encrypted?: boolean;
  readonly kmsKeyArn?: string;
  readonly clientToken?: string;
  /** The parameters apart from the ClientToken: equal for a retry, different for a conflicting reuse. */
  readonly fingerprint: string;
}

export function parseStartSnapshotRequest(body: Buffer): StartSnapshotRequest {
  let parsed: unknown;
  try {
    parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  } catch {
    throw validationError(VALIDATION_REASON.invalidParameterValue, 'The request body is not valid JSON.');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw validationError(VALIDATION_REASON.invalidParameterValue, 'The request body must be a JSON object.');
  }
  const input = parsed as Record<string, unknown>;
  const invalid = (message: string): EbsApiError =>
    validationError(VALIDATION_REASON.invalidParameterValue, message);
  const volumeSize = input.VolumeSize;
  if (volumeSize === undefined) throw invalid('VolumeSize is required.');
  if (
    typeof volumeSize !== 'number' ||
    !Number.isInteger(volumeSize) ||
    volumeSize < 1 ||
    volumeSize > MAX_VOLUME_SIZE_GIB
  ) {
    throw validationError(
      VALIDATION_REASON.invalidVolumeSize,
      `VolumeSize must be an integer number of GiB within 1..${MAX_VOLUME_SIZE_GIB}.`,
    );
  }
  const timeout = input.Timeout ?? DEFAULT_START_SNAPSHOT_TIMEOUT_MINUTES;
  if (
    typeof timeout !== 'number' ||
    !Number.isInteger(timeout) ||
    timeout < MIN_START_SNAPSHOT_TIMEOUT_MINUTES ||
    timeout > MAX_START_SNAPSHOT_TIMEOUT_MINUTES
  ) {
    throw invalid(
      `Timeout must be within ${MIN_START_SNAPSHOT_TIMEOUT_MINUTES}..${MAX_START_SNAPSHOT_TIMEOUT_MINUTES} minutes.`,
    );
  }
  const parentSnapshotId = input.ParentSnapshotId;
  if (parentSnapshotId !== undefined && typeof parentSnapshotId !== 'string')
    throw invalid('ParentSnapshotId must be a string.');
  const encrypted = input.Encrypted;
  if (encrypted !== undefined && typeof encrypted !== 'boolean')
    throw invalid('Encrypted must be a boolean.');
  if (parentSnapshotId !== undefined && encrypted !== undefined) {
    throw invalid('ParentSnapshotId and Encrypted cannot be specified in the same request.');
  }
  const description = input.Description;
  if (
    description !== undefined &&
    (typeof description !== 'string' || description.length > MAX_DESCRIPTION_CHARS)
  ) {
    throw invalid(`Description must be a string of at most ${MAX_DESCRIPTION_CHARS} characters.`);
  }
  const kmsKeyArn = input.KmsKeyArn;
  if (kmsKeyArn !== undefined && typeof kmsKeyArn !== 'string') throw invalid('KmsKeyArn must be a string.');
  const clientToken = input.ClientToken;
  if (
    clientToken !== undefined &&
    (typeof clientToken !== 'string' || clientToken.length > 255 || !/^\S+$/.test(clientToken))
  ) {
    throw invalid('ClientToken must be 1..255 non-blank characters.');
  }
  const tags = parseTags(input.Tags);
  const fingerprint = JSON.stringify([
    volumeSize,
    parentSnapshotId,
    timeout,
    description,
    tags,
    encrypted,
    kmsKeyArn,
  ]);
  return {
    volumeSizeGib: volumeSize,
    parentSnapshotId,
    timeoutMinutes: timeout,
    description,
    tags,
    encrypted,
    kmsKeyArn,
    clientToken,
    fingerprint,
  };
}

function parseTags(raw: unknown): StoredTag[] | undefined {
  if (raw === undefined) return undefined;
  const invalidTag = (message: string): EbsApiError => validationError(VALIDATION_REASON.invalidTag, message);
  if (!Array.isArray(raw)) throw invalidTag('Tags must be a list.');
  if (raw.length > MAX_SNAPSHOT_TAGS)
    throw invalidTag(`A snapshot can have at most ${MAX_SNAPSHOT_TAGS} tags.`);
  return raw.map((tag: unknown) => {
    const { Key: key, Value: value } = (tag ?? {}) as Record<string, unknown>;
    if (
      typeof key !== 'string' ||
      key.length < 1 ||
      key.length > MAX_TAG_KEY_CHARS ||
      key.startsWith('aws:')
    ) {
      throw invalidTag(`Tag keys must be 1..${MAX_TAG_KEY_CHARS} characters and must not start with 'aws:'.`);
    }
    if (value !== undefined && (typeof value !== 'string' || value.length > MAX_TAG_VALUE_CHARS)) {
      throw invalidTag(`Tag values must be at most ${MAX_TAG_VALUE_CHARS} characters.`);
    }
    return { Key: key, Value: value ?? '' };
  });
}
