/** Entry point of `rbp` (bin/rbp runs this file on Node 22 through tsx). */
import { buildProgram } from './program.ts';

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`rbp: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
}
