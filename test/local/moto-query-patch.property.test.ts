/**
 * moto_patch.py patch 9 (Query by key range over each partition's sorted keys) answers exactly as
 * moto's own Table.query: the same items in the same order, the same ScannedCount and the same
 * LastEvaluatedKey, for random partitions (string and number sort keys, small and large items,
 * deletes and re-puts between queries) and random Queries (every sort-key condition, Limit,
 * ScanIndexForward, ExclusiveStartKey inside, outside and past the partition). Both run in one
 * Python process (test/local/moto-query-oracle.py) on the same table. Patch 11 (Query answers as
 * JSON written directly) is checked through boto3 against moto's serializer
 * (test/local/moto-query-json-oracle.py).
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonInterpreter } from '../../local/moto/moto-server.ts';

const ORACLE = join(dirname(fileURLToPath(import.meta.url)), 'moto-query-oracle.py');
const JSON_ORACLE = join(dirname(fileURLToPath(import.meta.url)), 'moto-query-json-oracle.py');

interface OracleAnswer {
  readonly answers: readonly { moto: unknown; patched: unknown }[];
  readonly fast: number;
}

let child: ChildProcessWithoutNullStreams;
let lines: Interface;
const pending: ((line: string) => void)[] = [];

beforeAll(() => {
  child = spawn(pythonInterpreter(), [ORACLE], { stdio: ['pipe', 'pipe', 'pipe'] });
  lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => pending.shift()?.(line));
});

afterAll(() => {
  lines.close();
  child.kill();
});

function ask(testCase: unknown): Promise<OracleAnswer> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => reject(new Error(`oracle exited with ${code}: ${stderr}`)));
    pending.push((line) => resolve(JSON.parse(line) as OracleAnswer));
    child.stdin.write(`${JSON.stringify(testCase)}\n`);
  });
}

const stringKey = fc.stringMatching(/^[abc]{1,4}$/);
const numberKey = fc.oneof(fc.integer({ min: -20, max: 20 }), fc.constantFrom(1.5, -0.25, 100));

const caseArb = fc.constantFrom('S' as const, 'N' as const).chain((rangeType) => {
  const key: fc.Arbitrary<string | number> = rangeType === 'S' ? stringKey : numberKey;
  const pk = fc.constantFrom('p', 'q');
  const ops =
    rangeType === 'S'
      ? [null, '=', '<', '<=', '>', '>=', 'BETWEEN', 'BEGINS_WITH']
      : [null, '=', '<', '<=', '>', '>=', 'BETWEEN'];
  const query = fc
    .record({
      pk: fc.constantFrom('p', 'q', 'missing'),
      op: fc.constantFrom(...ops),
      values: fc.array(key, { minLength: 2, maxLength: 2 }),
      limit: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
      forward: fc.boolean(),
      esk: fc.option(fc.record({ pk, sk: key }), { nil: null, freq: 2 }),
    })
    .map((q) => ({
      ...q,
      values: q.op === null ? [] : q.op === 'BETWEEN' ? q.values : q.values.slice(0, 1),
    }));
  const item = fc.record({
    pk,
    sk: key,
    // Mostly small; sometimes a third of the 1 MB page limit, so pages also end on size.
    pad: fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 0, max: 50 }) },
      { weight: 1, arbitrary: fc.constant(330_000) },
    ),
  });
  return fc.record({
    rangeType: fc.constant(rangeType),
    items: fc.array(item, { maxLength: 40 }),
    deletes: fc.array(fc.record({ pk, sk: key }), { maxLength: 5 }),
    queries: fc.array(query, { minLength: 1, maxLength: 6 }),
  });
});

describe('moto Query by key range (moto_patch.py patch 9)', () => {
  it('answers every Query exactly as unpatched moto does', async () => {
    let fast = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async (testCase) => {
        const answer = await ask(testCase);
        fast += answer.fast;
        expect(answer.answers).toHaveLength(2 * testCase.queries.length);
        for (const { moto, patched } of answer.answers) expect(patched).toEqual(moto);
      }),
      { numRuns: 300 },
    );
    // The cases went through the bisection path, not moto's fallback.
    expect(fast).toBeGreaterThan(300);
  }, 300_000);

  it('pages through a partition with ExclusiveStartKey in both directions exactly as moto', async () => {
    const items = Array.from({ length: 25 }, (_, i) => ({
      pk: 'p',
      sk: `k${String(i).padStart(2, '0')}`,
      pad: i,
    }));
    const queries = [null, 'k05', 'k10', 'k24', 'k99'].flatMap((sk) =>
      [true, false].map((forward) => ({
        pk: 'p',
        op: 'BETWEEN',
        values: ['k03', 'k20'],
        limit: 4,
        forward,
        esk: sk === null ? null : { pk: 'p', sk },
      })),
    );
    const answer = await ask({ rangeType: 'S', items, deletes: [], queries });
    expect(answer.fast).toBe(2 * queries.length);
    for (const { moto, patched } of answer.answers) expect(patched).toEqual(moto);
  }, 60_000);

  it("writes Query answers (patch 11) that the SDK parses exactly as the ones of moto's serializer, for every attribute type", () => {
    const out = execFileSync(pythonInterpreter(), [JSON_ORACLE], { encoding: 'utf8', timeout: 120_000 });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ queries: 6, differences: [] });
  }, 180_000);
});
