/**
 * The local stack's simulated replication agent answers the backup's checkpoint events by itself
 * (docs/replication-agent.md): a `Checkpoint Requested` PutEvents through the real EventBridge
 * client sets the checkpoint tags on every named replica; switched off it sets none; a release ends
 * the hold; a repeated request is a no-op; a delay postpones the report.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeVolumesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';
import { useLocalStack } from '../support/local-stack.ts';

const local = useLocalStack();
const NO_CHECKPOINT = { 'rbp:sync-state': 'IN_SYNC', 'rbp:backlog-bytes': '0' };
let workDir: string;
let volumes: string[];

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'rbp-agent-'));
  volumes = [];
  for (const name of ['a.img', 'b.img']) {
    await writeFile(join(workDir, name), Buffer.alloc(1024 * 1024));
    volumes.push(
      (await local.stack.replicas.create({ imagePath: join(workDir, name), serverId: 's-agent' })).volumeId,
    );
  }
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

async function putEvent(detailType: string, detail: object, source = 'rbp.backup'): Promise<void> {
  const events = new EventBridgeClient(local.clientConfig());
  const answer = await events.send(
    new PutEventsCommand({
      Entries: [
        { Source: source, DetailType: detailType, Detail: JSON.stringify(detail), EventBusName: 'default' },
      ],
    }),
  );
  events.destroy();
  expect(answer.FailedEntryCount).toBe(0);
}

async function checkpointTags(volumeId: string): Promise<Record<string, string>> {
  const ec2 = new EC2Client(local.clientConfig());
  const answer = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  ec2.destroy();
  const tags = Object.fromEntries((answer.Volumes?.[0]?.Tags ?? []).map((t) => [t.Key!, t.Value!]));
  return Object.fromEntries(
    Object.entries(tags).filter(([key]) => /^rbp:(checkpoint|sync|backlog)/.test(key)),
  );
}

function request(checkpointId: string, volumeIds: string[]): object {
  const now = new Date();
  return {
    version: 1,
    checkpointId,
    backupId: checkpointId.replace(/-r\d+$/, ''),
    serverId: 's-agent',
    volumeIds,
    requestedAt: now.toISOString(),
    deadline: new Date(now.getTime() + 60_000).toISOString(),
    holdUntil: new Date(now.getTime() + 960_000).toISOString(),
  };
}

describe('the simulated replication agent', () => {
  it('does not answer while switched off (admin API), and ignores events of other sources', async () => {
    const admin = new LocalAdminClient(local.stack.endpoint);
    expect(await admin.configureAgent({ autoCheckpoint: false })).toEqual({
      autoCheckpoint: false,
      answerDelayMs: 0,
    });
    await putEvent('Checkpoint Requested', request('bk-off-r1', volumes));
    // A new replica is IN_SYNC with no checkpoint (replica-tags.md); the agent added none.
    expect(await checkpointTags(volumes[0]!)).toEqual(NO_CHECKPOINT);
    expect(await checkpointTags(volumes[1]!)).toEqual(NO_CHECKPOINT);
    expect(local.stack.agent.actions().at(-1)).toEqual({
      event: 'Checkpoint Requested',
      checkpointId: 'bk-off-r1',
      volumeIds: volumes,
      action: 'ignored',
    });
    local.stack.agent.setAutoCheckpoint(true);
    await putEvent('Checkpoint Requested', request('bk-other-r1', volumes), 'someone.else');
    expect(await checkpointTags(volumes[0]!)).toEqual(NO_CHECKPOINT);
    expect(local.stack.agent.heldCheckpoints()).toEqual([]);
  });

  it('reports a requested checkpoint on every named volume, holds it until the release; a repeat is a no-op', async () => {
    const before = Date.now();
    await putEvent('Checkpoint Requested', request('bk-1-r1', volumes));
    for (const volumeId of volumes) {
      const tags = await checkpointTags(volumeId);
      expect(tags).toEqual({
        'rbp:checkpoint-id': 'bk-1-r1',
        'rbp:checkpoint-time': expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as string,
        'rbp:sync-state': 'IN_SYNC',
        'rbp:backlog-bytes': '0',
      });
      expect(Date.parse(tags['rbp:checkpoint-time']!)).toBeGreaterThanOrEqual(before - 1000);
    }
    expect(local.stack.agent.heldCheckpoints()).toEqual(['bk-1-r1']);

    await putEvent('Checkpoint Requested', request('bk-1-r1', volumes));
    expect(local.stack.agent.actions().at(-1)?.action).toBe('duplicate');

    await putEvent('Checkpoint Released', {
      version: 1,
      checkpointId: 'bk-1-r1',
      backupId: 'bk-1',
      serverId: 's-agent',
      volumeIds: volumes,
      snapshotIds: ['snap-1', 'snap-2'],
    });
    expect(local.stack.agent.heldCheckpoints()).toEqual([]);
    expect(local.stack.agent.actions().at(-1)).toEqual({
      event: 'Checkpoint Released',
      checkpointId: 'bk-1-r1',
      volumeIds: volumes,
      action: 'released',
    });
  });

  it('with a delay, the tags appear only after it', async () => {
    local.stack.agent.configureAgent({ answerDelayMs: 400 });
    try {
      await putEvent('Checkpoint Requested', request('bk-2-r1', [volumes[0]!]));
      expect((await checkpointTags(volumes[0]!))['rbp:checkpoint-id']).toBe('bk-1-r1');
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect((await checkpointTags(volumes[0]!))['rbp:checkpoint-id']).toBe('bk-2-r1');
      expect((await checkpointTags(volumes[1]!))['rbp:checkpoint-id']).toBe('bk-1-r1');
    } finally {
      local.stack.agent.configureAgent({ answerDelayMs: 0 });
    }
  });

  it('refuses a negative delay', () => {
    expect(() => local.stack.agent.configureAgent({ answerDelayMs: -1 })).toThrow(
      'answerDelayMs must be a non-negative integer',
    );
  });
});
