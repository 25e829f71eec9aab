/** The account and region the local stack pretends to be (moto's default account). */
export const LOCAL_ACCOUNT_ID = '123456789012';
export const LOCAL_REGION = 'us-east-1';
/**
 * A Lambda function's ARN, optionally with a version or alias: what an EventBridge rule's or a
 * Scheduler schedule's target must be for the local stack to invoke it
 * (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
 */
export const FUNCTION_ARN_PATTERN =
  /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$/;
/** Dummy credentials: moto accepts any; the SDK only needs something to sign with. */
export const LOCAL_ACCESS_KEY_ID = 'testing';
export const LOCAL_SECRET_ACCESS_KEY = 'testing';

/** An AWS SDK v3 client's config for an endpoint of the local stack: its region and credentials. */
export interface LocalClientConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** One attempt unless asked: whoever provokes an error wants it, not the SDK's retries. */
  readonly maxAttempts: number;
}

export function localClientConfig(endpoint: string, maxAttempts = 1): LocalClientConfig {
  return {
    endpoint,
    region: LOCAL_REGION,
    credentials: { accessKeyId: LOCAL_ACCESS_KEY_ID, secretAccessKey: LOCAL_SECRET_ACCESS_KEY },
    maxAttempts,
  };
}
