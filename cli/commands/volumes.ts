/** `rbp volumes ls`: the protected replica volumes. */
import type { Command } from 'commander';
import type { Volume } from '../../lambdas/core/api/schemas.ts';
import { apiCommand, commandGroup } from '../api/command-shapes.ts';
import { apiContext, listAll, type ApiCommandOptions } from '../api/context.ts';

export function registerVolumeCommands(program: Command): void {
  const volumes = commandGroup(program, 'volumes', 'protected replica volumes', ['rbp volumes ls --json']);
  apiCommand(volumes, 'ls', 'list the protected replica volumes and their latest image', [
    'rbp volumes ls',
    "rbp volumes ls --json | jq -r '.[].volumeId'",
  ]).action(async (options: ApiCommandOptions) => {
    const { client, print } = await apiContext(options);
    const items = await listAll<Volume>(client, '/volumes');
    print.result(items, items, [
      { header: 'VOLUME', value: (v) => v.volumeId },
      { header: 'SERVER', value: (v) => v.serverId },
      { header: 'DEVICE', value: (v) => v.device },
      { header: 'SIZE GIB', value: (v) => v.sizeGib, right: true },
      { header: 'IMAGES', value: (v) => v.imageCount, right: true },
      { header: 'LATEST IMAGE', value: (v) => v.latestImageId },
      { header: 'LATEST AT', value: (v) => v.latestImageAt },
    ]);
  });
}
