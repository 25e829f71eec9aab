/**
 * serverVolumesProblem (core/orchestration/server-backup-settings.ts), the check of a server's
 * configured volumeIds against its volumes tagged rbp:source-server=<serverId>: no list is no
 * check; a problem exactly when the two sets differ, whatever the order of either side; the
 * message names both sides sorted and every volume on one side only, each under its own heading.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serverVolumesProblem } from '../../lambdas/core/orchestration/server-backup-settings.ts';

const volumeId = fc.integer({ min: 0, max: 15 }).map((n) => `vol-${n.toString(16).padStart(17, '0')}`);
const volumeSet = fc.uniqueArray(volumeId, { minLength: 1, maxLength: 8 });
const sorted = (ids: readonly string[]) => [...ids].sort();

describe('serverVolumesProblem', () => {
  it("names both sides and what each lacks (the operator's example)", () => {
    expect(serverVolumesProblem('db-01', ['vol-b', 'vol-a'], ['vol-c', 'vol-a'])).toBe(
      'server db-01: the configuration lists vol-a, vol-b; the volumes tagged rbp:source-server=db-01 are vol-a, vol-c (vol-b not tagged; vol-c not listed)',
    );
    expect(serverVolumesProblem('db-01', ['vol-a'], [])).toBe(
      'server db-01: the configuration lists vol-a; the volumes tagged rbp:source-server=db-01 are none (vol-a not tagged)',
    );
  });

  it('no list: no check, whatever is tagged', () => {
    fc.assert(
      fc.property(fc.uniqueArray(volumeId), (tagged) => {
        expect(serverVolumesProblem('s', undefined, tagged)).toBeUndefined();
      }),
    );
  });

  it('the tagged set in any order passes', () => {
    fc.assert(
      fc.property(volumeSet, fc.integer({ min: 0, max: 7 }), (ids, turn) => {
        const rotated = [...ids.slice(turn % ids.length), ...ids.slice(0, turn % ids.length)];
        expect(serverVolumesProblem('s', ids, rotated.reverse())).toBeUndefined();
      }),
    );
  });

  it('a problem exactly when the sets differ, in any order; the message lists each difference once', () => {
    fc.assert(
      fc.property(volumeSet, fc.uniqueArray(volumeId), fc.boolean(), (configured, tagged, reverse) => {
        const problem = serverVolumesProblem('srv', configured, reverse ? [...tagged].reverse() : tagged);
        const notTagged = sorted(configured.filter((v) => !tagged.includes(v)));
        const notListed = sorted(tagged.filter((v) => !configured.includes(v)));
        if (notTagged.length === 0 && notListed.length === 0) {
          expect(problem).toBeUndefined();
          return;
        }
        const differences = [
          ...(notTagged.length === 0 ? [] : [`${notTagged.join(', ')} not tagged`]),
          ...(notListed.length === 0 ? [] : [`${notListed.join(', ')} not listed`]),
        ].join('; ');
        expect(problem).toBe(
          `server srv: the configuration lists ${sorted(configured).join(', ')}; ` +
            `the volumes tagged rbp:source-server=srv are ${tagged.length === 0 ? 'none' : sorted(tagged).join(', ')} ` +
            `(${differences})`,
        );
      }),
    );
  });
});
