/**
 * The file-masking hook as a command: reads a masking event (lambdas/core/workflows/masking.ts) on
 * stdin and prints the answer on stdout, so it serves as a local command function:
 *
 *   rbp local function create --name maskshadow \
 *     --command "npx tsx local/masking-hook/main.ts --path /etc/shadow --endpoint http://127.0.0.1:4566"
 *
 * Options: --path FILE (required), --pattern REGEX (default: /etc/shadow's hash field),
 * --offset BYTES (the filesystem's start in the volume), --kms-key-arn ARN, --skip-missing,
 * --endpoint URL (the local gateway; without it the SDK's own endpoint and credentials are used).
 * A failure exits 1 with the reason on stderr, which a command function reports as its error.
 */
import { parseArgs } from 'node:util';
import { EBSClient } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EbsSnapshots } from '../../lambdas/aws/ebs-snapshots.ts';
import { describeError } from '../../lambdas/core/errors.ts';
import { maskingHookEventSchema } from '../../lambdas/core/workflows/masking.ts';
import { LOCAL_ACCESS_KEY_ID, LOCAL_REGION, LOCAL_SECRET_ACCESS_KEY } from '../gateway/local-account.ts';
import { maskEvent } from './snapshot-file-masker.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      path: { type: 'string' },
      pattern: { type: 'string' },
      offset: { type: 'string' },
      'kms-key-arn': { type: 'string' },
      'skip-missing': { type: 'boolean' },
      endpoint: { type: 'string' },
    },
  });
  if (values.path === undefined || !values.path.startsWith('/'))
    throw new Error('--path /absolute/file is required');
  const offset = values.offset === undefined ? 0 : Number(values.offset);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new Error('--offset must be a byte count');
  const event = maskingHookEventSchema.parse(JSON.parse(await readStdin()));
  const config =
    values.endpoint === undefined
      ? {}
      : {
          endpoint: values.endpoint,
          region: LOCAL_REGION,
          credentials: { accessKeyId: LOCAL_ACCESS_KEY_ID, secretAccessKey: LOCAL_SECRET_ACCESS_KEY },
        };
  const ebsClient = new EBSClient(config);
  const ec2 = new EC2Client(config);
  try {
    const answer = await maskEvent({ ebs: new EbsSnapshots(ebsClient), ec2 }, event, {
      path: values.path,
      filesystemOffsetBytes: offset,
      ...(values.pattern === undefined ? {} : { pattern: values.pattern }),
      ...(values['kms-key-arn'] === undefined ? {} : { kmsKeyArn: values['kms-key-arn'] }),
      ...(values['skip-missing'] === true ? { skipMissing: true } : {}),
    });
    process.stdout.write(`${JSON.stringify(answer)}\n`);
  } finally {
    ebsClient.destroy();
    ec2.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${describeError(error)}\n`);
  process.exitCode = 1;
});
