/**
 * Where the CLI finds the API: `--endpoint`, else `RBP_API_URL`, else the local gateway named by
 * `AWS_ENDPOINT_URL` (what `rbp local serve` prints), else the deployed stack's outputs
 * (CloudFormation DescribeStacks: the output `ApiUrl`, or the RestApi's generated `...Endpoint...`).
 */
import type { Output } from '@aws-sdk/client-cloudformation';
import { CliError, EXIT } from './exit-codes.ts';
import { regionOfApiUrl } from './api-client.ts';

/** The stack `cdk deploy` creates unless the operator names it otherwise (RBP_STACK_NAME / --stack). */
export const DEFAULT_STACK_NAME = 'ReplicaBackupProxy';
/** The API path prefix of the local gateway (local/gateway/api-adapter.ts). */
export const LOCAL_API_PREFIX = '/_api';
/** Region when nothing names one: the SDK's own fallback is an error; us-east-1 matches the local stack. */
export const FALLBACK_REGION = 'us-east-1';

export interface EndpointOptions {
  readonly endpoint?: string;
  readonly stack?: string;
  readonly region?: string;
}

export interface ResolvedEndpoint {
  readonly baseUrl: string;
  readonly region: string;
  /** Where it came from, for --verbose and error messages. */
  readonly source: 'flag' | 'RBP_API_URL' | 'AWS_ENDPOINT_URL' | 'stack';
}

/** The API URL among a stack's outputs. */
export function apiUrlOfOutputs(outputs: readonly Output[]): string | undefined {
  const byKey = (test: (key: string) => boolean) =>
    outputs.find((output) => output.OutputKey !== undefined && test(output.OutputKey) && output.OutputValue)
      ?.OutputValue;
  return (
    byKey((key) => key === 'ApiUrl') ??
    byKey((key) => key.includes('ApiUrl')) ??
    byKey((key) => /Api\w*Endpoint/.test(key))
  );
}

function checkedUrl(value: string, source: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http(s)');
    return value;
  } catch (cause) {
    throw new CliError(`the API endpoint from ${source} is not a URL: ${value}`, EXIT.USAGE, { cause });
  }
}

export async function resolveEndpoint(
  options: EndpointOptions,
  env: NodeJS.ProcessEnv = process.env,
  describeStack: (stackName: string, region: string) => Promise<readonly Output[]> = describeStackOutputs,
): Promise<ResolvedEndpoint> {
  const configuredRegion = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const regionFor = (url: string) => configuredRegion ?? regionOfApiUrl(url) ?? FALLBACK_REGION;
  if (options.endpoint) {
    return {
      baseUrl: checkedUrl(options.endpoint, '--endpoint'),
      region: regionFor(options.endpoint),
      source: 'flag',
    };
  }
  if (env.RBP_API_URL) {
    return {
      baseUrl: checkedUrl(env.RBP_API_URL, 'RBP_API_URL'),
      region: regionFor(env.RBP_API_URL),
      source: 'RBP_API_URL',
    };
  }
  if (env.AWS_ENDPOINT_URL && options.stack === undefined) {
    const base = `${checkedUrl(env.AWS_ENDPOINT_URL, 'AWS_ENDPOINT_URL').replace(/\/+$/, '')}${LOCAL_API_PREFIX}`;
    return { baseUrl: base, region: configuredRegion ?? FALLBACK_REGION, source: 'AWS_ENDPOINT_URL' };
  }
  const stackName = options.stack ?? env.RBP_STACK_NAME ?? DEFAULT_STACK_NAME;
  const region = configuredRegion ?? FALLBACK_REGION;
  let outputs: readonly Output[];
  try {
    outputs = await describeStack(stackName, region);
  } catch (cause) {
    throw new CliError(
      `no API endpoint: pass --endpoint or set RBP_API_URL (reading the outputs of stack ${stackName} in ${region} failed: ${
        cause instanceof Error ? cause.message : String(cause)
      })`,
      EXIT.USAGE,
      { cause },
    );
  }
  const url = apiUrlOfOutputs(outputs);
  if (url === undefined) {
    throw new CliError(
      `stack ${stackName} in ${region} has no ApiUrl output; pass --endpoint or set RBP_API_URL`,
      EXIT.USAGE,
    );
  }
  return {
    baseUrl: checkedUrl(url, `stack ${stackName}`),
    region: configuredRegion ?? regionOfApiUrl(url) ?? region,
    source: 'stack',
  };
}

async function describeStackOutputs(stackName: string, region: string): Promise<readonly Output[]> {
  // Loaded only when needed: most runs name the endpoint, and the client costs startup time.
  const { CloudFormationClient, DescribeStacksCommand } = await import('@aws-sdk/client-cloudformation');
  const client = new CloudFormationClient({ region });
  try {
    const answer = await client.send(new DescribeStacksCommand({ StackName: stackName }));
    return answer.Stacks?.[0]?.Outputs ?? [];
  } finally {
    client.destroy();
  }
}
