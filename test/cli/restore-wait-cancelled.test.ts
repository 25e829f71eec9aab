/**
 * `rbp restore status ID --wait` on a restore that someone cancelled: CANCELLED is a final status,
 * so the wait ends at once with exit 8 (the job did not succeed) instead of polling until --timeout.
 */
import { describe, expect, it } from 'vitest';
import { noRoute, useApiStandIn } from '../support/cli.ts';

const RESTORE_ID = 'rs-20261203T124501Z-5f3a9c21';

const api = useApiStandIn((request) =>
  request.method === 'GET' && request.url === `/api/restores/${RESTORE_ID}`
    ? {
        status: 200,
        json: {
          restoreId: RESTORE_ID,
          imageId: 'img-bk-20261203T120000Z-vol-0123456789abcdef0',
          kind: 'file',
          path: '/etc/hosts',
          status: 'CANCELLED',
          error: 'cancelled by the operator',
          createdAt: '2026-12-03T12:45:01.000Z',
        },
      }
    : noRoute(request),
);

describe('rbp restore status --wait on a cancelled restore', () => {
  it('stops waiting at once and exits 8 with the status', async () => {
    const result = await api.rbp(['restore', 'status', RESTORE_ID, '--wait', '--timeout', '30']);
    expect(result.stderr).not.toContain('has not finished');
    expect(result.code).toBe(8);
    expect(result.stdout).toContain(`restore ${RESTORE_ID}: CANCELLED`);
  }, 60_000);
});
