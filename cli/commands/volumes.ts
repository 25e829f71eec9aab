/**
 * `rbp volumes ls`: the protected replica volumes, then the protected volumes whose replica EC2 no
 * longer has (STATE `REPLICA GONE`: their backups are still restorable by image and recovery point).
 */
import type { Command } from 'commander';
import type { Volume } from '../../lambdas/core/api/schemas.ts';
import { apiCommand, commandGroup } from '../api/command-shapes.ts';
import { apiContext, listAll, type ApiCommandOptions } from '../api/context.ts';

export function registerVolumeCommands(program: Command): void {
  const volumes = commandGroup(program, 'volumes', 'protected replica volumes', ['rbp volumes ls --json']);
  apiCommand(
    volumes,
    'ls',
    'list the protected volumes (REPLICA GONE: EC2 no longer has the replica) and their latest image',
    ['rbp volumes ls', "rbp volumes ls --json | jq -r '.[].volumeId'"],
  ).action(async (options: ApiCommandOptions) => {
    const { client, print } = await apiContext(options);
    const items = await listAll<Volume>(client, '/volumes');
    // STATE comes last and only when a volume has one, so the table of a fleet whose replicas all
    // exist is what it always was (scripts read its columns).
    const anyGone = items.some((v) => v.state !== undefined);
    print.result(items, items, [
      { header: 'VOLUME', value: (v) => v.volumeId },
      { header: 'SERVER', value: (v) => v.serverId },
      { header: 'DEVICE', value: (v) => v.device },
      { header: 'SIZE GIB', value: (v) => v.sizeGib, right: true },
      { header: 'IMAGES', value: (v) => v.imageCount, right: true },
      { header: 'LATEST IMAGE', value: (v) => v.latestImageId },
      { header: 'LATEST AT', value: (v) => v.latestImageAt },
      ...(anyGone ? [{ header: 'STATE', value: (v: Volume) => v.state }] : []),
    ]);
  });
}
