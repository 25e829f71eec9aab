/**
 * `npm run bench [suite ...]`: runs the benchmark suites in bench/suites, prints a table and writes
 * bench/results.json. Figures, not pass/fail tests: goals are reported, never asserted.
 */
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchResult, BenchSuite } from './harness.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

async function loadSuites(only: readonly string[]): Promise<BenchSuite[]> {
  // Only the named suites' modules (each suite is named as its file): importing the others loads
  // what they import, such as the X-Ray SDK's async hooks, which slow every promise of the run.
  const files = (await readdir(path.join(here, 'suites')))
    .filter((f) => f.endsWith('.ts') && (only.length === 0 || only.includes(f.slice(0, -'.ts'.length))))
    .sort();
  const suites: BenchSuite[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(path.join(here, 'suites', file)).href)) as { suite: BenchSuite };
    if (only.length === 0 || only.includes(mod.suite.name)) suites.push(mod.suite);
  }
  return suites;
}

function printTable(results: readonly BenchResult[]): void {
  const rows = results.map((r) => [
    r.name,
    `${r.value} ${r.unit}`,
    r.baseline === undefined ? '' : `${r.baseline} ${r.unit}`,
    r.ratio === undefined ? '' : String(r.ratio),
    r.goal ?? '',
    r.met === undefined ? '' : r.met ? 'met' : 'MISSED',
  ]);
  const header = ['benchmark', 'value', 'baseline', 'ratio', 'goal', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

async function main(): Promise<void> {
  const suites = await loadSuites(process.argv.slice(2));
  const results: BenchResult[] = [];
  for (const suite of suites) {
    console.error(`bench: running ${suite.name}`);
    results.push(...(await suite.run()));
  }
  printTable(results);
  const out = {
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    date: new Date().toISOString(),
    results,
  };
  await writeFile(path.join(here, 'results.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(JSON.stringify(out));
}

await main();
