/** conditionalWrite: a refused DynamoDB condition is `false`; any other failure is translated once. */
import { describe, expect, it } from 'vitest';
import { ThrottledError } from '../../lambdas/core/errors.ts';
import { conditionalWrite } from '../../lambdas/aws/sdk-errors.ts';

const sdkError = (name: string, message: string) => Object.assign(new Error(message), { name });

describe('conditionalWrite', () => {
  it('is true when the write succeeds', async () => {
    let calls = 0;
    const written = await conditionalWrite('PutItem', {}, () => {
      calls += 1;
      return Promise.resolve({});
    });
    expect(written).toBe(true);
    expect(calls).toBe(1);
  });

  it('is false when DynamoDB refuses the condition', async () => {
    const written = await conditionalWrite('PutItem', {}, () =>
      Promise.reject(sdkError('ConditionalCheckFailedException', 'The conditional request failed')),
    );
    expect(written).toBe(false);
  });

  it('translates any other failure with the operation and context', async () => {
    const written = conditionalWrite('UpdateItem (lock)', { volumeId: 'vol-1' }, () =>
      Promise.reject(sdkError('ProvisionedThroughputExceededException', 'slow down')),
    );
    await expect(written).rejects.toThrow(ThrottledError);
    await expect(written).rejects.toThrow(
      'UpdateItem (lock) failed: ProvisionedThroughputExceededException: slow down',
    );
    await expect(written).rejects.toMatchObject({ context: { volumeId: 'vol-1' } });
  });
});
