/**
 * Why a range copy failed, kept where the volume's run can read it. Step Functions never passes a
 * failed child execution's error to its Distributed Map: the Map Run fails and the Map state fails
 * with `States.ExceedToleratedFailureThreshold` and a generic cause
 * (https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html). So each
 * failed Copy Range attempt writes its error to the work bucket (`range-failures/<firstBlock>.json`,
 * the last attempt's record replacing the earlier ones), and Explain Copy Failure, run on the Map's
 * Catch, throws that error again: a permanent one under its own name (Back Up Volumes' Catch sends
 * it to Clean Up), any other as RangeCopyFailedError (the run is suspended, its cause saying why).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  AccessDeniedError,
  ConflictError,
  NotFoundError,
  PermanentError,
  RbpError,
  ValidationError,
  type RbpErrorOptions,
} from '../errors.ts';
import { LockLostError, RangeCopyFailedError } from '../orchestration/orchestration-errors.ts';
import type { ExplainCopyFailureInput } from '../orchestration/step-state.ts';
import type { StepLog } from '../ports.ts';
import type { ObjectStore } from '../store/object-store.ts';
import { getJson, rangeFailureKey, rangeFailurePrefix, rangeSummaryPrefix } from './work-area.ts';

/** One range's last failed attempt. */
export const rangeFailureSchema = z.object({
  firstBlock: z.number().int().min(0),
  endBlock: z.number().int().min(1),
  /** The error's class name: the Step Functions error name the attempt failed with. */
  errorName: z.string().min(1),
  message: z.string(),
  /** True for an RbpError that is not retryable: no retry or redrive can make the range succeed. */
  permanent: z.boolean(),
});
export type RangeFailure = z.infer<typeof rangeFailureSchema>;

/** The port Copy Range records its failures through. */
export interface RangeFailureRecorder {
  record(backupId: string, volumeId: string, failure: RangeFailure): Promise<void>;
}

/** The failure record of `error` for the range [firstBlock, endBlock). */
export function rangeFailureOf(
  range: { readonly firstBlock: number; readonly endBlock: number },
  error: unknown,
): RangeFailure {
  return {
    firstBlock: range.firstBlock,
    endBlock: range.endBlock,
    errorName: error instanceof Error ? error.name : 'Error',
    message: error instanceof Error ? error.message : String(error),
    // A crash (a TypeError, an unknown throw) is not known to be permanent: the run is suspended,
    // as it was before these records, so that a fixed deployment can resume it.
    permanent: error instanceof RbpError && !error.retryable,
  };
}

/** Records in the work bucket, each attempt's record replacing the previous one of its range. */
export function workAreaRangeFailures(work: ObjectStore): RangeFailureRecorder {
  return {
    async record(backupId, volumeId, failure) {
      if (work.replace === undefined) throw new Error('the work store cannot overwrite a failure record');
      const body = new TextEncoder().encode(JSON.stringify(failure));
      await work.replace({
        key: rangeFailureKey(backupId, volumeId, failure.firstBlock),
        body,
        sha256Base64: createHash('sha256').update(body).digest('base64'),
        contentType: 'application/json',
      });
    },
  };
}

/**
 * Records `error` for the range, best effort: a record that cannot be written is logged, and the
 * caller rethrows the original error either way.
 */
export async function recordRangeFailure(
  recorder: RangeFailureRecorder,
  backupId: string,
  volumeId: string,
  failure: RangeFailure,
  log: StepLog,
): Promise<void> {
  try {
    await recorder.record(backupId, volumeId, failure);
  } catch (recordError) {
    log.warn('range failure not recorded', {
      firstBlock: failure.firstBlock,
      errorName: failure.errorName,
      recordError: recordError instanceof Error ? recordError.message : String(recordError),
    });
  }
}

/**
 * The permanent error classes Back Up Volumes' Catch sends to Clean Up, by name. A permanent
 * error of another class (CorruptObjectError, a DocumentValidationError) is thrown as PermanentError,
 * its name in the message.
 */
const CLEAN_UP_ERRORS: Readonly<
  Record<string, new (message: string, options?: RbpErrorOptions) => RbpError>
> = {
  ValidationError,
  NotFoundError,
  ConflictError,
  AccessDeniedError,
  PermanentError,
  LockLostError,
};

/** Their names, in the order of Back Up Volumes' Catch (test/statemachines checks the two agree). */
export const CLEAN_UP_ERROR_NAMES: readonly string[] = Object.keys(CLEAN_UP_ERRORS);

/** The file name of a work-area key (`…/000000002048.json`): ranges and failures share it. */
function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/**
 * Explain Copy Failure: throws the error that made this volume's Copy Ranges fail. Ranges whose
 * summary exists succeeded on a later attempt and are ignored. A permanent record wins (the first
 * in block order); else the first remaining record's error as RangeCopyFailedError; with no record
 * (the children timed out or crashed before they could write one), RangeCopyFailedError naming
 * the failed Map Run's error and cause.
 */
export async function explainCopyFailure(
  work: ObjectStore,
  { plan, error }: ExplainCopyFailureInput,
): Promise<never> {
  const backupId = plan.job.backupId;
  const copied = new Set(
    (await work.list(rangeSummaryPrefix(backupId, plan.volumeId))).map((key) => fileName(key)),
  );
  const keys = (await work.list(rangeFailurePrefix(backupId, plan.volumeId))).filter(
    (key) => !copied.has(fileName(key)),
  );
  const failures = await Promise.all(
    keys.map(async (key) => rangeFailureSchema.parse(await getJson(work, key))),
  );
  const context = { backupId, volumeId: plan.volumeId };
  const failed = `${failures.length} of ${plan.rangeCount} ranges failed`;
  const where = (f: RangeFailure) => `range ${f.firstBlock}-${f.endBlock} of ${plan.volumeId}`;
  const permanent = failures.find((f) => f.permanent);
  if (permanent !== undefined) {
    const known = CLEAN_UP_ERRORS[permanent.errorName];
    const named = known === undefined ? `${permanent.errorName}: ` : '';
    throw new (known ?? PermanentError)(`${where(permanent)}: ${named}${permanent.message} (${failed})`, {
      context: { ...context, firstBlock: permanent.firstBlock },
    });
  }
  const first = failures[0];
  if (first !== undefined) {
    throw new RangeCopyFailedError(`${where(first)}: ${first.errorName}: ${first.message} (${failed})`, {
      context: { ...context, firstBlock: first.firstBlock },
    });
  }
  throw new RangeCopyFailedError(
    `the copy of ${plan.volumeId} failed without a recorded range error (a Copy Range timed out or ` +
      `crashed): ${error.Error}${error.Cause === undefined ? '' : `: ${error.Cause}`}`,
    { context },
  );
}
