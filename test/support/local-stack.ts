/**
 * Integration tests on the local stack: `useLocalStack()` starts moto + the gateway in a temp state
 * directory before the file's tests and stops both (and removes the directory) after them. One
 * stack per test file: moto starts in about a second, files run two at a time, and no test can
 * see another file's state (so nobody ever needs moto's global reset).
 *
 *   const local = useLocalStack({ snapshotCompletionDelayMs: 200 });
 *   it('...', async () => { const ec2 = new EC2Client(local.clientConfig()); ... });
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EBSClient, GetSnapshotBlockCommand, ListSnapshotBlocksCommand } from '@aws-sdk/client-ebs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import {
  LOCAL_ACCOUNT_ID,
  localClientConfig,
  type LocalClientConfig,
} from '../../local/gateway/local-account.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../local/stack.ts';

export { localClientConfig, type LocalClientConfig };

/** The role a test's state machine on the local stack names (moto does not assume it); local/deploy.ts names the same. */
export const LOCAL_STATE_MACHINE_ROLE = `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/rbp-local`;

export interface LocalStackHandle {
  /** The running stack (throws outside the tests of the file). */
  readonly stack: LocalStack;
  /** Config for any AWS SDK v3 client: endpoint, region, credentials; one attempt unless overridden. */
  clientConfig(overrides?: { maxAttempts?: number }): LocalClientConfig;
}

export function useLocalStack(options: Omit<LocalStackOptions, 'stateDir'> = {}): LocalStackHandle {
  let running: LocalStack | undefined;
  let stateDir: string | undefined;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'rbp-local-'));
    running = await startLocalStack({ ...options, stateDir });
  });

  afterAll(async () => {
    await running?.stop();
    running = undefined;
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  const stack = (): LocalStack => {
    if (!running) {
      throw new Error('the local stack runs only inside the tests of the file that called useLocalStack()');
    }
    return running;
  };
  return {
    get stack(): LocalStack {
      return stack();
    },
    clientConfig: (overrides = {}) => localClientConfig(stack().endpoint, overrides.maxAttempts ?? 1),
  };
}

/** SDK clients of the services the gateway serves, on one local stack. */
export interface LocalSdkClients {
  readonly ebs: EBSClient;
  readonly ec2: EC2Client;
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
  readonly lambda: LambdaClient;
}

/**
 * SDK clients on the file's local stack (one attempt each), made before its tests and destroyed
 * after them. Read them as `aws.ebs` inside the tests: they do not exist before the stack runs.
 */
export function useLocalClients(local: LocalStackHandle): LocalSdkClients {
  let clients: LocalSdkClients | undefined;
  beforeAll(() => {
    const config = local.clientConfig();
    clients = {
      ebs: new EBSClient(config),
      ec2: new EC2Client(config),
      s3: new S3Client(config),
      dynamodb: new DynamoDBClient(config),
      lambda: new LambdaClient(config),
    };
  });
  afterAll(() => {
    for (const client of Object.values(clients ?? {}) as { destroy(): void }[]) client.destroy();
    clients = undefined;
  });
  const get = (): LocalSdkClients => {
    if (clients === undefined) throw new Error('the local clients exist only inside the tests of the file');
    return clients;
  };
  return {
    get ebs() {
      return get().ebs;
    },
    get ec2() {
      return get().ec2;
    },
    get s3() {
      return get().s3;
    },
    get dynamodb() {
      return get().dynamodb;
    },
    get lambda() {
      return get().lambda;
    },
  };
}

/** How `readSnapshotBlocks` lists and what it checks of each block it reads. */
export interface ReadSnapshotOptions {
  /** ListSnapshotBlocks page size (the service's default when unset). */
  readonly maxResults?: number;
  /** Called with each block's GetSnapshotBlock checksum and data (e.g. to check the checksum). */
  readonly verify?: (checksum: string | undefined, data: Buffer) => void;
}

/** Every block of a snapshot (block index → its 512 KiB), read back through the EBS direct API. */
export async function readSnapshotBlocks(
  ebs: EBSClient,
  snapshotId: string,
  { maxResults, verify }: ReadSnapshotOptions = {},
): Promise<Map<number, Buffer>> {
  const blocks = new Map<number, Buffer>();
  let token: string | undefined;
  do {
    const page = await ebs.send(
      new ListSnapshotBlocksCommand({ SnapshotId: snapshotId, MaxResults: maxResults, NextToken: token }),
    );
    for (const entry of page.Blocks ?? []) {
      const read = await ebs.send(
        new GetSnapshotBlockCommand({
          SnapshotId: snapshotId,
          BlockIndex: entry.BlockIndex!,
          BlockToken: entry.BlockToken!,
        }),
      );
      const data = Buffer.from(await read.BlockData!.transformToByteArray());
      verify?.(read.Checksum, data);
      blocks.set(entry.BlockIndex!, data);
    }
    token = page.NextToken;
  } while (token);
  return blocks;
}
