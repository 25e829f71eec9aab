/**
 * The shapes every `rbp` command repeats: a command group (`rbp volumes`) and an API command under
 * it (`rbp volumes ls`), each with a description and its examples after the help text.
 */
import type { Command } from 'commander';
import { withApiOptions } from './context.ts';

/** `\nExample:\n  $ one` or `\nExamples:\n  $ one\n  $ two`, as the help text ends. */
export function examplesText(examples: readonly string[]): string {
  return `\n${examples.length === 1 ? 'Example' : 'Examples'}:\n${examples.map((e) => `  $ ${e}`).join('\n')}`;
}

/** `rbp <name>`: a group of commands, its description and examples. */
export function commandGroup(
  program: Command,
  name: string,
  description: string,
  examples: readonly string[],
): Command {
  return program.command(name).description(description).addHelpText('after', examplesText(examples));
}

/** `<parent> <name>` with the API options (--endpoint, --stack, --region, --json), a description and examples. */
export function apiCommand(
  parent: Command,
  name: string,
  description: string,
  examples: readonly string[],
): Command {
  return withApiOptions(parent.command(name))
    .description(description)
    .addHelpText('after', examplesText(examples));
}
