/**
 * A function invocation that died (Lambda timeout, out of memory, a crash) never returns, so it
 * cannot end its job. Lambda's asynchronous invocation hands the failed event, after its retries,
 * to the function's on-failure destination with the error it died of
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html). This is
 * the part every kind of job shares: the record's shape and the reason the job failed with.
 */
import { z } from 'zod';
import type { JobFailure } from '../errors.ts';

/** The invocation record Lambda sends to an on-failure destination (the fields read here). */
export function deadInvocationRecordSchema<P extends z.ZodType>(requestPayload: P) {
  return z.object({
    requestContext: z.object({
      /** The request id of the invocation; Lambda keeps it for the retries of one event. */
      requestId: z.string().optional(),
      /** RetriesExhausted or EventAgeExceeded. */
      condition: z.string(),
      approximateInvokeCount: z.number().int().optional(),
    }),
    requestPayload,
    responsePayload: z
      .object({ errorType: z.string().optional(), errorMessage: z.string().optional() })
      .loose()
      .nullish(),
  });
}

/** The fields of a record that the reason is made of. */
export type DeadInvocation = z.infer<ReturnType<typeof deadInvocationRecordSchema<z.ZodUnknown>>>;

/** The reason the job of a dead invocation failed: `worker` names what died. */
export function deadInvocationFailure(
  record: Pick<DeadInvocation, 'requestContext' | 'responsePayload'>,
  worker: string,
  errorName: string,
): JobFailure {
  const error = record.responsePayload ?? {};
  const attempts = record.requestContext.approximateInvokeCount;
  const what = [error.errorType, error.errorMessage].filter((part) => part !== undefined).join(': ');
  return {
    reason:
      `${worker} stopped without finishing the job (${record.requestContext.condition}` +
      `${attempts === undefined ? '' : ` after ${attempts} attempts`})${what === '' ? '' : `: ${what}`}`,
    errorName: error.errorType ?? errorName,
  };
}
