/**
 * The local file-masking hook (local/masking-hook) registered as command functions on a local
 * stack, for the tests that mask a clone: `maskshadow` masks /etc/shadow's password hashes;
 * `masknothing` names a file the filesystems do not hold, so it always fails.
 */
import { LocalAdminClient } from '../../local/gateway/admin-client.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TSX = `${ROOT}node_modules/.bin/tsx`;
const HOOK = `${ROOT}local/masking-hook/main.ts`;
/** A hook's run reads and writes whole snapshots: minutes on a loaded machine. */
const HOOK_TIMEOUT_SECONDS = 300;

/** Registers `maskshadow` (/etc/shadow) and `masknothing` (/etc/nothing) with the stack's gateway. */
export async function createMaskingHooks(endpoint: string): Promise<void> {
  const admin = new LocalAdminClient(endpoint);
  for (const [name, file] of [
    ['maskshadow', '/etc/shadow'],
    ['masknothing', '/etc/nothing'],
  ] as const) {
    await admin.createFunction({
      name,
      command: `${TSX} ${HOOK} --path ${file} --endpoint ${endpoint}`,
      timeoutSeconds: HOOK_TIMEOUT_SECONDS,
    });
  }
}
