/**
 * pageOfNamedList (the in-memory stores' page, and the order DynamoDB's name-keyed pages follow):
 * for any names and any limit, following the tokens lists every name once in UTF-8 byte order,
 * every page but the last full; names added or removed between pages never make a name that
 * stayed appear twice or go missing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StorePage } from '../../lambdas/core/api/api-ports.ts';
import { pageOfNamedList } from '../../lambdas/core/api/pagination.ts';

const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sorted = (names: Iterable<string>): { name: string }[] =>
  [...names].sort(byBytes).map((name) => ({ name }));

const namesArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6, unit: 'grapheme' }), {
  maxLength: 40,
});

describe('pageOfNamedList', () => {
  it('lists every name once, in UTF-8 byte order, every page but the last full', () => {
    fc.assert(
      fc.property(namesArb, fc.integer({ min: 1, max: 12 }), (names, limit) => {
        const records = sorted(names);
        const pages: StorePage<{ name: string }>[] = [];
        let pageToken: string | undefined;
        do {
          const page = pageOfNamedList(records, pageToken === undefined ? { limit } : { limit, pageToken });
          pages.push(page);
          pageToken = page.nextToken;
        } while (pageToken !== undefined && pages.length <= names.length + 1);
        expect(pages.flatMap((p) => p.items)).toEqual(records);
        pages.slice(0, -1).forEach((p) => expect(p.items).toHaveLength(limit));
        expect(pages.at(-1)!.items.length).toBeLessThanOrEqual(limit);
        expect(pages.at(-1)!.nextToken).toBeUndefined();
      }),
    );
  });

  it('with names added and removed between pages, every name that stayed is listed exactly once', () => {
    fc.assert(
      fc.property(
        namesArb,
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.boolean(), fc.string({ minLength: 1, maxLength: 6 })), { maxLength: 20 }),
        (names, limit, changes) => {
          const present = new Set(names);
          const stayed = new Set(names);
          const listed: string[] = [];
          let pageToken: string | undefined;
          let step = 0;
          do {
            const page = pageOfNamedList(
              sorted(present),
              pageToken === undefined ? { limit } : { limit, pageToken },
            );
            listed.push(...page.items.map((r) => r.name));
            pageToken = page.nextToken;
            // One change between pages: remove a name, or add one.
            const change = changes[step];
            step += 1;
            if (change !== undefined) {
              const [add, name] = change;
              if (add) {
                present.add(name);
              } else {
                present.delete(name);
                stayed.delete(name);
              }
            }
          } while (pageToken !== undefined && step <= names.length + changes.length + 1);
          expect(pageToken).toBeUndefined();
          // In order, no duplicates.
          expect(listed).toEqual(
            [...listed].sort(byBytes).filter((n, i, all) => i === 0 || all[i - 1] !== n),
          );
          for (const name of stayed) expect(listed.filter((n) => n === name)).toEqual([name]);
        },
      ),
    );
  });
});
