/**
 * The replica volume pages and registry contract (replica-volume-pages.contract.ts) against
 * MemoryReplicaFleet and the adapters as the wiring builds them on moto: Ec2ReplicaVolumePages
 * (plan-wiring.ts, `GET /servers`) and ReplicaVolumesWithRegistered (wiring.ts, `GET /volumes`)
 * over DynamoDbLifecycleImageRecords, the registry written by DynamoDbImageRecordStore's commits.
 * Each `make` gets a table of its own; EC2 is the file's one moto account.
 */
import { CreateVolumeCommand, EC2Client } from '@aws-sdk/client-ec2';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll } from 'vitest';
import { DynamoDbImageRecordStore } from '../../lambdas/aws/dynamodb-image-records.ts';
import { DynamoDbLifecycleImageRecords } from '../../lambdas/aws/dynamodb-lifecycle-images.ts';
import { Ec2ReplicaVolumes, ReplicaVolumesWithRegistered } from '../../lambdas/aws/ec2-replica-volumes.ts';
import { Ec2ReplicaVolumePages } from '../../lambdas/aws/ec2-server-pages.ts';
import { tagList } from '../../lambdas/aws/aws-tags.ts';
import { REPLICA_AVAILABILITY_ZONE } from '../../local/replica/replica-volumes.ts';
import { createCatalogTable } from '../catalog/local-catalog-table.ts';
import { fullImageRecord } from '../fakes/memory-image-records.ts';
import { MemoryReplicaFleet } from '../fakes/memory-replica-fleet.ts';
import { useLocalStack } from '../support/local-stack.ts';
import { replicaVolumePagesContract } from './replica-volume-pages.contract.ts';

replicaVolumePagesContract('MemoryReplicaFleet', () => {
  const fleet = new MemoryReplicaFleet();
  return Promise.resolve({
    servers: fleet.servers,
    volumes: fleet.volumes,
    addVolume: (tags, sizeGib) => Promise.resolve(fleet.addVolume(tags, sizeGib)),
    register: (volumeId, serverId) => Promise.resolve(fleet.register(volumeId, serverId)),
    indexServers: () => Promise.resolve(fleet.indexServers()),
  });
});

const local = useLocalStack();
let ec2: EC2Client | undefined;
const tables: DynamoDBDocumentClient[] = [];
afterAll(() => {
  ec2?.destroy();
  for (const documents of tables) documents.destroy();
});

replicaVolumePagesContract('Ec2ReplicaVolumePages and ReplicaVolumesWithRegistered on moto', async () => {
  ec2 ??= new EC2Client(local.clientConfig());
  const client = ec2;
  const table = `rbp-replica-pages-${tables.length + 1}`;
  const documents = await createCatalogTable(local.clientConfig(), table);
  tables.push(documents);
  const commits = new DynamoDbImageRecordStore(documents, table);
  const registry = new DynamoDbLifecycleImageRecords(documents, table);
  let images = 0;
  return {
    servers: new Ec2ReplicaVolumePages(
      client,
      () => registry.registeredVolumes(),
      (page) => registry.pageRegisteredServers(page),
    ),
    volumes: new ReplicaVolumesWithRegistered(
      new Ec2ReplicaVolumes(client),
      () => registry.registeredVolumes(),
      (page) => registry.pageRegisteredVolumes(page),
    ),
    addVolume: async (tags, sizeGib) => {
      const created = await client.send(
        new CreateVolumeCommand({
          AvailabilityZone: REPLICA_AVAILABILITY_ZONE,
          Size: sizeGib,
          TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(tags) }],
        }),
      );
      return created.VolumeId!;
    },
    register: async (volumeId, serverId) => {
      images += 1;
      const record = fullImageRecord(
        volumeId,
        `img-${images}`,
        `2026-12-04T00:00:${String(images).padStart(2, '0')}.000Z`,
      );
      await commits.putImageRecord(
        record,
        undefined,
        undefined,
        serverId === undefined ? undefined : { serverId },
      );
    },
    indexServers: async () => {
      await registry.backfillServerIndex();
    },
  };
});
