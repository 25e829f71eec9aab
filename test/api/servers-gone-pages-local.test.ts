/**
 * `GET /servers`' REPLICA GONE phase on moto, measured: with a registry large enough to need several
 * Query pages (2,000 volumes of 1,000 servers, two volumes each, far apart in volume-id order, each
 * item padded to ~1 KB so that they take the 1 MB pages ~10,000 plain items would; the backfill's
 * 2,000 UpdateItems then take under a minute on moto),
 * every page of the phase read the whole registry before the registry's index by server; with it
 * (DynamoDbLifecycleImageRecords.backfillServerIndex for the items written before, commits file the
 * new ones) a page costs the index marker's GetItem and one Query of GSI2, and lists the same
 * servers, page for page. Every DynamoDB request the listing sends is recorded.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { BatchWriteCommand, DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DynamoDbImageRecordStore,
  PROTECTED_VOLUMES_PARTITION,
  PROTECTED_VOLUME_ENTITY,
} from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { Ec2ReplicaVolumePages } from '../../lambdas/aws/ec2-server-pages.ts';
import { pageServers } from '../../lambdas/core/api/server-pages.ts';
import type { ServerView } from '../../lambdas/core/plans/servers.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const TABLE = 'rbp-gone-servers';
const SERVERS = 1_000;
/** Server n has volumes n and n + SERVERS: a server's two volumes are 1,000 registry items apart. */
const VOLUMES = 2 * SERVERS;
/** Bytes of filler per registry item, so that 2,000 items need two 1 MB Query pages. */
const PAD_BYTES = 900;
/** DynamoDB's BatchWriteItem takes at most 25 items. */
const BATCH_ITEMS = 25;

const sent: string[] = [];
let records: DynamoDbLifecycleImageRecords;
let ec2: EC2Client;
let documents: DynamoDBDocumentClient;

const volumeId = (n: number) => `vol-gone${String(n).padStart(9, '0')}`;
const serverName = (n: number) => `GONE-${String(n).padStart(5, '0')}`;

beforeAll(async () => {
  documents = await createCatalogTable(local.clientConfig({ maxAttempts: 3 }), TABLE);
  // The registry as a release before the index wrote it: no GSI2 keys.
  const items = Array.from({ length: VOLUMES }, (_, n) => ({
    pk: PROTECTED_VOLUMES_PARTITION,
    sk: volumeId(n),
    entity: PROTECTED_VOLUME_ENTITY,
    volumeId: volumeId(n),
    serverId: serverName(n % SERVERS),
    pad: 'x'.repeat(PAD_BYTES),
  }));
  for (let at = 0; at < items.length; at += BATCH_ITEMS * 8) {
    await Promise.all(
      Array.from({ length: 8 }, (_, b) => items.slice(at + b * BATCH_ITEMS, at + (b + 1) * BATCH_ITEMS))
        .filter((batch) => batch.length > 0)
        .map((batch) =>
          documents.send(
            new BatchWriteCommand({
              RequestItems: { [TABLE]: batch.map((Item) => ({ PutRequest: { Item } })) },
            }),
          ),
        ),
    );
  }
  const counted = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig({ maxAttempts: 3 })));
  counted.middlewareStack.add(
    (next, context) => (args) => {
      const input = args.input as QueryCommandInput;
      sent.push(`${context.commandName ?? '?'}${input.IndexName === undefined ? '' : ` ${input.IndexName}`}`);
      return next(args);
    },
    { step: 'initialize', name: 'countRequests' },
  );
  records = new DynamoDbLifecycleImageRecords(counted, TABLE);
  ec2 = new EC2Client(local.clientConfig({ maxAttempts: 3 }));
}, 300_000);

/** Pages of `limit` from the first, following the token, each with the DynamoDB requests it sent. */
async function firstPages(
  count: number,
  limit: number,
): Promise<{ readonly items: ServerView[]; readonly requests: string[] }[]> {
  const source = new Ec2ReplicaVolumePages(
    ec2,
    () => records.registeredVolumes(),
    (page) => records.pageRegisteredServers(page),
  );
  const pages: { items: ServerView[]; requests: string[] }[] = [];
  let pageToken: string | undefined;
  for (let n = 0; n < count; n += 1) {
    sent.length = 0;
    const page = await pageServers(source, pageToken === undefined ? { limit } : { limit, pageToken });
    pages.push({ items: [...page.items], requests: [...sent] });
    pageToken = page.nextToken;
  }
  return pages;
}

describe('GET /servers REPLICA GONE pages on moto', () => {
  it('read the whole registry per page before the index, two requests per page with it, the same servers', async () => {
    const before = await firstPages(3, 10);
    const registryReads = before[0]!.requests.filter((r) => r === 'QueryCommand').length;
    // The index marker (absent), then the registry's every Query page, on every page.
    expect(registryReads).toBe(3);
    for (const page of before) {
      expect(page.requests).toEqual(['GetItemCommand', ...Array<string>(registryReads).fill('QueryCommand')]);
    }
    expect(before.flatMap((p) => p.items.map((s) => s.name))).toEqual(
      Array.from({ length: 30 }, (_, n) => serverName(n)),
    );
    expect(before[0]!.items[0]).toEqual({
      name: serverName(0),
      replication: 'disconnected',
      volumes: [
        { volumeId: volumeId(0), tags: {} },
        { volumeId: volumeId(SERVERS), tags: {} },
      ],
      applications: [],
      hasPrimary: false,
      state: 'REPLICA GONE',
    });

    // A commit that names no server, before the backfill: the item keeps its server (GONE-00001)
    // but is filed under its volume id on GSI2 (if_not_exists); the backfill files it right.
    await new DynamoDbImageRecordStore(documents, TABLE).putImageRecord(
      fullImageRecord(volumeId(1), 'img-unowned', '2026-11-30T00:00:00.000Z'),
    );
    // The lifecycle jobs' one-time backfill files every existing item under its server.
    expect(await records.backfillServerIndex()).toEqual({ indexed: VOLUMES });
    expect(await records.backfillServerIndex()).toEqual({ indexed: 0 });
    // A commit after it files its volume itself (the registry update of its transaction).
    await new DynamoDbImageRecordStore(documents, TABLE).putImageRecord(
      fullImageRecord('vol-gone-new', 'img-new', '2026-12-01T00:00:00.000Z'),
      undefined,
      undefined,
      { serverId: 'GONE-00000' },
    );

    const after = await firstPages(3, 10);
    for (const page of after) expect(page.requests).toEqual(['GetItemCommand', 'QueryCommand GSI2']);
    const withNew = before.map((p) => p.items);
    withNew[0]![0] = {
      ...withNew[0]![0]!,
      volumes: [...withNew[0]![0]!.volumes, { volumeId: 'vol-gone-new', tags: {} }].sort((a, b) =>
        a.volumeId < b.volumeId ? -1 : 1,
      ),
    };
    expect(after.map((p) => p.items)).toEqual(withNew);
    console.log(
      `GET /servers REPLICA GONE page of 10 (${VOLUMES} registered volumes): ${before[0]!.requests.length} DynamoDB requests before the index, ${after[0]!.requests.length} with it`,
    );
  }, 300_000);
});
