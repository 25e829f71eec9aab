/** `rbp apps ls --image IMAGE`: applications recorded in an image. */
import type { Command } from 'commander';
import type { Application } from '../../lambdas/core/api/schemas.ts';
import { apiCommand, commandGroup } from '../api/command-shapes.ts';
import { apiContext, type ApiCommandOptions } from '../api/context.ts';

/** The example image of the help text. */
const EXAMPLE = 'rbp apps ls --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071';

export function registerAppCommands(program: Command): void {
  const apps = commandGroup(program, 'apps', 'applications recorded in images by the replication agent', [
    EXAMPLE,
  ]);
  apiCommand(apps, 'ls', 'list the applications of an image', [EXAMPLE])
    .requiredOption('--image <imageId>', 'the image')
    .action(async (options: ApiCommandOptions & { image: string }) => {
      const { client, print } = await apiContext(options);
      const answer = await client.get<{ items: Application[] }>(
        `/images/${encodeURIComponent(options.image)}/applications`,
      );
      print.result(answer.items, answer.items, [
        { header: 'NAME', value: (a) => a.name },
        { header: 'TYPE', value: (a) => a.type },
        { header: 'VERSION', value: (a) => a.version },
        { header: 'DATABASES', value: (a) => a.databases?.map((d) => d.name).join(',') },
        { header: 'PATHS', value: (a) => a.paths.join(',') },
      ]);
    });
}
