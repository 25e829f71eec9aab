/** Reading a JSON document the operator names with `--file` (plans, workflows): a usage error otherwise. */
import { readFile } from 'node:fs/promises';
import { CliError, EXIT } from './exit-codes.ts';

function reasonOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CliError(`cannot read ${path}: ${reasonOf(cause)}`, EXIT.USAGE, { cause });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new CliError(`${path} is not JSON: ${reasonOf(cause)}`, EXIT.USAGE, { cause });
  }
}
