/** Properties of the catalog's key order, cursors and DynamoDB item mapping (fast-check). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromCatalogDbItem, toCatalogDbItem } from '../../lambdas/aws/dynamodb-catalog.ts';
import { ENTRY_TYPES } from '../../lambdas/core/api/schemas.ts';
import {
  decodeCursor,
  encodeCursor,
  normalizeCatalogPath,
  splitPath,
} from '../../lambdas/core/catalog/catalog-keys.ts';
import { compareCodePoints, type CatalogItem } from '../../lambdas/core/catalog/catalog-types.ts';

/** Graphemes include characters above U+FFFF, where UTF-16 and UTF-8 orders differ. */
const fullUnicode = fc.string({ unit: 'grapheme', maxLength: 20 });
const timestamp = fc.record({
  seconds: fc.integer({ min: -(2 ** 31), max: 2 ** 34 }),
  nanoseconds: fc.integer({ min: 0, max: 999_999_999 }),
});

describe('catalog keys', () => {
  it('compareCodePoints orders like UTF-8 bytes (DynamoDB key order)', () => {
    fc.assert(
      fc.property(fullUnicode, fullUnicode, (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(
          Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('cursors round-trip and refuse other kinds', () => {
    fc.assert(
      fc.property(fullUnicode, (position) => {
        const cursor = encodeCursor('dir', position);
        expect(decodeCursor('dir', cursor)).toBe(position);
        expect(() => decodeCursor('name', cursor)).toThrow('invalid cursor');
      }),
    );
  });

  it('splitPath and normalizeCatalogPath agree', () => {
    const component = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 8 })
      .filter((c) => !c.includes('/') && c !== '.' && c !== '..' && !c.includes('\0'));
    fc.assert(
      fc.property(fc.array(component, { minLength: 1, maxLength: 6 }), (parts) => {
        const path = `/${parts.join('/')}`;
        expect(normalizeCatalogPath(`${path}/`)).toBe(path);
        const { dir, name } = splitPath(path);
        expect(name).toBe(parts.at(-1));
        expect(dir).toBe(parts.length === 1 ? '/' : `/${parts.slice(0, -1).join('/')}`);
      }),
    );
    expect(() => normalizeCatalogPath('/a/../b')).toThrow('path must not contain ".."');
    expect(() => normalizeCatalogPath('a')).toThrow('path must be absolute');
  });

  it('a version item survives the DynamoDB item mapping unchanged', () => {
    const meta = fc.record(
      {
        type: fc.constantFrom(...ENTRY_TYPES),
        inode: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
        size: fc.maxSafeNat(),
        mode: fc.integer({ min: 0, max: 0xffff }),
        uid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        gid: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        nlink: fc.integer({ min: 0, max: 65_000 }),
        mtime: timestamp,
        ctime: timestamp,
        atime: timestamp,
        crtime: timestamp,
        symlinkTarget: fullUnicode,
        device: fc.record({
          major: fc.integer({ min: 0, max: 4095 }),
          minor: fc.integer({ min: 0, max: 2 ** 20 - 1 }),
        }),
      },
      { requiredKeys: ['type', 'inode', 'size', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'ctime', 'atime'] },
    );
    const item = fc.record({
      volumeId: fc.constant('vol-1'),
      partition: fc.integer({ min: 0, max: 128 }),
      dir: fc.constant('/etc'),
      name: fullUnicode.filter((n) => n !== '' && !n.includes('/')),
      version: fc.constant('2026-01-01T00:00:00.000Z#img-1'),
      imageId: fc.constant('img-1'),
      createdAt: fc.constant('2026-01-01T00:00:00.000Z'),
      meta,
    });
    fc.assert(
      fc.property(item, (value) => {
        const withPath = { ...value, path: `/etc/${value.name}` } as CatalogItem;
        expect(fromCatalogDbItem(toCatalogDbItem(withPath))).toEqual(withPath);
        const { meta: _meta, ...identity } = withPath;
        const removed: CatalogItem = { ...identity, removed: true };
        expect(_meta).toBeDefined();
        expect(fromCatalogDbItem(toCatalogDbItem(removed))).toEqual(removed);
      }),
    );
  });
});
