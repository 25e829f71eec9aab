/** SDK failures in the API's adapters never blame the caller: only throttling and outages keep their retryable class. */
import { describe, expect, it } from 'vitest';
import { asApiError, translateSdkError } from '../../lambdas/aws/sdk-errors.ts';
import { mapApiError } from '../../lambdas/core/api/api-errors.ts';

const sdkError = (name: string, status: number) =>
  Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

describe('asApiError(translateSdkError(...))', () => {
  it.each([
    ['ValidationException', 400, 500, 'InternalError'],
    ['AccessDeniedException', 400, 500, 'InternalError'],
    ['ThrottlingException', 400, 429, 'Throttled'],
    ['ServiceUnavailable', 503, 503, 'ServiceUnavailable'],
    ['ResourceNotFoundException', 400, 500, 'InternalError'],
  ])('%s (HTTP %i) answers %i %s', (name, status, expectedStatus, code) => {
    const mapped = mapApiError(asApiError(translateSdkError(sdkError(name, status), 'Op')));
    expect({ status: mapped.status, code: mapped.body.code }).toEqual({ status: expectedStatus, code });
  });
});
