/**
 * Partition-key prefixes of the product table that more than one construct grants, as IAM
 * `dynamodb:LeadingKeys` patterns
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html).
 */
import { RESTORE_JOBS } from '../../lambdas/aws/dynamodb-job-store.ts';
import { RECOVERY_POINT_KEY_PREFIX } from '../../lambdas/aws/dynamodb-recovery-points.ts';

/** Image records and their id guards (dynamodb-image-records.ts). */
export const IMAGE_RECORD_KEYS = ['VOLUME#*'];
/** Restore job records, file and volume restores (the job store's key space of restores). */
export const RESTORE_JOB_KEYS = [`${RESTORE_JOBS.prefix}*`];
/** Recovery points, their image index and detached images (dynamodb-recovery-points.ts), all under RP#. */
export const RECOVERY_POINT_KEYS = [`${RECOVERY_POINT_KEY_PREFIX}*`];
