/** Reading a JSON document the operator names with `--file` (plans, workflows): a usage error otherwise. */
import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './exit-codes.ts';

function reasonOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** What an operator reads for the usual reasons a file cannot be read (else Node's own message). */
const READ_FAILURES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
};

function readFailureOf(cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return (code === undefined ? undefined : READ_FAILURES[code]) ?? reasonOf(cause);
}

export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CliError(`cannot read ${path}: ${readFailureOf(cause)}`, EXIT.USAGE, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new CliError(`${path} is not JSON: ${reasonOf(cause)}`, EXIT.USAGE, { cause });
  }
}
