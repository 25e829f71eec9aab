/**
 * `rbp backup cancel ID` and `rbp restore cancel ID` share this: POST …/{id}/cancel, where a 404
 * ends with exit 3 and a 409 (already finished, or too far to cancel) with exit 5 and the API's
 * message: the request no longer makes sense, which is not the "already running" conflict (exit 4)
 * that a retry later may clear.
 */
import { ApiCallError, type ApiClient } from './api-client.ts';
import { CliError, EXIT } from './exit-codes.ts';

export async function postCancel<T>(client: ApiClient, collection: 'backups' | 'restores', id: string): Promise<T> {
  try {
    return await client.post<T>(`/${collection}/${encodeURIComponent(id)}/cancel`, {});
  } catch (error) {
    if (error instanceof ApiCallError && error.status === 409) {
      throw new CliError(error.body.message, EXIT.INVALID_REQUEST, { cause: error });
    }
    throw error;
  }
}
