/**
 * `rbp backup cancel ID` and `rbp restore cancel ID` share this: POST …/{id}/cancel, where a 404
 * ends with exit 3 and a 409 (already finished, or too far to cancel) with exit 5 and the API's
 * message: the request no longer makes sense, which is not the "already running" conflict (exit 4)
 * that a retry later may clear.
 */
import type { Command } from 'commander';
import { ApiCallError, type ApiClient } from './api-client.ts';
import { apiContext, withApiOptions, type ApiCommandOptions } from './context.ts';
import { CliError, EXIT } from './exit-codes.ts';

export async function postCancel<T>(
  client: ApiClient,
  collection: 'backups' | 'restores',
  id: string,
): Promise<T> {
  try {
    return await client.post<T>(`/${collection}/${encodeURIComponent(id)}/cancel`, {});
  } catch (error) {
    if (error instanceof ApiCallError && error.status === 409) {
      throw new CliError(error.body.message, EXIT.INVALID_REQUEST, { cause: error });
    }
    throw error;
  }
}

/**
 * `rbp <noun> cancel <id>` under `parent`: POSTs the cancel and prints the answer with the line
 * `describe` makes of it.
 */
export function registerCancelCommand<T>(
  parent: Command,
  cancel: {
    readonly noun: 'backup' | 'restore';
    readonly description: string;
    readonly example: string;
    readonly describe: (cancelled: T, id: string) => string;
  },
): void {
  withApiOptions(parent.command('cancel'))
    .description(cancel.description)
    .argument(`<${cancel.noun}Id>`, `the ${cancel.noun}`)
    .addHelpText('after', `\nExample:\n  $ ${cancel.example}`)
    .action(async (id: string, options: ApiCommandOptions) => {
      const { client, print } = await apiContext(options);
      const cancelled = await postCancel<T>(client, cancel.noun === 'backup' ? 'backups' : 'restores', id);
      print.message(cancelled, cancel.describe(cancelled, id));
    });
}
