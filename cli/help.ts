/**
 * Help conventions applied to every command once the program is built: options a command cannot
 * run without say so in their description (commander lists them like any other option).
 */
import type { Command } from 'commander';

/** Appended to the description of a mandatory option. */
export const REQUIRED_MARK = '(required)';

/** Marks the mandatory options of `command` and every command under it. */
export function markRequiredOptions(command: Command): void {
  for (const option of command.options) {
    if (option.mandatory && !option.description.endsWith(REQUIRED_MARK)) {
      option.description = `${option.description} ${REQUIRED_MARK}`.trim();
    }
  }
  for (const sub of command.commands) markRequiredOptions(sub);
}
