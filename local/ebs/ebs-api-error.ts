/**
 * Errors of the EBS direct API as the service sends them: an HTTP status, the `x-amzn-ErrorType`
 * header and a JSON body with `Message` and `Reason`. The AWS SDK (restJson1) picks the exception
 * class from the header and fills `.Message` / `.Reason` from the body; the statuses are the
 * ones of the service model (https://docs.aws.amazon.com/ebs/latest/APIReference/CommonErrors.html
 * and each operation's Errors section).
 */

export type EbsErrorName =
  | 'ValidationException'
  | 'ResourceNotFoundException'
  | 'RequestThrottledException'
  | 'ConflictException'
  | 'AccessDeniedException'
  | 'InternalServerException'
  | 'ServiceQuotaExceededException'
  | 'ConcurrentLimitExceededException';

/** HTTP status of each error shape, from the service model (`httpError` traits). */
export const EBS_ERROR_HTTP_STATUS: Readonly<Record<EbsErrorName, number>> = {
  ValidationException: 400,
  ResourceNotFoundException: 404,
  RequestThrottledException: 400,
  ConflictException: 409,
  AccessDeniedException: 403,
  InternalServerException: 500,
  ServiceQuotaExceededException: 402,
  ConcurrentLimitExceededException: 400,
};

/** `ValidationExceptionReason` values the emulator sends. */
export const VALIDATION_REASON = {
  invalidPageToken: 'INVALID_PAGE_TOKEN',
  invalidBlockToken: 'INVALID_BLOCK_TOKEN',
  invalidSnapshotId: 'INVALID_SNAPSHOT_ID',
  unrelatedSnapshots: 'UNRELATED_SNAPSHOTS',
  invalidBlock: 'INVALID_BLOCK',
  invalidContentEncoding: 'INVALID_CONTENT_ENCODING',
  invalidTag: 'INVALID_TAG',
  invalidParameterValue: 'INVALID_PARAMETER_VALUE',
  invalidVolumeSize: 'INVALID_VOLUME_SIZE',
} as const;

export const RESOURCE_NOT_FOUND_REASON = { snapshotNotFound: 'SNAPSHOT_NOT_FOUND' } as const;

export const THROTTLE_REASON = { resourceLevelThrottle: 'RESOURCE_LEVEL_THROTTLE' } as const;

/** One error answer of the emulated service. */
export class EbsApiError extends Error {
  readonly httpStatus: number;

  constructor(
    readonly errorName: EbsErrorName,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'EbsApiError';
    this.httpStatus = EBS_ERROR_HTTP_STATUS[errorName];
  }

  /** The JSON body the service sends (members as in the model: `Message`, `Reason`). */
  toBody(): Record<string, string> {
    return this.reason === undefined
      ? { Message: this.message }
      : { Message: this.message, Reason: this.reason };
  }
}

export function validationError(reason: string, message: string): EbsApiError {
  return new EbsApiError('ValidationException', message, reason);
}

export function snapshotNotFound(snapshotId: string): EbsApiError {
  return new EbsApiError(
    'ResourceNotFoundException',
    `The snapshot '${snapshotId}' does not exist.`,
    RESOURCE_NOT_FOUND_REASON.snapshotNotFound,
  );
}
