/**
 * Properties of the EBS emulator's pure parts: paging (every traversal returns each block exactly
 * once, in order, within the page bounds, and ends) and tokens (round trip; any change invalidates).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BlockMap } from '../../local/ebs/ebs-block-map.ts';
import { changedBlocksPage, snapshotBlocksPage, type PageBounds } from '../../local/ebs/ebs-pagination.ts';
import { TokenSigner, type TokenKind } from '../../local/ebs/ebs-tokens.ts';

function digestOf(value: number): Buffer {
  return createHash('sha256').update(String(value)).digest();
}

/** A volume of up to 3,000 blocks with blocks whose content is one of four values (so equal contents occur). */
const volume = fc.integer({ min: 1, max: 3_000 }).chain((totalBlocks) =>
  fc.record({
    totalBlocks: fc.constant(totalBlocks),
    first: fc.dictionary(
      fc.integer({ min: 0, max: totalBlocks - 1 }).map(String),
      fc.integer({ min: 0, max: 3 }),
      {
        maxKeys: 400,
      },
    ),
    second: fc.dictionary(
      fc.integer({ min: 0, max: totalBlocks - 1 }).map(String),
      fc.integer({ min: 0, max: 3 }),
      {
        maxKeys: 400,
      },
    ),
    limit: fc.integer({ min: 1, max: 150 }),
    window: fc.integer({ min: 1, max: 2_000 }),
    start: fc.integer({ min: 0, max: totalBlocks + 5 }),
  }),
);

function mapOf(blocks: Record<string, number>): BlockMap {
  return BlockMap.fromEntries(
    Object.entries(blocks).map(([index, value]) => [Number(index), digestOf(value)] as const),
  );
}

function traverse<T>(
  firstStart: number,
  page: (start: number) => { entries: T[]; nextStart?: number },
  check: (start: number, entries: T[]) => void,
): T[] {
  const all: T[] = [];
  let start: number | undefined = firstStart;
  while (start !== undefined) {
    const result = page(start);
    check(start, result.entries);
    all.push(...result.entries);
    if (result.nextStart !== undefined) expect(result.nextStart).toBeGreaterThan(start);
    start = result.nextStart;
  }
  return all;
}

describe('list pagination', () => {
  it('ListSnapshotBlocks pages return every block at or after the start once, ascending, within the bounds', () => {
    fc.assert(
      fc.property(volume, ({ totalBlocks, first, limit, window, start }) => {
        const map = mapOf(first);
        const bounds = (pageStart: number): PageBounds => ({ start: pageStart, limit, window, totalBlocks });
        const listed = traverse(
          start,
          (pageStart) => snapshotBlocksPage(map, bounds(pageStart)),
          (pageStart, entries) => {
            expect(entries.length).toBeLessThanOrEqual(limit);
            for (const entry of entries) {
              expect(entry.blockIndex).toBeGreaterThanOrEqual(pageStart);
              expect(entry.blockIndex).toBeLessThan(pageStart + window);
            }
          },
        );
        const expected = Object.keys(first)
          .map(Number)
          .filter((index) => index >= start)
          .sort((a, b) => a - b);
        expect(listed.map((entry) => entry.blockIndex)).toEqual(expected);
        for (const entry of listed) expect(entry.digest.equals(map.digestOf(entry.blockIndex)!)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('ListChangedBlocks pages return exactly the blocks that differ or exist on one side, with the right sides', () => {
    fc.assert(
      fc.property(volume, fc.boolean(), ({ totalBlocks, first, second, limit, window, start }, withFirst) => {
        const firstMap = withFirst ? mapOf(first) : undefined;
        const secondMap = mapOf(second);
        const changed = traverse(
          start,
          (pageStart) =>
            changedBlocksPage(firstMap, secondMap, { start: pageStart, limit, window, totalBlocks }),
          (pageStart, entries) => {
            expect(entries.length).toBeLessThanOrEqual(limit);
            for (const entry of entries) expect(entry.blockIndex).toBeLessThan(pageStart + window);
          },
        );
        const firstBlocks = withFirst ? first : {};
        const indexes = new Set([...Object.keys(firstBlocks), ...Object.keys(second)].map(Number));
        const expected = [...indexes]
          .filter((index) => index >= start && firstBlocks[String(index)] !== second[String(index)])
          .sort((a, b) => a - b)
          .map((index) => [index, String(index) in firstBlocks, String(index) in second]);
        expect(
          changed.map((entry) => [
            entry.blockIndex,
            entry.firstDigest !== undefined,
            entry.secondDigest !== undefined,
          ]),
        ).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('tokens', () => {
  const signer = new TokenSigner(Buffer.alloc(32, 7));
  const kinds: TokenKind[] = ['block', 'list-page', 'changed-page'];
  const claims = fc.record({
    kind: fc.constantFrom(...kinds),
    snapshotId: fc.stringMatching(/^snap-[0-9a-f]{17}$/),
    blockIndex: fc.integer({ min: 0, max: 134_217_727 }),
    expiresAtEpochSeconds: fc.integer({ min: 0, max: 0xffff_ffff }),
  });

  it('verify returns what sign put in, for the same kind and binding only', () => {
    fc.assert(
      fc.property(claims, ({ kind, snapshotId, blockIndex, expiresAtEpochSeconds }) => {
        const token = signer.sign(
          kind,
          [snapshotId],
          { blockIndex, expiresAtEpochSeconds },
          TokenSigner.newNonce(),
        );
        expect(token).toMatch(/^[A-Za-z0-9+/=]{1,256}$/);
        expect(signer.verify(kind, [snapshotId], token)).toEqual({ blockIndex, expiresAtEpochSeconds });
        expect(signer.verify(kind, [`${snapshotId}0`], token)).toBeUndefined();
        for (const other of kinds.filter((k) => k !== kind))
          expect(signer.verify(other, [snapshotId], token)).toBeUndefined();
        expect(new TokenSigner(Buffer.alloc(32, 8)).verify(kind, [snapshotId], token)).toBeUndefined();
      }),
    );
  });

  it('any single changed character invalidates a token', () => {
    fc.assert(
      fc.property(
        claims,
        fc.nat(),
        fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'),
        ({ kind, snapshotId, blockIndex, expiresAtEpochSeconds }, position, replacement) => {
          const token = signer.sign(
            kind,
            [snapshotId],
            { blockIndex, expiresAtEpochSeconds },
            TokenSigner.newNonce(),
          );
          const at = position % token.length;
          fc.pre(token[at] !== replacement);
          const tampered = token.slice(0, at) + replacement + token.slice(at + 1);
          expect(signer.verify(kind, [snapshotId], tampered)).toBeUndefined();
        },
      ),
    );
  });
});
