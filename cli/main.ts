/** Entry point of `rbp` (bin/rbp runs this file on Node 22 through tsx). */
import { CommanderError } from 'commander';
import { CliError, EXIT } from './api/exit-codes.ts';
import { buildProgram } from './program.ts';

// `rbp … | head` closes the pipe early: that is the reader's choice, not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(EXIT.OK);
  throw error;
});

// The same for stderr (`rbp … 2>&1 | head`): what goes there is for a reader who has gone, and the
// exit code must stay the command's (2 for a usage error), not become 1 for the closed pipe.
process.stderr.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // commander has printed the usage problem (or the help/version, which exit 0).
    process.exitCode = error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    process.stderr.write(`rbp: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : EXIT.FAILURE;
  }
}
