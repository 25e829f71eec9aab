/**
 * The operator CLI `rbp` (commander). Each command group registers itself here; `main.ts` runs it.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerLocalCommands } from './commands/local.ts';
import { registerApiCommands } from './commands/api-commands.ts';
import { markRequiredOptions } from './help.ts';

function packageVersion(): string {
  const text = readFileSync(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export function buildProgram(): Command {
  const program = new Command('rbp')
    .description('Replica backup proxy: point-in-time backups of replica EBS volumes into S3, and restores.')
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  $ rbp local serve                                  run the embedded local AWS stack
  $ rbp local replica create --image disk.img        register a disk image as a replica volume
  $ rbp volumes ls                                   the protected volumes (API; --json for scripts)
  $ rbp restore file --image img-bk-20261120t120000000z-0a1b2c3d4e5f6071 --path /etc/hosts --out ./hosts`,
    );
  registerLocalCommands(program);
  registerApiCommands(program);
  markRequiredOptions(program);
  return program;
}
